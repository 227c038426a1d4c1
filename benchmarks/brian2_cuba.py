"""Brian2 timings for the CUBA network (the same model as cuba_reference.py).

For each Brian2 runtime target (``numpy``, ``cython``) this measures

(a) in process: ``run(duration)`` alone (pure simulation) for a freshly
    built network whose code objects were prepared by a 0-ms run, best of
    ``--repeats`` seeds (0, 1, ...);
(b) the whole process: a fresh ``python -c`` that imports brian2, builds the
    network and runs it once, timed from outside, with the child's own
    breakdown (import, build, first ``run()`` with code generation).  For
    Cython this is done with the default (warm) cache and, unless
    ``--no-cold``, once with an empty cache (every code object compiled).

The network is Brian2's classic CUBA example (threshold ``v > Vt``, as the
reference and specs/cuba.snn test it).  Brian2 keeps
its own refractory convention: v is held for round(t_ref/dt) - 1 steps after
the spike step, one fewer than snnlang's fixed order (see cuba_reference.py).

``--standalone`` times Brian2's ``cpp_standalone`` device instead (one fresh process per
size and thread count, ``--N`` may be repeated): the simulation loop as Brian2's own timer
reports it (``device._last_run_time``: the run in the compiled binary, compile and network
construction excluded), with OpenMP threads ``--threads``; benchmarks/native.py drives it.

Run it with a Python that has brian2 (and Cython for the cython target), e.g.
``/tmp/b2venv/bin/python benchmarks/brian2_cuba.py``.
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

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ("numpy", "cython")


def simulate(target: str = "numpy", N: int = 4000, duration: float = 1.0, seed: int = 0,
             p: float | None = None, prepare: bool = True, cache_dir: str | None = None) -> dict:
    """Build CUBA in Brian2 and run it for ``duration`` seconds with ``target``.

    With ``prepare`` a 0-ms run first generates/compiles/loads the code
    objects, so ``run_s`` is the simulation alone and ``prepare_s`` the rest.
    Returns rates (Hz), ``build_s`` (objects + connect), ``prepare_s``,
    ``run_s`` (wall), ``run_cpu_s`` (process CPU time) and ``n_synapses``.
    """
    import brian2 as b2
    from brian2 import ms, mV, second

    b2.prefs.codegen.target = target
    if cache_dir is not None:
        b2.prefs.codegen.runtime.cython.cache_dir = cache_dir
    b2.start_scope()
    b2.seed(seed)
    if p is None:
        p = 80 / N
    Ne = int(round(0.8 * N))
    namespace = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV,
                     El=-49 * mV, we=(60 * 0.27 / 10) * mV, wi=(-20 * 4.5 / 10) * mV,
                     Ne=Ne)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    t0 = time.perf_counter()
    b2.defaultclock.dt = 0.1 * ms
    P = b2.NeuronGroup(N, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                       method="exact", namespace=namespace)
    P.v = "Vr + rand() * (Vt - Vr)"
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=namespace)
    Ce.connect("i < Ne", p=p)
    Ci.connect("i >= Ne", p=p)
    s_mon = b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, s_mon)
    t1 = time.perf_counter()
    if prepare:
        net.run(0 * ms, namespace=namespace)
    t2, c2 = time.perf_counter(), time.process_time()
    net.run(duration * second, namespace=namespace)
    t3, c3 = time.perf_counter(), time.process_time()
    idx = s_mon.i[:]
    n_exc = int((idx < Ne).sum())
    return {
        "target": target, "N": N, "seed": seed, "duration": duration,
        "rate_exc": n_exc / (Ne * duration),
        "rate_inh": (len(idx) - n_exc) / ((N - Ne) * duration),
        "n_synapses": len(Ce) + len(Ci),
        "build_s": t1 - t0, "prepare_s": t2 - t1, "run_s": t3 - t2, "run_cpu_s": c3 - c2,
    }


def standalone(N: int = 4000, duration: float = 1.0, seed: int = 0, threads: int = 1,
               directory: str | None = None, memory: bool = False) -> dict:
    """CUBA on Brian2's cpp_standalone device: build, compile and run the binary; Brian2's own
    timing of the run (``run_s``), the compile and run of the binary (``build_s``) apart.
    ``memory``: the binary is run once more on its own for its peak RSS (``peak_rss``, bytes:
    the simulation's process alone, the compiler not counted). A directory made here is removed."""
    import brian2 as b2
    from brian2 import ms, mV, second

    made = directory is None
    directory = directory or tempfile.mkdtemp(prefix="b2standalone-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    b2.seed(seed)
    Ne = int(round(0.8 * N))
    namespace = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV,
                     El=-49 * mV, we=(60 * 0.27 / 10) * mV, wi=(-20 * 4.5 / 10) * mV, Ne=Ne)
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    b2.defaultclock.dt = 0.1 * ms
    P = b2.NeuronGroup(N, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms,
                       method="exact", namespace=namespace)
    P.v = "Vr + rand() * (Vt - Vr)"
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace=namespace)
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace=namespace)
    Ce.connect("i < Ne", p=80 / N)
    Ci.connect("i >= Ne", p=80 / N)
    s_mon = b2.SpikeMonitor(P)
    net = b2.Network(P, Ce, Ci, s_mon)
    net.run(duration * second, namespace=namespace)
    t0 = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=True, debug=False)
    build_s = time.perf_counter() - t0
    idx = s_mon.i[:]
    result = {"target": "cpp_standalone", "N": N, "threads": threads, "duration": duration,
              "run_s": float(b2.device._last_run_time), "build_s": build_s,
              "rate": len(idx) / (N * duration), "n_synapses": int(len(Ce) + len(Ci))}
    if memory:
        result["peak_rss"] = _peak_rss(["./main"], directory)
    if made:
        shutil.rmtree(directory, ignore_errors=True)
    return result


