"""The machinery of tests/test_conformance.py: cases, builds, runs and comparisons.

A *case* is a spec run for a number of steps. Each target gets the same spec file and seed:
the NumPy target is the reference, the CuPy kernels run on the CPU through
``tests/cuda_shim`` (serially, so that floating-point sums keep the NumPy target's order),
and Lava's floating-point models run in Lava's own simulator, every job of a session in one
subprocess (``tests/lava_scripts/conformance_batch.py``) started before the CuPy tests so
that the two overlap.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from helpers import SPECS, TEST_SPECS, import_package
from snnlang.build import build
from snnlang.frontend.diagnostics import SpecError

CONFORMANCE = TEST_SPECS / "conformance"
LAVA_BUILD = Path(__file__).resolve().parent / "lava_scripts" / "conformance_build.py"

#: Steps compared between NumPy and the CuPy kernels (at most), and in Lava (at most).
STEPS, LAVA_STEPS = 1000, 400

#: Relative tolerance of state "within rounding" (float64 sums in another order).
RTOL = 1e-9


# ---------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """A spec and how long to run it. ``text`` (when given) replaces the file's contents."""

    name: str
    path: Path
    steps: int = STEPS
    lava_steps: int = LAVA_STEPS
    text: Optional[str] = None
    # {source: (x, y, t, polarity)} fed to events() inputs, the same on every target
    events: dict = field(default_factory=dict, compare=False, hash=False)

    def __repr__(self) -> str:
        return self.name


EVENTS = re.compile(r"input\s+(\w+)\s*=\s*events\(\s*width\s*=\s*(\d+)\s*,\s*height\s*=\s*(\d+)\s*\)")
SILENT_POISSON = re.compile(r"rate\s*=\s*0 Hz")
#: (NumPy/CuPy steps, Lava steps) at most, where STEPS and LAVA_STEPS would be slow or pointless
#: (a case runs the spec's own steps when they are fewer).
_STEP_CAPS = {
    "cuba": (1000, 150),  # 4000 neurons, a 4000 x 4000 Dense in Lava
    "izhikevich_network": (600, 200),
    "stdp_song": (4000, 1000),  # 1 000 000 steps in the spec
    "blowup": (1500, 1500),  # its v becomes infinite at step 1516 (the first check is at 1000)
}
#: Monitors added to specs that have none (what Lava reports is what is monitored).
_EXTRA_MONITORS = {
    "blowup": "    monitor v of calm, cells\n",
    # the digits networks monitor only their 10 outputs
    **{name: "    monitor spikes of hidden\n" for name in (
        "digits_alif", "digits_bptt", "digits_bptt_float32", "digits_convert", "digits_izhikevich", "digits_lif",
        "events_digits")},
}


