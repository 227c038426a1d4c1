"""What STDP costs on the native CPU target (--target c), against the NumPy target and Brian2.

    python benchmarks/native_stdp.py [--repeat 5] [--seconds 1]
    python benchmarks/native_stdp.py --brian2 /tmp/b2venv/bin/python   # + Brian2 cpp_standalone

The network of issue 13: 1000 Poisson inputs at 10 Hz onto 100 conductance-based LIF neurons,
all-to-all (100 000 synapses), dt = 0.1 ms, 1 s of model time; built twice from spec text,
with pair STDP (the standard library's ``STDP``: traces decayed on read, weights clipped to
[0, w_max]) and with static synapses (``Static``, the same initial weights). In one run, for
each: the NumPy package and the c package (one thread), best of --repeat runs of
``Network.run()`` (building the network is not timed), the STDP cost over static on each
target (the goal is at most 1.3x on the c target), and whether the two targets give the
same spikes and the same final weights. With --brian2, Brian2's cpp_standalone of the same
network (benchmarks/brian2_stdp.py, one process per configuration: its own loop timer,
compile excluded; a cold compile takes about half a minute each). The load average is
printed with the figures: this is a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from brian2_stdp import W_MAX  # noqa: E402  (the same initial weights and amplitudes)

NEURON = """
neuron BenchLIF {
    parameters { tau_m = 20 ms; E_l = -70 mV; E_ex = 0 mV; v_th = -54 mV; v_reset = -60 mV; tau_ex = 5 ms }
    state { v = uniform(-60 mV, -54 mV); g_ex = 0 }
    equations {
        dv/dt = (E_l - v + g_ex * (E_ex - v)) / tau_m
        dg_ex/dt = -g_ex / tau_ex
    }
    spike when v >= v_th
    reset { v = v_reset }
}
"""


def spec_text(plastic: bool, seconds: float) -> str:
    weights = f"all_to_all; w = uniform(0, {W_MAX})"
    rule = (f"using STDP {{ {weights}; w_max = {W_MAX}; A_plus = {0.005 * W_MAX}; A_minus = {0.00525 * W_MAX}; "
            "on_pre: g_ex_post += w }") if plastic else f"using Static {{ {weights}; on_pre: g_ex_post += w }}"
    return f"""import "stdp.snn"
import "static.snn"
{NEURON}
network stdp_bench {{
    input inputs = poisson(1000, rate = 10 Hz)
    population cells = BenchLIF(100)
    connect inputs -> cells {rule}
    monitor spikes of cells
}}

simulate stdp_bench {{ dt = 0.1 ms; duration = {seconds} s; seed = 1 }}
"""


def package(spec: Path, out: Path, target: str):
    from snnlang.backends.c import compile_package
    from snnlang.build import build
    from snnlang.driver import import_package

    build(spec, out, target)
    if target == "c":
        compile_package(out)
    return import_package(out, f"bench_{out.name}")


def best_run(module, repeat: int, **kwargs):
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        net = module.Network(**kwargs)
        wall, cpu = time.perf_counter(), time.process_time()
        net.run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, net


def brian2(python: str, plastic: bool, seconds: float) -> dict | None:
    command = [python, str(HERE / "brian2_stdp.py"), "--seconds", str(seconds)] + ([] if plastic else ["--static"])
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=900)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.0, help="model time per run")
    ap.add_argument("--brian2", metavar="PYTHON", help="a Python with brian2 (cpp_standalone timings)")
    args = ap.parse_args(argv)
    print(f"STDP network: 1000 Poisson (10 Hz) -> 100 LIF, all-to-all, dt = 0.1 ms, {args.seconds:g} s; "
          f"best of {args.repeat}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times, nets = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for plastic in (False, True):
            kind = "stdp" if plastic else "static"
            spec = folder / f"bench_{kind}.snn"
            spec.write_text(spec_text(plastic, args.seconds))
            for target, kwargs in (("numpy", {}), ("c", {"threads": 1})):
                module = package(spec, folder / f"{kind}_{target}", target)
                wall, cpu, net = best_run(module, args.repeat, **kwargs)
                times[kind, target], nets[kind, target] = (wall, cpu), net
                print(f"  {kind:6s} {target:5s} {wall:.4f} s wall, {cpu:.4f} s CPU  "
                      f"({len(net.spikes('cells')[0])} spikes, {net.synops} synaptic events)", flush=True)
        for kind in ("static", "stdp"):
            a, b = nets[kind, "numpy"], nets[kind, "c"]
            same = all(np.array_equal(x, y) for x, y in zip(a.spikes("cells"), b.spikes("cells")))
            same_w = np.array_equal(a.state["inputs_cells_w"], b.state["inputs_cells_w"])
            print(f"  {kind}: numpy / c = {times[kind, 'numpy'][0] / times[kind, 'c'][0]:.1f}x; spikes "
                  f"{'identical' if same else 'DIFFER'}, final weights {'identical' if same_w else 'DIFFER'}")
        for target in ("numpy", "c"):
            ratio = times["stdp", target][0] / times["static", target][0]
            ratio_cpu = times["stdp", target][1] / times["static", target][1]
            print(f"  STDP / static on {target}: {ratio:.2f}x wall, {ratio_cpu:.2f}x CPU")
    if args.brian2:
        runs = {kind: brian2(args.brian2, kind == "stdp", args.seconds) for kind in ("static", "stdp")}
        if None in runs.values():
            print("  brian2: no result (is brian2 installed in that Python, with a C++ compiler?)")
        else:
            for kind, r in runs.items():
                c_wall = times[kind, "c"][0]
                print(f"  brian2 {r['brian2']} cpp_standalone {kind:6s} {r['run_s']:.4f} s (its loop timer; "
                      f"{r['spikes']} spikes; compile and run {r['build_s']:.1f} s); "
                      f"brian2 / c = {r['run_s'] / c_wall:.2f}x")
            print(f"  STDP / static on brian2: {runs['stdp']['run_s'] / runs['static']['run_s']:.2f}x")
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
