"""Brunel (2000), model A in the AI regime: specs/brunel.snn on the NumPy target against the
hand-written NumPy model of the same network (benchmarks/brunel_reference.py).

    python benchmarks/brunel.py                    # N_E = 8000, N_I = 2000, 1 s, dt = 0.1 ms
    python benchmarks/brunel.py --duration 0.3     # shorter
    python benchmarks/brunel.py --scale 0.125      # N_E = 1000, N_I = 250 (indegrees and drive kept)

Prints, for each implementation, the mean firing rate of each population and the mean CV of
the interspike intervals (both after the first 100 ms), and the CPU time of the simulation
(one run each; the package's build and the reference's connectivity are counted apart). The two
use independent random numbers, so they agree in statistics, not spike for spike.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from brunel_reference import rates_and_cv, simulate  # noqa: E402


def spec_text(n_exc: int, n_inh: int, duration: float, seed: int) -> str:
    """specs/brunel.snn with other sizes and duration (indegrees, weights and drive as written)."""
    text = (ROOT / "specs" / "brunel.snn").read_text(encoding="utf-8")
    for old, new in (("BrunelLIF(8000)", f"BrunelLIF({n_exc})"), ("BrunelLIF(2000)", f"BrunelLIF({n_inh})"),
                     ("duration = 1 s", f"duration = {duration * 1e3:g} ms"), ("seed = 1", f"seed = {seed}")):
        assert old in text, old
        text = text.replace(old, new)
    return text


def run_snnlang(n_exc: int, n_inh: int, duration: float, seed: int):
    from snnlang.build import build

    folder = Path(tempfile.mkdtemp(prefix="brunel_"))
    spec = folder / "brunel.snn"
    spec.write_text(spec_text(n_exc, n_inh, duration, seed), encoding="utf-8")
    t0 = time.perf_counter()
    build(spec, folder / "brunel_pkg", target="numpy")
    sys.path.insert(0, str(folder))
    module = importlib.import_module("brunel_pkg")
    net = module.Network()
    built = time.perf_counter() - t0
    t0 = time.process_time()
    net.run()
    run_s = time.process_time() - t0
    return net.spikes("exc"), net.spikes("inh"), built, run_s


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1.0, help="model time in seconds (default 1)")
    parser.add_argument("--scale", type=float, default=1.0, help="population sizes times this (default 1: 8000 + 2000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n_exc, n_inh = int(round(8000 * args.scale)), int(round(2000 * args.scale))

    (te, ie), (ti, ii), built, ours_s = run_snnlang(n_exc, n_inh, args.duration, args.seed)
    t0 = time.process_time()
    times, indices = simulate(n_exc=n_exc, n_inh=n_inh, duration=args.duration, seed=args.seed)
    ref_s = time.process_time() - t0
    exc, inh = indices < n_exc, indices >= n_exc

    print(f"Brunel (2000) model A, AI regime: N_E = {n_exc}, N_I = {n_inh}, {args.duration:g} s at dt = 0.1 ms")
    print(f"{'':24}{'rate exc':>10}{'rate inh':>10}{'CV exc':>8}{'CV inh':>8}{'CPU s':>8}")
    for name, e, i, seconds in (
            ("snnlang (numpy target)", rates_and_cv(te, ie, n_exc, args.duration), rates_and_cv(ti, ii, n_inh, args.duration),
             ours_s),
            ("hand-written NumPy", rates_and_cv(times[exc], indices[exc], n_exc, args.duration),
             rates_and_cv(times[inh], indices[inh] - n_exc, n_inh, args.duration), ref_s)):
        print(f"{name:24}{e[0]:>9.2f} {i[0]:>9.2f} {e[1]:>7.3f} {i[1]:>7.3f} {seconds:>7.2f}")
    print(f"(snnlang's build, cold, and its connectivity: {built:.2f} s wall; rates in Hz after the first 100 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
