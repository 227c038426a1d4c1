#!/usr/bin/env python3
"""How long ``snnlang check`` takes on each spec, beyond starting Python.

Runs ``python -m snnlang check SPEC`` in a fresh interpreter N times per spec, keeps the
best run, and subtracts the best time of a bare ``python -c pass``. Two figures per spec:
wall-clock time (what a user waits) and CPU time (user + system time of the child, which
other work on a busy machine inflates much less). Runs are interleaved (one round over
every command, N rounds) so that a burst of load elsewhere hits all commands alike.
The target is under 0.5 s beyond interpreter start.

``--breakdown`` also times the imports the check cannot do without (SymPy, the model
classes, Lark; pydantic loads only for ``schema`` and ``--emit-ir``), to show how much of
the figure is the front end's own.

``--large`` times instead generated specs of many lines, to show that the check is linear
in the length of a spec: ``connect`` lines (one network, one anonymous synapse each, a
probability and a weight of its own each) and ``parameters`` lines (one neuron with one
parameter a line, each a quantity of its own). No two generated lines are alike.
It prints the time per line and the ratio of each size's time to the smallest size's,
against the ratio of their lengths (linear: equal). The target is 1e5 lines under 5 s.

    python benchmarks/check_time.py [-n 7] [--breakdown] [SPEC...]    # default: specs/*.snn
    python benchmarks/check_time.py --large [--sizes 10000,100000] [--kinds connect,parameters]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 0.5

BREAKDOWN = {
    "import sympy": "import sympy",
    "+ the IR classes (no pydantic)": "import sympy, snnlang.frontend.model",
    "+ lark": "import sympy, snnlang.frontend.model, lark",
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


# ---- large generated specs (--large) ---------------------------------------------------------------

def connect_lines(n: int) -> str:
    """A network of one population and ``n`` connect lines between it and itself: each line a
    connection with its own anonymous synapse (named a_a, a_a_2, ... a_a_n), and no two lines
    alike: each has a probability and a weight of its own (``p = 0.3000042``, ``0.50042 nA``),
    so that nothing keyed on the text of a line can do the work once for all of them."""
    lines = ['import "lif.snn"', "network many {", "    population a = LIF(10)"]
    lines += [f"    connect a -> a {{ p = {0.3 + k * 1e-7:.7f}; on_pre: I_syn_post += {0.5 + k * 1e-5:.5f} nA }}"
              for k in range(n)]
    lines += ["}", "simulate many { dt = 0.1 ms; duration = 10 ms }"]
    return "\n".join(lines) + "\n"


UNITS = ("mV", "ms", "nA", "Hz", "pF", "nS")


def parameter_lines(n: int) -> str:
    """A neuron with ``n`` parameters, one a line, each a quantity of its own: no two values
    alike, and the units taken in turn (p0 = 1.0 mV, p1 = 2.1 ms, p2 = 3.2 nA, ...)."""
    lines = ["neuron Many {", "    parameters {"]
    lines += [f"        p{k} = {k + 1}.{k % 10} {UNITS[k % len(UNITS)]}" for k in range(n)]
    lines += ["    }", "    state { v = 0 mV }", "    equations { dv/dt = -v / (10 ms) }", "}"]
    return "\n".join(lines) + "\n"


LARGE = {"connect": connect_lines, "parameters": parameter_lines}


def large(sizes: list[int], kinds: list[str], repeat: int) -> int:
    """Time ``snnlang check`` on generated specs of each size, beyond the check of the same spec
    with one line (starting Python, importing the compiler); print per-line times and the ratio
    to the smallest size (a linear check: the ratio of the sizes)."""
    python = sys.executable
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"snnlang check of generated specs ({os.cpu_count()} CPUs, load {load:.1f}; best of {repeat}); "
          "times beyond the check of the same spec with one line")
    print(f"{'spec':<22} {'lines':>8} {'wall s':>8} {'cpu s':>8} {'us/line':>8} {'ratio':>7} {'linear':>7} "
          f"{'total s':>8}  status")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="snnlang-check-time-") as folder:
        for kind in kinds:
            commands = {}
            for n in [1] + sorted(sizes):
                spec = Path(folder) / f"{kind}_{n}.snn"
                spec.write_text(LARGE[kind](n), encoding="utf-8")
                commands[n] = [python, "-m", "snnlang", "check", str(spec)]
            run_once(commands[1])  # warm the caches (.pyc, Lark's grammar)
            results = best_of_interleaved(commands, repeat)
            base_wall, base_cpu, _ = results.pop(1)
            first = None
            for n, (total, cpu, rc) in results.items():
                wall, cpu = total - base_wall, cpu - base_cpu
                first = first or (n, cpu)
                ratio, linear = cpu / first[1], n / first[0]
                if n >= 100_000:
                    worst = max(worst, wall * 100_000 / n)
                print(f"{kind + '_' + str(n) + '.snn':<22} {n:>8} {wall:8.2f} {cpu:8.2f} {cpu / n * 1e6:8.1f} "
                      f"{ratio:7.2f} {linear:7.1f} {total:8.2f}  " + ("ok" if rc == 0 else f"exit {rc}"))
    if worst:
        print(f"slowest at 1e5 lines: {worst:.2f} s wall (target 5 s)")
    print("ratio: CPU time against the smallest size's; linear: the ratio a linear check has; "
          "total: the whole command's wall time, Python's start included")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", type=Path)
    parser.add_argument("-n", "--repeat", type=int, default=None,
                        help="runs per command; the best counts (default 7, with --large 1)")
    parser.add_argument("--breakdown", action="store_true", help="also time the imports the check needs")
    parser.add_argument("--large", action="store_true", help="time generated specs of many lines instead (linearity)")
    parser.add_argument("--sizes", default="10000,100000", help="with --large: lines per spec (default 10000,100000)")
    parser.add_argument("--kinds", default=",".join(LARGE), help=f"with --large: which specs ({', '.join(LARGE)})")
    args = parser.parse_args(argv)
    if args.large:
        sizes = [int(float(s)) for s in args.sizes.split(",") if s]
        kinds = [k for k in args.kinds.split(",") if k]
        unknown = [k for k in kinds if k not in LARGE]
        if unknown or not sizes or min(sizes) < 1:
            parser.error(f"--kinds from {', '.join(LARGE)}; --sizes positive numbers of lines")
        return large(sizes, kinds, args.repeat or 1)
    args.repeat = args.repeat or 7
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
