"""The native CPU target (--target c) against the NumPy target, and Brian2's cpp_standalone.

    python benchmarks/native.py                           # N = 1k, 4k, 16k, 64k; 1 s of CUBA at in-degree 80
    python benchmarks/native.py --sizes 4000 --repeat 3
    python benchmarks/native.py --brian2 /tmp/b2venv/bin/python   # adds cpp_standalone (1 and 2 threads)
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


def best_run(module, repeat: int, **kwargs) -> tuple[float, tuple]:
    best = float("inf")
    for _ in range(repeat):
        net = module.Network(seed=1, **kwargs)
        start = time.perf_counter()
        net.run(duration=1.0)
        best = min(best, time.perf_counter() - start)
    return best, net.spikes("cells")


def brian2(python: str, n: int, threads: int) -> float | None:
    try:
        out = subprocess.run([python, str(HERE / "brian2_cuba.py"), "--standalone", "--N", str(n),
                              "--threads", str(threads)], capture_output=True, text=True, timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])["run_s"]
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, KeyError):
        return None


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
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--brian2", metavar="PYTHON", help="a Python with brian2 (cpp_standalone timings)")
    ap.add_argument("--build", action="store_true", help="only the build times")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.build:
            print("CUBA (N = 4000) build times, --target c:")
            build_times(folder)
            return 0
        print(f"CUBA, 1 s of model time (dt = 0.1 ms), in-degree ~80; best of {args.repeat}; cores: {os.cpu_count()}")
        header = f"{'N':>7} {'numpy':>8} {'c 1t':>8} {'c 2t':>8} {'np/c1':>6} {'np/c2':>6}"
        if args.brian2:
            header += f" {'b2 1t':>8} {'b2 2t':>8} {'b2/c1':>6} {'b2/c2':>6}"
        print(header + "  spikes")
        for n in args.sizes:
            spec = folder / f"cuba_{n}.snn"
            spec.write_text(spec_text(n, scaling=True))
            np_pkg = package(spec, folder / f"np_{n}", "numpy")
            c_pkg = package(spec, folder / f"c_{n}", "c")
            t_np, (ta, ia) = best_run(np_pkg, args.repeat)
            t_c1, (tb, ib) = best_run(c_pkg, args.repeat, threads=1)
            t_c2, (tc, ic) = best_run(c_pkg, args.repeat, threads=2)
            same = all(np.array_equal(x, y) for x, y in ((ta, tb), (ia, ib), (tb, tc), (ib, ic)))
            line = f"{n:>7} {t_np:8.3f} {t_c1:8.3f} {t_c2:8.3f} {t_np / t_c1:6.2f} {t_np / t_c2:6.2f}"
            if args.brian2:
                b1, b2 = brian2(args.brian2, n, 1), brian2(args.brian2, n, 2)
                cell = lambda x: f"{x:8.3f}" if x is not None else f"{'-':>8}"  # noqa: E731
                ratio = lambda x, y: f"{x / y:6.2f}" if x is not None else f"{'-':>6}"  # noqa: E731
                line += f" {cell(b1)} {cell(b2)} {ratio(b1, t_c1)} {ratio(b2, t_c2)}"
            print(line + f"  {len(ta)} {'identical' if same else 'DIFFER'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
