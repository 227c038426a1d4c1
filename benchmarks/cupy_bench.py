"""CUBA on a GPU (the CuPy target) against the NumPy target, at growing sizes.

The network of specs/cuba.snn (80 % excitatory, LIF, exponential current synapses,
dt = 0.1 ms) with the connection probability scaled as 80 / N, so that every neuron keeps
an in-degree of about 80 (64 excitatory, 16 inhibitory) at N = 4k, 64k and 1M. Each size
runs 1 s of model time (10,000 steps) on the GPU; the NumPy target runs the same spec and
seed for as many steps as the time budget allows, and its time for 1 s is extrapolated
from those steps where it could not run them all (the table says so). The network is
built on the host by both targets (the same NumPy builders), so build time is reported
apart from run time.

    python benchmarks/cupy_bench.py [--sizes 4000 64000 1000000] [--budget 240] [--out benchmarks/GPU.md]

Writes a Markdown table to --out (and prints it). Needs CuPy and a CUDA GPU.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

STEPS = 10_000  # 1 s of model time


def build_pair(n: int, folder: Path):
    from cuba import spec_text  # benchmarks/cuba.py: the NumPy benchmark's very spec
    from snnlang.build import build
    from snnlang.run import _import

    spec = folder / f"cuba_{n}.snn"
    spec.write_text(spec_text(n, scaling=True))
    packages = []
    for target in ("numpy", "cupy"):
        out = folder / f"{target}_{n}"
        build(spec, out, target)
        packages.append(_import(out, f"bench_{target}_{n}"))
    return packages


def bench_size(n: int, folder: Path, deadline: float, previous: dict | None) -> dict:
    np_pkg, cu_pkg = build_pair(n, folder)
    row = {"n": n}

    start = time.perf_counter()
    gpu = cu_pkg.Network()  # compiles kernels.cu, builds on the host, uploads
    gpu.device.synchronize()
    row["gpu_build_s"] = time.perf_counter() - start
    row["synapses"] = int(sum(v.size for k, v in gpu.state.items() if k.endswith("_post")))
    warm = 200
    gpu.run(steps=warm)  # kernels loaded, memory pool filled
    start = time.perf_counter()
    gpu.run(steps=STEPS)  # ends with the monitors copied to the host: synchronised
    row["gpu_run_s"] = time.perf_counter() - start
    t, _ = gpu.spikes("cells")
    row["gpu_rate_hz"] = int((t >= warm * gpu.dt).sum()) / n / (STEPS * gpu.dt)
    row["gpu_synops_per_s"] = gpu.synops / ((STEPS + warm) * gpu.dt)
    del gpu

    # NumPy: its build costs what the GPU's host build cost; skip it where that does not fit.
    if time.perf_counter() + 1.5 * row["gpu_build_s"] + 30 > deadline:
        if previous and "numpy_per_step_s" in previous:
            per_step = previous["numpy_per_step_s"] * n / previous["n"]
            row["numpy_run_s"], row["numpy_steps"] = per_step * STEPS, 0
            row["speedup"] = row["numpy_run_s"] / row["gpu_run_s"]
        else:
            row["numpy"] = "skipped: out of time"
        return row
    start = time.perf_counter()
    cpu = np_pkg.Network()
    row["numpy_build_s"] = time.perf_counter() - start
    probe = 200
    start = time.perf_counter()
    cpu.run(steps=probe)
    per_step = (time.perf_counter() - start) / probe
    left = deadline - time.perf_counter()
    if per_step * (STEPS - probe) < 0.5 * left:
        cpu.run(steps=STEPS - probe)
        row["numpy_run_s"] = time.perf_counter() - start
        row["numpy_steps"] = STEPS
        row["numpy_rate_hz"] = len(cpu.spikes("cells")[0]) / n / (STEPS * cpu.dt)
        per_step = row["numpy_run_s"] / STEPS
    else:
        row["numpy_run_s"] = per_step * STEPS
        row["numpy_steps"] = probe
    row["numpy_per_step_s"] = per_step
    row["speedup"] = row["numpy_run_s"] / row["gpu_run_s"]
    return row


def gpu_name() -> str:
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"{name}, CuPy {cupy.__version__}"
    except Exception as e:  # pragma: no cover
        return f"unknown ({e})"


def table(rows: list[dict]) -> str:
    lines = ["| N | synapses | GPU build (s) | GPU run, 1 s model time (s) | NumPy run, 1 s (s) | speedup | rate GPU / NumPy (Hz) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | :--- |"]
    for r in rows:
        if "numpy_run_s" in r:
            measured = r["numpy_steps"] == STEPS
            numpy_s = f"{r['numpy_run_s']:.1f}" + ("" if measured else f" (from {r['numpy_steps']} steps)"
                                                    if r["numpy_steps"] else " (scaled from the size above, not run)")
            speedup = f"{r['speedup']:.1f}x" if r["speedup"] < 10 else f"{r['speedup']:.0f}x"
            rates = f"{r['gpu_rate_hz']:.1f} / " + (f"{r['numpy_rate_hz']:.1f}" if measured else "-")
        else:
            numpy_s, speedup, rates = r.get("numpy", "-"), "-", f"{r['gpu_rate_hz']:.1f} / -"
        lines.append(f"| {r['n']:,} | {r['synapses']:,} | {r['gpu_build_s']:.1f} | {r['gpu_run_s']:.2f} | {numpy_s} "
                     f"| {speedup} | {rates} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 64000, 1000000])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds for the whole benchmark")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "GPU.md")
    args = parser.parse_args(argv)
    deadline = time.perf_counter() + args.budget
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            if time.perf_counter() > deadline:
                print(f"N = {n}: skipped, out of time", flush=True)
                continue
            row = bench_size(n, Path(tmp), deadline, rows[-1] if rows else None)
            rows.append(row)
            print(json.dumps(row), flush=True)
    text = (f"# The CuPy target on a GPU: CUBA at growing sizes\n\n"
            f"Written by `benchmarks/cupy_bench.py` ({datetime.date.today()}) on {gpu_name()}, "
            f"host {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
            f"NumPy {np.__version__}.\n\n"
            "CUBA (specs/cuba.snn) with p = 80 / N (in-degree about 80), dt = 0.1 ms, 1 s of model time "
            "(10,000 steps), spikes of all neurons monitored. GPU run: the CuPy target's kernels, "
            "double precision, monitors copied once per 1,000 steps. Build: connectivity and initial "
            "state on the host (the NumPy target's builders) and the upload. NumPy: the NumPy target on one "
            "core, extrapolated from the steps shown where a full second did not fit the time budget.\n\n"
            + table(rows) + "\n")
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
