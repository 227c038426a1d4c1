"""One network over MPI processes: strong and weak scaling of CUBA on 1 and 2 processes.

    pip install mpi4py mpich                 # or 'snnlang[mpi]'
    python benchmarks/mpi.py                 # N = 64k and 256k at 1 and 2 processes, weak scaling at 32k per process
    python benchmarks/mpi.py --sizes 64000 --steps 300 --ranks 1 2 4
    python benchmarks/mpi.py --target c --sizes 64000 256000 --weak 0   # the c target, one thread a process

CUBA (benchmarks/cuba.py's spec) at constant in-degree ~80 (p = 80 / N). Each case is the
generated package (NumPy, or --target c: compiled, one OpenMP thread a process) run by
``mpiexec -n R python benchmarks/mpi.py --worker ...`` (R = 1: the plain single-process run,
no MPI). It prints, per case: the time to build the network
(reset: state and connectivity), the wall time of the steps and per step, the time spent in
the spike exchange per step (MPI Allgather + Allgatherv, the slowest process's), the peak
resident memory of each process, and checks that the spikes are those of the single-process
run. The load average is printed with the results: on a shared machine the processes get
less than a core each.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def build(n: int, folder: Path, target: str = "numpy", delay: str = "") -> Path:
    """The CUBA spec at N neurons (with ``delay``, e.g. "1 ms": every synapse's delay), built for a
    target into folder/cuba_<n> (the c target: compiled, with snnpart() too, so that no process
    compiles while timed)."""
    from cuba import spec_text

    from snnlang.build import build as snn_build

    spec = folder / f"cuba_{n}.snn"
    text = spec_text(n, scaling=True)
    spec.write_text(text.replace("; on_pre:", f"; delay = {delay}; on_pre:") if delay else text)
    package = folder / f"cuba_{n}"
    snn_build(spec, package, target)
    if target == "c":
        import importlib.util

        found = importlib.util.spec_from_file_location(f"_native_{n}", package / "native.py")
        native = importlib.util.module_from_spec(found)
        found.loader.exec_module(native)
        native.library(split=True)
    return package


def worker(package: Path, steps: int, out: Path) -> None:
    """Run one case in this process (one of R under mpiexec); the first process writes the results."""
    import importlib.util

    import numpy as np

    found = importlib.util.spec_from_file_location(package.name, package / "__init__.py",
                                                   submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(found)
    sys.modules[package.name] = module
    found.loader.exec_module(module)
    start = time.perf_counter()
    net = module.Network()
    built = time.perf_counter() - start
    part = net.part
    if part is not None:
        part.comm.Barrier()
    start = time.perf_counter()
    net.run(steps=steps)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    synapses = sum(v.size for k, v in net.state.items() if k.endswith("_pre"))
    mine = {"build_s": built, "run_s": wall, "comm_s": part.comm_seconds if part else 0.0,
            "exchanges": part.exchanges if part else 0, "sent_bytes": part.sent_bytes if part else 0,
            "rss": rss, "synapses": int(synapses)}
    everyone = part.comm.gather(mine, root=0) if part is not None else [mine]
    if part is None or part.rank == 0:
        times, neurons = net.spikes("cells")
        np.savez(out.with_suffix(".npz"), t=times, i=neurons)
        out.write_text(json.dumps({"processes": everyone, "spikes": int(times.size), "steps": steps}))


def mpiexec() -> str:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        sys.exit("no mpiexec: pip install mpi4py mpich")
    return found


def case(package: Path, ranks: int, steps: int, folder: Path) -> dict:
    out = folder / f"{package.name}_{ranks}.json"
    command = [sys.executable, __file__, "--worker", str(package), "--steps", str(steps), "--out", str(out)]
    if ranks > 1:
        command = [mpiexec(), "-n", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", SNNLANG_THREADS="1")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def same_spikes(a: Path, b: Path) -> bool:
    import numpy as np

    with np.load(a) as x, np.load(b) as y:
        return bool(np.array_equal(x["t"], y["t"]) and np.array_equal(x["i"], y["i"]))


def row(label: str, n: int, ranks: int, got: dict, base: dict | None, same: bool | None) -> str:
    procs = got["processes"]
    run = max(p["run_s"] for p in procs)
    steps = got["steps"]
    comm = max(p["comm_s"] for p in procs)
    rss = " / ".join(f"{p['rss'] / 2**20:.0f}" for p in procs)
    synapses = " / ".join(f"{p['synapses'] / 1e6:.2f}M" for p in procs)
    speedup = f"{max(p['run_s'] for p in base['processes']) / run:.2f}x" if base else "-"
    sent = sum(p["sent_bytes"] for p in procs) / max(1, procs[0]["exchanges"])
    return (f"| {label} | {n:,} | {ranks} | {max(p['build_s'] for p in procs):.1f} | {run:.2f} | {run / steps * 1e3:.2f} | "
            f"{comm / steps * 1e3:.3f} | {sent:,.0f} | {speedup} | {rss} | {synapses} | {got['spikes']:,} | "
            f"{'yes' if same else ('-' if same is None else 'NO')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64000, 256000], help="N for strong scaling")
    parser.add_argument("--weak", type=int, default=32000, help="neurons per process for weak scaling (0: none)")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=500, help="steps of dt = 0.1 ms per case")
    parser.add_argument("--target", choices=["numpy", "c"], default="numpy",
                        help="the package's target (c: compiled, one thread a process)")
    parser.add_argument("--delay", default="", help="every synapse's delay, e.g. '1 ms' (default: one step): "
                                                     "the processes exchange spikes every that many steps")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args.worker, args.steps, args.out)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"target {args.target}, delay {args.delay or 'one step'}; load average before: {load} ({os.cpu_count()} cores)")
    header = ("| case | N | processes | build (s) | run (s) | per step (ms) | exchange per step (ms) | "
              "bytes sent per exchange (all) | speed-up | peak RSS per process (MiB) | synapses per process | spikes | "
              "= 1 process |")
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    with tempfile.TemporaryDirectory(prefix="snnlang-mpi-bench-") as tmp:
        folder = Path(tmp)
        for n in args.sizes:
            package = build(n, folder, args.target, args.delay)
            base = None
            for ranks in args.ranks:
                got = case(package, ranks, args.steps, folder)
                out = folder / f"{package.name}_{ranks}.npz"
                same = None if base is None else same_spikes(folder / f"{package.name}_{args.ranks[0]}.npz", out)
                lines.append(row("strong", n, ranks, got, base, same))
                print(lines[-1], flush=True)
                base = base or got
        if args.weak:
            first = None
            for ranks in args.ranks:
                n = args.weak * ranks
                package = build(n, folder, args.target, args.delay)
                got = case(package, ranks, args.steps, folder)
                lines.append(row("weak", n, ranks, got, None, None))
                if first is not None:
                    t0 = max(p["run_s"] for p in first["processes"])
                    t1 = max(p["run_s"] for p in got["processes"])
                    lines[-1] += f" efficiency {t0 / t1:.2f}"
                first = first or got
                print(lines[-1], flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
