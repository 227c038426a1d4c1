"""Izhikevich's (2003) 1000-neuron network (specs/izhikevich_network.snn: 1e6 all-to-all
synapses, the paper's half steps at 1 ms, 1 s): the NumPy target, the native target (--target c) at 1 and 2
threads, and Brian2's cpp_standalone (its own loop timer) in one run.

    python benchmarks/izhikevich.py [--repeat 5] [--brian2 /tmp/b2venv/bin/python]

Each snnlang figure is the best of --repeat runs of ``Network().run()`` (the loop; building
the network is not timed); the spikes of the c package are compared with the NumPy package's.
Brian2 draws its own random numbers: its rates, printed beside, show the same regime.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SPEC = ROOT / "specs" / "izhikevich_network.snn"


def best_run(Network, repeat: int, **kwargs) -> tuple[float, object]:
    best, net = float("inf"), None
    for _ in range(repeat):
        net = Network(**kwargs)
        start = time.perf_counter()
        net.run()
        best = min(best, time.perf_counter() - start)
    return best, net


def rates(net) -> dict:
    seconds = net.step * net.dt
    return {pop: len(net.spikes(pop)[0]) / n / seconds for pop, n in (("exc", 800), ("inh", 200))}


def same_spikes(a, b) -> bool:
    return all(np.array_equal(x, y) for pop in ("exc", "inh") for x, y in zip(a.spikes(pop), b.spikes(pop)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--brian2", metavar="PYTHON", help="a Python with brian2: adds cpp_standalone at 1 and 2 threads")
    args = ap.parse_args(argv)
    import snnlang

    print(f"{SPEC.name}: 1000 neurons, 1e6 synapses, 1000 steps of 1 ms; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    numpy_s, ref = best_run(snnlang.compile(SPEC, target="numpy"), args.repeat)
    rows.append(("snnlang numpy", numpy_s, rates(ref), ""))
    Native = snnlang.compile(SPEC, target="c")
    for threads in (1, 2):
        seconds, net = best_run(Native, args.repeat, threads=threads)
        rows.append((f"snnlang c, {threads} thread{'s' * (threads > 1)}", seconds, rates(net),
                     "spikes identical to numpy" if same_spikes(net, ref) else "SPIKES DIFFER from numpy"))
    if args.brian2:
        for threads in (1, 2):
            out = subprocess.run([args.brian2, str(ROOT / "benchmarks" / "brian2_izhikevich.py"), "--threads",
                                  str(threads)], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append((f"Brian2 cpp_standalone, {threads} thread{'s' * (threads > 1)}", r["run_s"],
                         {"exc": r["exc_hz"], "inh": r["inh_hz"]}, f"(compile and run {r['build_s']:.0f} s)"))
    print(f"{'':38s} {'loop s':>8s} {'vs numpy':>9s} {'exc Hz':>7s} {'inh Hz':>7s}")
    for name, seconds, hz, note in rows:
        print(f"{name:38s} {seconds:8.3f} {numpy_s / seconds:8.2f}x {hz['exc']:7.2f} {hz['inh']:7.2f}  {note}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
