"""Run many generated Lava packages from one interpreter (run by Lava's Python, 3.10).

    python conformance_batch.py JOBS.json

JOBS.json is a list of jobs, each {"package": dir, "out": file.npz, "steps": n, "tag": ...,
"read_weights": bool, "events": file.npz or null, "dt": seconds or null, "timeout": seconds};
``steps`` is a most: a package runs at most its spec's steps. A job whose ``out`` exists already
is skipped (conformance_build.py wrote its build error there).
Lava is imported once; each job runs ``simulate()`` in a forked child of its own process group
(a process model that raises can leave Lava's runtime waiting for ever: the child is killed
after ``timeout``). ``out`` gets ``spikes/<pop>/t`` and ``/i``, ``trace/<pop>/<var>`` and
``/t``, ``weights/<connection>``, or ``error`` (the exception, or the timeout): one failing job
never stops the others.
"""
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import lava.magma.core.run_configs  # noqa: F401  (imported once, before the children fork)


def events_of(path):
    """{source: (x, y, t, polarity)} from an npz of ``<source>/x``, ``/y``, ``/t``, ``/p``."""
    if not path:
        return None
    with np.load(path) as data:
        names = sorted({key.split("/")[0] for key in data.files})
        return {name: tuple(data[f"{name}/{k}"] for k in ("x", "y", "t", "p")) for name in names}


def run_job(job):
    package_dir = Path(job["package"]).resolve()
    if str(package_dir.parent) not in sys.path:
        sys.path.insert(0, str(package_dir.parent))
    pkg = importlib.import_module(package_dir.name)
    steps = min(int(job["steps"]), int(pkg.STEPS))  # at most the spec's own
    kwargs = {"events": events_of(job.get("events"))}
    if job.get("dt") is not None:
        kwargs["dt"] = float(job["dt"])
    result = pkg.simulate(steps=steps, tag=job.get("tag", "floating_pt"),
                          read_weights=bool(job.get("read_weights")) and bool(pkg.STDP), **kwargs)
    data = {}
    for pop, (t, i) in result.spikes.items():
        data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"] = t, i
    for key, (t, values) in result.traces.items():
        kind = "raw" if len(key) == 3 else "trace"
        data[f"{kind}/{key[0]}/{key[1]}"] = values
        data[f"{kind}/{key[0]}/{key[1]}/t"] = t
    for name, w in result.weights.items():
        data[f"weights/{name}"] = w
    return data


def error(message):
    return {"error": np.array(message)}


def save(path, data):
    """Write the npz under another name, then rename it: a reader never sees half a file."""
    with open(path + ".part", "wb") as f:
        np.savez(f, **data)
    os.replace(path + ".part", path)


def fail_fast(err_file):
    """Make a process model that raises end the job at once: Lava's own handling reports the
    error to its runtime and then waits for ever. The message goes to ``err_file``."""
    from lava.magma.core.model.py.model import AbstractPyProcessModel, PyLoihiProcessModel

    def wrap(method):
        def guarded(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except BaseException as e:  # noqa: BLE001
                Path(err_file).write_text(f"{type(e).__name__} in {type(self).__name__}: {e}\n"
                                          f"{traceback.format_exc()}")
                os.killpg(os.getpgrp(), signal.SIGKILL)
        return guarded

    for cls in (AbstractPyProcessModel, PyLoihiProcessModel):
        for name in ("_spike", "_pre_mgmt", "_lrn", "_post_mgmt", "_host", "_stop", "_pause", "_get_var", "_set_var"):
            if name in vars(cls):
                setattr(cls, name, wrap(vars(cls)[name]))


def child(job):
    os.setpgrp()  # Lava's processes join this group: one kill ends them all
    fail_fast(job["out"] + ".err")
    try:
        data = run_job(job)
    except BaseException as e:  # noqa: BLE001 -- reported to the test, which decides
        data = error(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
    save(job["out"], data)
    sys.stdout.flush()
    os._exit(0)


def main():
    jobs = json.loads(Path(sys.argv[1]).read_text())
    running = []

    def terminate(signum, frame):  # the test session ends early: end the running job's group too
        for pid in running:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(1)

    signal.signal(signal.SIGTERM, terminate)
    for job in jobs:
        if os.path.exists(job["out"]):  # its build failed: conformance_build.py wrote why
            print(f"skipped {job['out']}", flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            child(job)
        running[:] = [pid]
        deadline = time.monotonic() + float(job.get("timeout", 120))
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                save(job["out"], error(f"TimeoutError: no result after {job.get('timeout', 120)} s "
                                             "(a Lava process model raised, or the run hangs)"))
                break
            time.sleep(0.02)
        if os.path.exists(job["out"] + ".err"):  # a process model raised (fail_fast)
            save(job["out"], error(Path(job["out"] + ".err").read_text()))
        elif not os.path.exists(job["out"]):
            save(job["out"], error(f"the job's process ended with status {status} and wrote nothing"))
        try:  # what the killed job's Lava processes may have left in the group
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        print(f"done {job['out']}", flush=True)


if __name__ == "__main__":
    main()
