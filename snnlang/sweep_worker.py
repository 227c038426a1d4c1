"""What a worker of ``snnlang sweep`` runs: one simulation of a built package, summarised.

This file is sent to every Dask worker as it is (``Client.upload_file``) and imported there
under the name ``snnlang_sweep_worker``; it imports only the standard library and NumPy, and
the generated package by path. A worker needs neither snnlang nor its compiler.
"""
from __future__ import annotations

import importlib.util
import math
import os
import shutil
import sys
import tempfile
import time
import warnings

#: The name this module has on the workers (and in the process that sends it).
MODULE = "snnlang_sweep_worker"


def package(shipped: dict):
    """The generated package of ``shipped`` ({"key": hash of its files, "files": name ->
    bytes}), imported once per process: written into a folder of this machine's temporary
    directory (all at once: a temporary folder renamed onto its name) and imported by path."""
    name = f"snn_sweep_{shipped['key']}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    root = os.path.join(tempfile.gettempdir(), f"snnlang-sweep-{os.getuid() if hasattr(os, 'getuid') else 0}")
    folder = os.path.join(root, shipped["key"])
    if not os.path.isfile(os.path.join(folder, "net", "__init__.py")):
        os.makedirs(root, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f".{shipped['key']}.", dir=root)
        try:
            for rel, data in shipped["files"].items():
                path = os.path.join(scratch, "net", *rel.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
            try:
                os.rename(scratch, folder)
            except OSError:  # another process of this machine published it first: use theirs
                if not os.path.isfile(os.path.join(folder, "net", "__init__.py")):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    init = os.path.join(folder, "net", "__init__.py")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[os.path.dirname(init)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def cv_isi(times, index) -> float:
    """The coefficient of variation of the inter-spike intervals of a population: per neuron
    std / mean of its intervals (neurons with at least two intervals), averaged over those
    neurons; NaN when no neuron has two intervals."""
    import numpy as np

    if len(times) < 3:
        return math.nan
    order = np.lexsort((times, index))
    t, i = np.asarray(times)[order], np.asarray(index)[order]
    same = i[1:] == i[:-1]  # consecutive spikes of one neuron: an interval
    isi, owner = np.diff(t)[same], i[1:][same]
    _, start, count = np.unique(owner, return_index=True, return_counts=True)
    keep = count >= 2
    if not keep.any():
        return math.nan
    mean = np.add.reduceat(isi, start) / count
    std = np.sqrt(np.add.reduceat((isi - np.repeat(mean, count)) ** 2, start) / count)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = std[keep] / mean[keep]
    cv = cv[np.isfinite(cv)]  # intervals of zero length (two spikes in one step) have no CV
    return float(cv.mean()) if cv.size else math.nan


def measure(module, net) -> dict:
    """Spike counts, rates (Hz) and CV of ISIs of each population with a spike monitor."""
    seconds = net.step * net.dt
    populations = {}
    for kind, pop, _variables, first, stop, stride, _period in module.MONITORS:
        if kind != "spikes":
            continue
        times, index = net.spikes(pop)
        n = len(range(first, stop, stride))
        cv = cv_isi(times, index)
        populations[pop] = {"n": n, "spikes": int(len(times)),
                            "rate_hz": float(len(times) / n / seconds) if seconds and n else 0.0,
                            "cv_isi": None if math.isnan(cv) else cv}
    return populations


def run(shipped, index: int, settings: dict, seed: int, steps: int) -> dict:
    """Simulate run ``index`` of the package ``shipped`` (its files, see :func:`package`, or the
    imported package) (parameters ``settings`` in SI units, ``seed``, ``steps``) and
    return its summary. An error of the run (a refused parameter, NaN or overflow) is its
    result: status "failed" and the message; the worker goes on with the next run."""
    start, cpu = time.perf_counter(), time.process_time()
    summary = {"run": index, "status": "ok", "message": None, "settings": dict(settings), "seed": seed,
               "steps": steps}
    # the package itself in this process; a package that cannot be imported is the worker's failure, not the run's
    module = shipped if hasattr(shipped, "Network") else package(shipped)
    summary.update(network=module.NETWORK, spec=module.SPEC, spec_hash=module.SPEC_HASH, dt=module.DT)
    with warnings.catch_warnings(record=True) as caught:  # NumPy's overflow warnings: kept with the run
        warnings.simplefilter("default")
        try:
            net = module.Network(params=settings, seed=seed)
            net.run(steps=steps)
            summary["populations"] = measure(module, net)
            summary["synops"] = int(net.synops)
        except Exception as e:  # noqa: BLE001 - every error of one run is recorded, not raised
            summary.update(status="failed", message=f"{type(e).__name__}: {e}")
    if caught:
        summary["warnings"] = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))[:10]
    summary["seconds"] = round(time.perf_counter() - start, 6)
    summary["cpu_seconds"] = round(time.process_time() - cpu, 6)  # of this process, its other threads included
    return summary


def ignore_interrupts() -> None:
    """Let Ctrl-C reach only the process that started the sweep (a local cluster's workers share
    its terminal): it cancels the runs and closes the cluster itself."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def imported() -> list[str]:
    """The top-level modules this process has imported (to check what a worker needs)."""
    return sorted({name.split(".", 1)[0] for name in sys.modules})
