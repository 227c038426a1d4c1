"""Steps per second of the Lava target in Lava's CPU simulator, beside the NumPy target, same spec.

    python benchmarks/lava_speed.py [--sizes 100 1000 10000] [--steps 200] [--lava-python PATH]

The spec (SPEC below) is a population of N LIF neurons with current synapses,
driven by 100 Poisson inputs (10 synapses per neuron) and recurrently connected
(20 synapses per neuron), at dt = 0.5 ms. For each N it is built for both targets;
the NumPy package runs here, the Lava package under Lava's Python 3.10
interpreter (``--lava-python``, default $SNNLANG_LAVA_PYTHON), with both process
model tags. Lava is timed after a warm-up run of 20 steps (which includes Lava's
compilation and process start-up); the spike recorder runs in every configuration,
as the NumPy target's spike monitor does. Each configuration runs ``--repeat`` times and
the fastest counts. Prints a Markdown table (benchmarks/LAVA.md).
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

SPEC = """
import "lif.snn"

network bench {{
    input x = poisson(100, rate = 20 Hz)
    population cells = LIF({n}) {{ I_ext = 1.4 nA }}
    connect x -> cells {{ indegree = 10; w = uniform(0, 1); on_pre: I_syn_post += w * nA }}
    connect cells -> cells {{ indegree = 20; w = uniform(0, 0.4); on_pre: I_syn_post += w * nA }}
    monitor spikes of cells
}}

simulate bench {{ dt = 0.5 ms; steps = 1000; seed = 1 }}
"""

CHILD = r"""
import importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
if __name__ == "__main__":
    pkg = importlib.import_module(sys.argv[2])
    tag, steps, warm = sys.argv[3], int(sys.argv[4]), 20
    start = time.perf_counter()
    graph = pkg.build_network(tag=tag)
    built = time.perf_counter()
    try:
        graph.run(warm)
        warmed = time.perf_counter()
        graph.run(steps)
        ran = time.perf_counter()
    finally:
        graph.stop()
    spikes = len(graph.spikes("cells")[0])
    print(json.dumps({"build_s": built - start, "warmup_s": warmed - built, "run_s": ran - warmed,
                      "steps_per_s": steps / (ran - warmed), "spikes": spikes}))
"""


def numpy_speed(package_dir: Path, steps: int) -> dict:
    sys.path.insert(0, str(package_dir.parent))
    try:
        module = __import__(package_dir.name)
        net = module.Network()
        net.run(steps=20)  # warm-up, as for Lava
        start = time.perf_counter()
        net.run(steps=steps)
        elapsed = time.perf_counter() - start
        return {"run_s": elapsed, "steps_per_s": steps / elapsed, "spikes": len(net.spikes("cells")[0])}
    finally:
        sys.path.remove(str(package_dir.parent))


def lava_speed(python: str, package_dir: Path, tag: str, steps: int) -> dict:
    proc = subprocess.run([python, "-c", CHILD, str(package_dir.parent), package_dir.name, tag, str(steps)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--steps", type=int, default=200, help="timed steps (after 20 of warm-up)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration; the fastest counts")
    parser.add_argument("--lava-python", default=os.environ.get("SNNLANG_LAVA_PYTHON"))
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if not args.lava_python:
        parser.error("give --lava-python or set SNNLANG_LAVA_PYTHON (a Python 3.10 with lava-nc)")
    from snnlang.build import build

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for n in args.sizes:
            spec = tmp / f"bench{n}.snn"
            spec.write_text(SPEC.format(n=n))
            build(spec, tmp / f"lava{n}", target="lava")
            build(spec, tmp / f"numpy{n}", target="numpy")
            best = lambda runs: max(runs, key=lambda r: r["steps_per_s"])  # noqa: E731 (others share the machine)
            row = {"n": n, "numpy": best([numpy_speed(tmp / f"numpy{n}", args.steps) for _ in range(args.repeat)])}
            for tag in ("floating_pt", "fixed_pt"):
                row[tag] = best([lava_speed(args.lava_python, tmp / f"lava{n}", tag, args.steps)
                                 for _ in range(args.repeat)])
            rows.append(row)
            print(f"N = {n}: " + ", ".join(f"{k} {v['steps_per_s']:.0f} steps/s ({v['spikes']} spikes)"
                                          for k, v in row.items() if k != "n"), file=sys.stderr)
    print(f"| neurons | NumPy target | Lava floating_pt | Lava fixed_pt | Lava start-up (build + 20 steps) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        fp, xp = r["floating_pt"], r["fixed_pt"]
        print(f"| {r['n']} | {r['numpy']['steps_per_s']:.0f} | {fp['steps_per_s']:.0f} | {xp['steps_per_s']:.0f} | "
              f"{fp['build_s'] + fp['warmup_s']:.1f} s |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