def camera_events(width: int, height: int, duration: float, seed: int, n: int = 400) -> tuple:
    """Deterministic random events (x, y, t in seconds, polarity) over ``duration``."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, duration, n))
    return (rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n))


def derived_text(name: str, text: str) -> Optional[str]:
    """The spec as the conformance suite runs it, or None when that is the file itself:
    Poisson inputs of rate 0 Hz (driven by a trainer) get 150 Hz so that the network spikes,
    and specs without monitors get some."""
    new = SILENT_POISSON.sub("rate = 150 Hz", text)
    if name in _EXTRA_MONITORS:  # before the line that closes the network block
        lines = new.splitlines(keepends=True)
        start = next(k for k, line in enumerate(lines) if line.startswith("network "))
        end = next(k for k in range(start, len(lines)) if lines[k].rstrip() == "}")
        new = "".join(lines[:end] + [_EXTRA_MONITORS[name]] + lines[end:])
    return None if new == text else new


def spec_cases() -> list[Case]:
    """Every spec of specs/, tests/specs/ and tests/specs/conformance/ with a simulate block."""
    paths = sorted(SPECS.glob("*.snn")) + sorted(TEST_SPECS.glob("*.snn")) + sorted(CONFORMANCE.glob("*.snn"))
    cases = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if not re.search(r"^simulate\s", text, re.M):
            continue
        name = path.stem if path.parent != CONFORMANCE else f"conformance/{path.stem}"
        steps, lava_steps = _STEP_CAPS.get(path.stem, (STEPS, LAVA_STEPS))
        events = {}
        for k, (source, width, height) in enumerate(EVENTS.findall(text)):
            events[source] = camera_events(int(width), int(height), 0.1, seed=k)
        cases.append(Case(name, path, steps, lava_steps, derived_text(path.stem, text), events))
    return cases


# ---------------------------------------------------------------------------------------
# Building and running
# ---------------------------------------------------------------------------------------

def _slug(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _folder(case: Case) -> str:
    """A folder (and Lava module) name of its own for each case: two cases may share a stem."""
    digest = hashlib.sha1(f"{case.path}\n{case.text}".encode()).hexdigest()[:8]
    return f"{_slug(case.name)}_{digest}"


class Workspace:
    """Packages of every case and target in one folder, built once, and the NumPy runs."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._packages: dict = {}
        self._runs: dict = {}
        self._devices: dict = {}

    def spec(self, case: Case) -> Path:
        """The spec file of a case (written into the workspace when derived)."""
        if case.text is None:
            return case.path
        path = self.folder / "specs" / f"{_folder(case)}.snn"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(case.text, encoding="utf-8")
        return path

    def package(self, case: Case, target: str):
        """numpy / cupy: the imported package; lava: the package folder, or the SpecError
        of a refused build."""
        key = (_folder(case), target)
        if key not in self._packages:
            out = self.folder / f"{target}_{_folder(case)}"
            try:
                build(self.spec(case), out, target)
                self._packages[key] = out if target == "lava" else import_package(out)
            except SpecError as e:
                if target != "lava":
                    raise
                self._packages[key] = e
        return self._packages[key]

    def device(self, case: Case):
        from cuda_shim.shim import ShimDevice

        key = _folder(case)
        if key not in self._devices:
            package = self.package(case, "cupy")
            self._devices[key] = ShimDevice(Path(package.__path__[0]) / "kernels.cu", self.folder / "shim", serial=True)
        return self._devices[key]

    def run(self, case: Case, target: str, steps: int, **kwargs):
        """A Network of the case run for ``steps`` on numpy or cupy (the shim), run once and kept
        (the NumPy runs are the reference of several comparisons; tests only read them)."""
        key = (_folder(case), target, steps, tuple(sorted(kwargs.items())))
        if key in self._runs:
            return self._runs[key]
        package = self.package(case, target)
        if target == "cupy":
            kwargs["device"] = self.device(case)
        net = package.Network(**kwargs)
        for source, (x, y, t, p) in case.events.items():
            net.feed_events(source, x=x, y=y, t=t, polarity=p)
        with np.errstate(over="ignore", invalid="ignore"):
            net.run(steps=steps)
        self._runs[key] = net
        return net


def steps_of(package, cap: int) -> int:
    return min(int(package.STEPS), cap)


# ---------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------

def spike_pairs(times, index, dt) -> list[tuple[int, int]]:
    """Spikes as sorted (step, neuron) pairs."""
    return sorted(zip(np.rint(np.asarray(times) / dt).astype(int).tolist(), np.asarray(index).tolist()))


def first_difference(a: list, b: list) -> str:
    sa, sb = set(a), set(b)
    only_a, only_b = sorted(sa - sb)[:5], sorted(sb - sa)[:5]
    return f"{len(a)} vs {len(b)} spikes; (step, neuron) only in the first: {only_a}, only in the second: {only_b}"