def _peak_rss(command: list[str], directory: str) -> int | None:
    """The peak resident memory (bytes) of a command: its VmHWM, read every 5 ms until it exits.
    (Not the rusage's ru_maxrss: Linux carries the forking Python's memory into it.)"""
    child = subprocess.Popen(command, cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while child.poll() is None:
        try:
            with open(f"/proc/{child.pid}/status") as f:
                peak = max(peak, next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) * 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.005)
    return peak if child.returncode == 0 and peak else None


def _child(target: str, N: int, duration: float, cache_dir: str | None) -> None:
    """Body of the timed fresh process: import brian2, build, first run; print JSON."""
    t0 = time.perf_counter()
    import brian2  # noqa: F401

    r = simulate(target, N, duration, prepare=False, cache_dir=cache_dir)
    r["import_s"] = time.perf_counter() - t0 - r["build_s"] - r["run_s"]
    print(json.dumps(r))


def whole_process(target: str, N: int = 4000, duration: float = 1.0,
                  cache_dir: str | None = None, python: str = sys.executable) -> dict:
    """Time a fresh ``python -c`` that imports brian2, builds and runs CUBA once.

    Returns the child's own breakdown (``import_s``, ``build_s``, ``run_s`` = the
    first run() with code generation) plus ``process_s`` (wall, measured from
    outside) and ``process_cpu_s`` (user + system, compiler processes included).
    """
    code = (f"import sys; sys.path.insert(0, {HERE!r}); import brian2_cuba; "
            f"brian2_cuba._child({target!r}, {N}, {duration}, {cache_dir!r})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["process_s"] = wall
    r["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=4000)
    ap.add_argument("--duration", type=float, default=1.0, help="model time, s")
    ap.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    ap.add_argument("--repeats", type=int, default=5, help="seeds 0..repeats-1")
    ap.add_argument("--standalone", action="store_true",
                    help="time Brian2's cpp_standalone device (its own loop timer), print JSON lines")
    ap.add_argument("--threads", type=int, default=1, help="--standalone: OpenMP threads")
    ap.add_argument("--memory", action="store_true", help="--standalone: also the binary's peak RSS (runs it again)")
    ap.add_argument("--no-cold", action="store_true",
                    help="skip the cold-cache Cython process (compiles everything, ~30 s)")
    args = ap.parse_args(argv)
    try:
        import brian2
    except ImportError:
        print("brian2 not installed (pip install '.[bench]')")
        return 0
    import logging
    brian2.prefs.logging.console_log_level = "ERROR"
    logging.getLogger("brian2").setLevel(logging.ERROR)
    if args.standalone:  # one device per process: the loop in a fresh child
        code = (f"import sys, json; sys.path.insert(0, {HERE!r}); import brian2_cuba; "
                f"print(json.dumps(brian2_cuba.standalone({args.N}, {args.duration}, 0, {args.threads}, memory={args.memory})))")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
        print(out.stdout.strip().splitlines()[-1])
        return 0
    print(f"Brian2 {brian2.__version__} CUBA  N={args.N}  {args.duration:g} s  dt=0.1 ms")
    for target in args.targets:
        if target == "cython":
            try:
                import Cython  # noqa: F401
            except ImportError:
                print("  cython: Cython not installed, skipped")
                continue
        # (b) whole process, fresh interpreter each time.
        procs = []
        if target == "cython" and not args.no_cold:
            with tempfile.TemporaryDirectory() as cache:
                procs.append(("cold cache, all compiled",
                              whole_process(target, args.N, args.duration, cache_dir=cache)))
        if target == "cython":
            whole_process(target, args.N, args.duration)  # fills the default cache
        procs.append(("warm cache" if target == "cython" else "fresh process",
                      whole_process(target, args.N, args.duration)))
        for label, r in procs:
            print(f"  {target}: whole process ({label}) {r['process_s']:.2f} s"
                  f" (cpu {r['process_cpu_s']:.2f} s) = import {r['import_s']:.2f}"
                  f" + build {r['build_s']:.2f} + first run() {r['run_s']:.2f}"
                  f" + interpreter start/exit {r['process_s'] - r['import_s'] - r['build_s'] - r['run_s']:.2f}")
        # (a) in process: run() alone, code objects prepared by a 0-ms run.
        simulate(target, args.N, 0.001)  # code generation for this process
        runs = [simulate(target, args.N, args.duration, seed=s) for s in range(args.repeats)]
        for r in runs:
            print(f"    seed {r['seed']}: exc {r['rate_exc']:6.2f} Hz  inh {r['rate_inh']:6.2f} Hz"
                  f"  synapses {r['n_synapses']}  build {r['build_s']:.2f} s"
                  f"  prepare {r['prepare_s']:.2f} s  run {r['run_s']:.3f} s"
                  f" (cpu {r['run_cpu_s']:.3f} s)")
        best = min(r["run_s"] for r in runs)
        best_cpu = min(r["run_cpu_s"] for r in runs)
        print(f"  {target}: run({args.duration:g} s) alone, best of {len(runs)}: {best:.3f} s"
              f" (cpu {best_cpu:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
