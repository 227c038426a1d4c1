#!/usr/bin/env python3
"""How long ``snnlang check`` takes on each spec, beyond starting Python.

Runs ``python -m snnlang check SPEC`` in a fresh interpreter, N times per spec,
keeps the best run, and subtracts the best time of a bare ``python -c pass``.
Two figures per spec: wall-clock time (what a user waits) and CPU time
(user + system of the child, which a busy machine does not inflate).
The target is under 0.5 s beyond interpreter start.

    python benchmarks/check_time.py [-n 7] [SPEC...]      # default: specs/*.snn
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


def run_once(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit status of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def best_of(argv: list[str], n: int) -> tuple[float, float, int]:
    runs = [run_once(argv) for _ in range(n)]
    return min(r[0] for r in runs), min(r[1] for r in runs), runs[-1][2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path)
    parser.add_argument("-n", "--repeat", type=int, default=7, help="runs per spec; the best counts (default 7)")
    args = parser.parse_args(argv)
    specs = args.specs or sorted((ROOT / "specs").glob("*.snn"))

    python = sys.executable
    best_of([python, "-m", "snnlang", "check", str(specs[0])], 1)  # warm the caches (.pyc, Lark's grammar)
    base_wall, base_cpu, _ = best_of([python, "-c", "pass"], args.repeat)
    print(f"python -c pass: wall {base_wall:.3f} s, cpu {base_cpu:.3f} s (best of {args.repeat}); "
          f"figures below are beyond it")
    print(f"{'spec':<32} {'wall s':>8} {'cpu s':>8}  status")
    worst = 0.0
    for spec in specs:
        wall, cpu, rc = best_of([python, "-m", "snnlang", "check", str(spec)], args.repeat)
        extra_wall, extra_cpu = wall - base_wall, cpu - base_cpu
        worst = max(worst, extra_wall)
        name = os.path.relpath(spec, ROOT) if Path(spec).is_absolute() else str(spec)
        print(f"{name:<32} {extra_wall:8.3f} {extra_cpu:8.3f}  {'ok' if rc == 0 else f'exit {rc}'}")
    verdict = "within" if worst < TARGET_S else "OVER"
    print(f"slowest: {worst:.3f} s wall beyond interpreter start ({verdict} the {TARGET_S} s target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