def assert_close(actual, expected, what: str, rtol: float = RTOL) -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = max(float(np.abs(expected[np.isfinite(expected)]).max(initial=0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def compare_monitors(reference, spikes, trace, monitors, dt, label: str) -> int:
    """Spike monitors identical, state monitors within rounding, against the NumPy
    Network ``reference``; ``spikes(pop)`` and ``trace(pop, var)`` read the other target.
    Returns the number of reference spikes compared."""
    total = 0
    for kind, pop, variables, *_ in monitors:
        if kind == "spikes":
            ours = spike_pairs(*reference.spikes(pop), dt)
            theirs = spike_pairs(*spikes(pop), dt)
            assert theirs == ours, f"{label}: spikes of {pop}: " + first_difference(ours, theirs)
            total += len(ours)
        else:
            for var in variables:
                t_ref, v_ref = reference.trace(pop, var)
                t, v = trace(pop, var)
                np.testing.assert_array_equal(np.rint(np.asarray(t) / dt), np.rint(np.asarray(t_ref) / dt),
                                              err_msg=f"{label}: sample times of {pop}.{var}")
                assert_close(v, v_ref, f"{label}: {pop}.{var}")
    return total


# ---------------------------------------------------------------------------------------
# Lava, in one subprocess
# ---------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def lava_python() -> tuple[Optional[str], str]:
    """Lava's interpreter (SNNLANG_LAVA_PYTHON), or None and why not."""
    path = os.environ.get("SNNLANG_LAVA_PYTHON")
    if not path:
        return None, ("SNNLANG_LAVA_PYTHON is not set: it names a Python 3.10 interpreter with lava-nc "
                      "(bash .ci/run makes one in .venv-lava; see docs/lava.md)")
    try:
        check = subprocess.run([path, "-c", "import lava.magma.core.run_configs"], capture_output=True, text=True,
                               timeout=120)
    except OSError as e:
        return None, f"SNNLANG_LAVA_PYTHON={path} cannot be run: {e}"
    if check.returncode:
        return None, f"SNNLANG_LAVA_PYTHON={path} cannot import lava: {check.stderr.strip().splitlines()[-1:]}"
    return path, ""


@dataclass(frozen=True)
class LavaJob:
    """One simulate() of a Lava package: a case, its steps, and what else the job asks."""

    key: str
    case: Case
    steps: int
    dt: Optional[float] = None
    read_weights: bool = False

    def __repr__(self) -> str:
        return self.key


class LavaBatch:
    """Every Lava job of a session, built and run by one subprocess started in the background:
    ``conformance_build.py`` (snnlang's Python) builds the packages, then becomes Lava's
    interpreter running ``conformance_batch.py``."""

    def __init__(self, workspace: Workspace, jobs: list[LavaJob]):
        self.ws, self.folder = workspace, workspace.folder / "lava_runs"
        self.jobs = {job.key: job for job in jobs}
        self.proc = None
        self.why = ""
        self.log = self.folder / "batch.log"

    def out(self, key: str) -> Path:
        return self.folder / f"{_slug(key)}.npz"

    def start(self) -> None:
        python, self.why = lava_python()
        if python is None or not self.jobs:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        spec = []
        for key, job in self.jobs.items():
            events = None
            if job.case.events:
                events = self.folder / f"{_slug(key)}-events.npz"
                np.savez(events, **{f"{src}/{k}": np.asarray(a) for src, arrays in job.case.events.items()
                                    for k, a in zip("xytp", arrays)})
            spec.append({"spec": str(self.ws.spec(job.case)), "package": str(self.folder / f"lava_{_folder(job.case)}"),
                         "out": str(self.out(key)), "steps": min(job.steps, 10 ** 9), "read_weights": job.read_weights,
                         "dt": job.dt, "timeout": 60 + min(job.steps, 4000) * 0.05,
                         "events": None if events is None else str(events)})
        jobs_file = self.folder / "jobs.json"
        jobs_file.write_text(json.dumps(spec, indent=1))
        self.logfile = open(self.log, "w")
        import snnlang  # the builder imports the very compiler the tests use

        root = str(Path(snnlang.__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])]))
        self.proc = subprocess.Popen([sys.executable, str(LAVA_BUILD), str(jobs_file), python], stdout=self.logfile,
                                     stderr=subprocess.STDOUT, cwd=self.folder, env=env)

    def result(self, key: str) -> dict:
        """What the job recorded: its records, {'error': message} when it raised, or
        {'build_error': message} when its package could not be built. Waits for the job."""
        import pytest

        if self.proc is None:
            pytest.skip(self.why or "no Lava job was started")
        path = self.out(key)
        while self.proc.poll() is None and not path.exists():  # written whole (renamed) when the job ends
            time.sleep(0.05)
        assert path.exists(), f"the Lava batch wrote nothing for {key}:\n{self.log.read_text()[-3000:]}"
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()  # the batch kills its running job's processes, then exits
                self.proc.wait(timeout=30)
            self.logfile.close()


class LavaRecords:
    """A Lava job's records with the NumPy Network's spikes() / trace() interface."""

    def __init__(self, data: dict):
        self.data = data

    def spikes(self, pop):
        return self.data[f"spikes/{pop}/t"], self.data[f"spikes/{pop}/i"]

    def trace(self, pop, var):
        return self.data[f"trace/{pop}/{var}/t"], self.data[f"trace/{pop}/{var}"]


def weight_matrix(net, connection: str, n_post: int, n_pre: int) -> np.ndarray:
    """A NumPy Network's weights of one connection as Lava's (post x pre) matrix (NaN where
    there is no synapse)."""
    s = net.state
    w = np.full((n_post, n_pre), np.nan)
    w[s[f"{connection}_post"], s[f"{connection}_pre"]] = s[f"{connection}_w"]
    return w


def clean(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
