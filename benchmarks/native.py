"""The native CPU target (--target c) against the NumPy target, and Brian2's cpp_standalone.

    python benchmarks/native.py                           # N = 1k, 4k, 16k, 64k, 256k; 1 s of CUBA at in-degree 80
    python benchmarks/native.py --sizes 4000 --repeat 3
    python benchmarks/native.py --brian2 /tmp/b2venv/bin/python   # adds cpp_standalone (1 and 2 threads)
    python benchmarks/native.py --memory --float32        # peak RSS per neuron / synapse; precision = float32
    python benchmarks/native.py --build                   # cold build + compile, and the cached rebuild

In one run, for each size: the NumPy package and the c package (1 and 2 threads) simulate the
same network (the spec of benchmarks/cuba.py, in-degree ~80), best of --repeat runs of
``Network.run(1 s)`` (the loop; building the network is not timed), their ratios, and whether
the spikes are identical. Brian2's figure is its own timer of the compiled loop
(benchmarks/brian2_cuba.py --standalone: compile and network construction excluded).
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
sys.path.insert(0, str(HERE))

from cuba import spec_text  # noqa: E402  (benchmarks/cuba.py: the CUBA spec at a given size)


def package(spec: Path, out: Path, target: str):
    from snnlang.backends.c import compile_package
    from snnlang.build import build
    from snnlang.driver import import_package

    build(spec, out, target)
    if target == "c":
        compile_package(out)
    return import_package(out, f"bench_{out.name}")


def best_run(module, repeat: int, **kwargs) -> tuple[float, tuple, int]:
    """The best time of ``repeat`` runs of 1 s, the spikes, and the number of synapses."""
    best = float("inf")
    for _ in range(repeat):
        net = module.Network(seed=1, **kwargs)
        start = time.perf_counter()
        net.run(duration=1.0)
        best = min(best, time.perf_counter() - start)
    synapses = sum(v.size for k, v in net.state.items() if k.endswith("_post") and v.dtype.kind == "i")
    return best, net.spikes("cells"), synapses


def brian2(python: str, n: int, threads: int, memory: bool = False) -> dict | None:
    """benchmarks/brian2_cuba.py --standalone in a fresh process: its JSON line (run_s, peak_rss), or None."""
    try:
        out = subprocess.run([python, str(HERE / "brian2_cuba.py"), "--standalone", "--N", str(n),
                              "--threads", str(threads)] + (["--memory"] if memory else []),
                             capture_output=True, text=True, timeout=900)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, KeyError):
        return None


def peak_rss(package: Path) -> int:
    """Peak resident memory (bytes) of a fresh process that imports the c package, builds the
    network (the NumPy target's builders) and runs 1 s on one thread. VmHWM, not ru_maxrss
    (Linux carries the parent's into a child's ru_maxrss)."""
    code = (f"import sys; sys.path.insert(0, {str(package.parent)!r}); import {package.name} as m; "
            "m.Network(seed=1, threads=1).run(duration=1.0); "
            "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) * 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def float32_package(spec: Path, out: Path):
    """The c package at precision = float32 (snnlang.plan.build.PRECISION, as --precision sets it)."""
    import dataclasses

    from snnlang.backends import TARGETS
    from snnlang.plan.build import PRECISION

    if "float32" not in TARGETS["c"].precisions:  # until the registry lists it (docs/native.md)
        TARGETS["c"] = dataclasses.replace(TARGETS["c"], precisions=TARGETS["c"].precisions + ("float32",))
    token = PRECISION.set("float32")
    try:
        return package(spec, out, "c")
    finally:
        PRECISION.reset(token)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def build_times(folder: Path) -> None:
    """Cold: build and compile CUBA (N = 4000) with an empty cache; cached: the same spec again."""
    code = ("import sys, time; sys.path.insert(0, {root!r}); t = time.perf_counter(); "
            "from snnlang.driver import package; package({spec!r}, 'c'); print(time.perf_counter() - t)")
    spec = str(ROOT / "specs" / "cuba.snn")
    env = dict(os.environ, SNNLANG_CACHE=str(folder / "cache"))
    for label in ("cold build + compile (empty cache)", "cached rebuild (the same spec again)"):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code.format(root=str(ROOT), spec=spec)], env=env,
                             capture_output=True, text=True, check=True)
        whole = time.perf_counter() - start
        print(f"  {label}: {float(out.stdout):.2f} s in snnlang.driver.package, {whole:.2f} s for the whole process")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000, 64000, 256000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--brian2", metavar="PYTHON", help="a Python with brian2 (cpp_standalone timings)")
    ap.add_argument("--float32", action="store_true", help="also the c package at precision = float32 (1 thread)")
    ap.add_argument("--memory", action="store_true",
                    help="peak RSS of the c package (and of the cpp_standalone binary, with --brian2) at each size")
    ap.add_argument("--build", action="store_true", help="only the build times")
    args = ap.parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.build:
            print("CUBA (N = 4000) build times, --target c:")
            build_times(folder)
            return 0
        print(f"CUBA, 1 s of model time (dt = 0.1 ms), in-degree ~80; best of {args.repeat}; cores: {os.cpu_count()}; "
              f"load average {load()}")
        header = f"{'N':>7} {'numpy':>8} {'c 1t':>8} {'c 2t':>8} {'np/c1':>6}"
        if args.brian2:
            header += f" {'b2 1t':>8} {'b2 2t':>8} {'b2/c1':>6} {'b2/c2':>6}"
        if args.float32:
            header += f" {'c32 1t':>8}"
        print(header + "  spikes (load)")
        memory = []
        for n in args.sizes:
            spec = folder / f"cuba_{n}.snn"
            spec.write_text(spec_text(n, scaling=True))
            np_pkg = package(spec, folder / f"np_{n}", "numpy")
            c_pkg = package(spec, folder / f"c_{n}", "c")
            t_np, (ta, ia), synapses = best_run(np_pkg, args.repeat)
            t_c1, (tb, ib), _ = best_run(c_pkg, args.repeat, threads=1)
            t_c2, (tc, ic), _ = best_run(c_pkg, args.repeat, threads=2)
            same = all(np.array_equal(x, y) for x, y in ((ta, tb), (ia, ib), (tb, tc), (ib, ic)))
            line = f"{n:>7} {t_np:8.3f} {t_c1:8.3f} {t_c2:8.3f} {t_np / t_c1:6.2f}"
            b2 = {}
            if args.brian2:
                b2 = {threads: brian2(args.brian2, n, threads, memory=args.memory and threads == 1) for threads in (1, 2)}
                b1, b2t = (b2[k]["run_s"] if b2[k] else None for k in (1, 2))
                cell = lambda x: f"{x:8.3f}" if x is not None else f"{'-':>8}"  # noqa: E731
                ratio = lambda x, y: f"{x / y:6.2f}" if x is not None else f"{'-':>6}"  # noqa: E731
                line += f" {cell(b1)} {cell(b2t)} {ratio(b1, t_c1)} {ratio(b2t, t_c2)}"
            extra = ""
            if args.float32:
                f32 = float32_package(spec, folder / f"c32_{n}")
                t_32, (td, _), _ = best_run(f32, args.repeat, threads=1)
                line += f" {t_32:8.3f}"
                extra = f", float32 {len(td)} ({100 * (len(td) - len(ta)) / max(len(ta), 1):+.1f} %)"
            print(line + f"  {len(ta)} {'identical' if same else 'DIFFER'}{extra} ({load()})", flush=True)
            if args.memory:
                b2_peak = b2.get(1, {}).get("peak_rss") if b2.get(1) else None
                memory.append((n, synapses, peak_rss(folder / f"c_{n}"), b2_peak))
        if memory:
            print_memory(memory)
    print(f"({time.perf_counter() - began:.0f} s in all)")
    return 0


def print_memory(rows) -> None:
    """Peak RSS at each size, and the bytes each further neuron (with its ~80 synapses) adds."""
    print("\nPeak RSS (MiB; c: the package's process, network built and run; cpp_standalone: its binary)")
    print(f"{'N':>7} {'synapses':>10} {'c':>8} {'b2':>8}   per neuron / per synapse above the smallest N: c, b2")
    n0, s0, c0, b0 = rows[0]
    for n, syn, c, b in rows:
        mib = lambda x: f"{x / 2**20:8.1f}" if x else f"{'-':>8}"  # noqa: E731
        line = f"{n:>7} {syn:>10} {mib(c)} {mib(b)}"
        if n != n0:
            line += f"   c {(c - c0) / (n - n0):6.0f} B / {(c - c0) / (syn - s0):5.1f} B"
            if b and b0:
                line += f";  b2 {(b - b0) / (n - n0):6.0f} B / {(b - b0) / (syn - s0):5.1f} B"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
