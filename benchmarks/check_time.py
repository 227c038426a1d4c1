#!/usr/bin/env python3
"""How long ``snnlang check`` takes on each spec, beyond starting Python.

Runs ``python -m snnlang check SPEC`` in a fresh interpreter N times per spec, keeps the
best run, and subtracts the best time of a bare ``python -c pass``. Two figures per spec:
wall-clock time (what a user waits) and CPU time (user + system time of the child, which
other work on a busy machine inflates much less). Runs are interleaved (one round over
every command, N rounds) so that a burst of load elsewhere hits all commands alike.
The target is under 0.5 s beyond interpreter start.

``--breakdown`` also times the imports the check cannot do without (SymPy, pydantic and
the model classes, Lark), to show how much of the figure is the front end's own.

    python benchmarks/check_time.py [-n 7] [--breakdown] [SPEC...]    # default: specs/*.snn
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5

BREAKDOWN = {
    "import sympy": "import sympy",
    "+ pydantic, the IR classes": "import sympy, snnlang.model",
    "+ lark": "import sympy, snnlang.model, lark",
    "+ the front end's modules": "import snnlang.frontend",
}


def run_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit status of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def best_of_interleaved(commands: dict[str, list[str]], n: int) -> dict[str, tuple[float, float, int]]:
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for _ in range(n):
        for name, argv in commands.items():
            runs[name].append(run_once(argv))
    return {name: (min(r[0] for r in rs), min(r[1] for r in rs), rs[-1][2]) for name, rs in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path)
    parser.add_argument("-n", "--repeat", type=int, default=7, help="runs per command; the best counts (default 7)")
    parser.add_argument("--breakdown", action="store_true", help="also time the imports the check needs")
    args = parser.parse_args(argv)
    specs = [p.resolve() for p in args.specs] or sorted((ROOT / "specs").glob("*.snn"))

    python = sys.executable
    run_once([python, "-m", "snnlang", "check", str(specs[0])])  # warm the caches (.pyc, Lark's grammar)
    commands = {"python -c pass": [python, "-c", "pass"]}
    if args.breakdown:
        commands |= {label: [python, "-c", code] for label, code in BREAKDOWN.items()}
    commands |= {os.path.relpath(spec, ROOT): [python, "-m", "snnlang", "check", str(spec)] for spec in specs}
    results = best_of_interleaved(commands, args.repeat)

    base_wall, base_cpu, _ = results.pop("python -c pass")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python -c pass: wall {base_wall:.3f} s, cpu {base_cpu:.3f} s (best of {args.repeat}; "
          f"{os.cpu_count()} CPUs, load {load:.1f}); figures below are beyond it")
    print(f"{'command':<34} {'wall s':>8} {'cpu s':>8}  status")
    worst_wall = worst_cpu = 0.0
    for name, (wall, cpu, rc) in results.items():
        extra_wall, extra_cpu = wall - base_wall, cpu - base_cpu
        is_spec = name not in BREAKDOWN
        if is_spec:
            worst_wall, worst_cpu = max(worst_wall, extra_wall), max(worst_cpu, extra_cpu)
        status = ("ok" if rc == 0 else f"exit {rc}") if is_spec else "(import only)"
        print(f"{name:<34} {extra_wall:8.3f} {extra_cpu:8.3f}  {status}")
    verdict = "within" if worst_wall < TARGET_S else "OVER"
    print(f"slowest check: {worst_wall:.3f} s wall, {worst_cpu:.3f} s cpu beyond interpreter start "
          f"(wall {verdict} the {TARGET_S} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
