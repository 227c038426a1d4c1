"""Sweep benchmark: 16 runs of CUBA (N = 4000) on a Dask LocalCluster of 2 workers against the
same 16 runs one after another in this process, on the same machine in the same invocation.

    python benchmarks/sweep.py                    # 16 seeds, the spec's 1 s of model time
    python benchmarks/sweep.py --duration 0.5 --repeat 3   # shorter runs; best of 3 (a busy machine)

Prints
* serial: 16 x ``Network(seed=k).run()`` here (the bare loop, nothing else);
* sweep: ``snnlang.sweeps.sweep`` of the same 16 runs on a running 2-worker cluster (the time
  to start the cluster is printed apart), its speed-up over serial, and the per-run results
  checked equal (spike counts);
* overhead per run: a sweep of 32 runs of 10 steps on a 1-worker cluster against the same
  32 bare ``Network(...).run(steps=10)`` here: what the sweep adds to each run (scheduling,
  sending, summarising, writing its files), divided by the runs;
* the load average before and after (the machine may be shared: a speed-up needs the cores free).

With --repeat R, serial and sweep take turns R times and the best time of each is shown.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bare(module, seeds, steps) -> tuple[float, list[int], float]:
    """The runs one after another here: wall seconds, spike counts, CPU seconds."""
    counts = []
    start, cpu = time.perf_counter(), time.process_time()
    for seed in seeds:
        net = module.Network(seed=seed)
        net.run(steps=steps)
        counts.append(int(sum(len(net.spikes(pop)[0]) for kind, pop, *_ in module.MONITORS if kind == "spikes")))
    return time.perf_counter() - start, counts, time.process_time() - cpu


def timed_sweep(spec, seeds, client, out, duration) -> tuple[float, list[int], float]:
    """The runs as a sweep: wall seconds, spike counts, CPU seconds of the workers' processes in the runs."""
    from snnlang.sweeps import sweep

    start = time.perf_counter()
    result = sweep(spec, None, list(seeds), client=client, out=out, duration=duration, progress=False, plots=False)
    elapsed = time.perf_counter() - start
    rows = result.to_dict("records") if hasattr(result, "to_dict") else result
    bad = [r for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"runs failed: {bad[:3]}")
    cpu = 0.0
    if out is not None:
        cpu = sum(json.loads((Path(out) / "runs" / str(r["run"]) / "summary.json").read_text())["cpu_seconds"]
                  for r in rows)
    return elapsed, [int(r["cells.spikes"]) for r in rows], cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, help="model time of each run in seconds (default: the spec's, 1 s)")
    parser.add_argument("--repeat", type=int, default=1, help="serial and sweep in turn, R times: best of R")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    from distributed import Client

    from snnlang.driver import package
    from snnlang.sweeps import local_cluster

    spec = ROOT / "specs" / "cuba.snn"
    module, build_s = package(spec)
    steps = module.STEPS if args.duration is None else int(round(args.duration / module.DT))
    seeds = range(1, args.runs + 1)
    load_before = os.getloadavg()
    cpus = os.cpu_count()
    print(f"CUBA N = {module.SIZES['cells']}, {steps} steps of {module.DT * 1e3:g} ms, {args.runs} runs; "
          f"{cpus} CPUs; load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    results = {"runs": args.runs, "workers": args.workers, "steps": steps, "cpus": cpus, "load_before": load_before}

    with tempfile.TemporaryDirectory(prefix="snnlang-sweep-bench-") as tmp:
        start = time.perf_counter()
        cluster = local_cluster(args.workers)  # as snnlang sweep starts it
        client = Client(cluster)
        client.wait_for_workers(args.workers)
        startup_s = time.perf_counter() - start
        serial_times, sweep_times = [], []
        try:
            for rep in range(args.repeat):
                serial_s, serial_counts, serial_cpu = bare(module, seeds, steps)
                serial_times.append(serial_s)
                print(f"serial (bare Network.run, this process): {serial_s:7.2f} s  ({serial_s / args.runs:.3f} s a run; "
                      f"CPU {serial_cpu:.2f} s)")
                sweep_s, sweep_counts, sweep_cpu = timed_sweep(spec, seeds, client, Path(tmp) / f"sweep{rep}",
                                                               steps * module.DT)
                sweep_times.append(sweep_s)
                print(f"sweep on {args.workers} workers:                  {sweep_s:7.2f} s  (CPU of the workers in "
                      f"the runs {sweep_cpu:.2f} s)")
                if sweep_counts != serial_counts:
                    raise SystemExit(f"the sweep's spike counts differ from the serial runs': "
                                     f"{sweep_counts} != {serial_counts}")
        finally:
            client.close()
            cluster.close()
        serial_s, sweep_s = min(serial_times), min(sweep_times)
        speedup = serial_s / sweep_s
        print(f"best of {args.repeat}: serial {serial_s:.2f} s, sweep {sweep_s:.2f} s: speed-up {speedup:.2f}x "
              f"(cluster start {startup_s:.2f} s apart; with it {serial_s / (sweep_s + startup_s):.2f}x); "
              "spike counts equal")

        short, n_short = 10, 32
        short_seeds = range(1, n_short + 1)
        bare_s, bare_counts, _ = bare(module, short_seeds, short)
        cluster = local_cluster(1)
        client = Client(cluster)
        try:
            timed_sweep(spec, range(1, 3), client, None, short * module.DT)  # the worker imports the package
            one_s, one_counts, _ = timed_sweep(spec, short_seeds, client, Path(tmp) / "short", short * module.DT)
        finally:
            client.close()
            cluster.close()
        assert one_counts == bare_counts
        overhead_ms = (one_s - bare_s) / n_short * 1e3
        print(f"overhead per run: {overhead_ms:6.1f} ms  ({n_short} runs of {short} steps on 1 worker: {one_s:.2f} s; "
              f"bare here: {bare_s:.2f} s)")
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    results.update(serial_s=serial_s, sweep_s=sweep_s, speedup=speedup, cluster_start_s=startup_s,
                   overhead_ms=overhead_ms, load_after=load_after)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
