"""``snnlang run``: build (cached, :mod:`snnlang.driver`), simulate, write spikes, summary and plots."""
from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Optional

from . import __version__
from .driver import import_package, package
from .frontend.units import DIMENSIONLESS, dim_add, dim_scale, format_dim, lookup


def built_package(spec: Path, target: str = "numpy"):
    """The generated package of a spec, built once into the cache and imported, and the
    seconds that took (see :func:`snnlang.driver.package`)."""
    return package(spec, target)


def _import(package_dir: Path, name: str):
    return import_package(package_dir, name)


_NUMBER = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_FACTOR = re.compile(r"\s*([*/])?\s*([A-Za-zµ_][A-Za-z0-9µ_]*|1)\s*(?:\*\*\s*([-+]?\d+))?\s*")


def parse_setting(text: str) -> tuple[str, float, tuple]:
    """``tau_m=10ms`` -> ("tau_m", 0.01, dimension of time): a number and a product of units
    (``25 mV/ms``, ``1 uF/cm**2``), read without loading the compiler."""
    if "=" not in text:
        raise ValueError(f"--set {text!r}: expected name=value, such as tau_m=10ms")
    key, value = (part.strip() for part in text.split("=", 1))
    match = _NUMBER.fullmatch(value)
    if not match:
        raise ValueError(f"--set {text!r}: {value!r} is not a number with units")
    number, unit = float(match.group(1)), match.group(2)
    scale, dim = 1.0, DIMENSIONLESS
    pos = 0
    while pos < len(unit):
        factor = _FACTOR.match(unit, pos)
        if not factor or factor.end() == pos or (pos and not factor.group(1)):
            raise ValueError(f"--set {text!r}: {unit!r} is not a unit such as mV, ms or mV/ms")
        op, name, power = factor.group(1), factor.group(2), int(factor.group(3) or 1)
        found = (1, DIMENSIONLESS) if name == "1" else lookup(name)
        if found is None:
            raise ValueError(f"--set {text!r}: unknown unit {name!r}")
        power = -power if op == "/" else power
        scale *= float(found[0]) ** power
        dim = dim_add(dim, dim_scale(found[1], power))
        pos = factor.end()
    return key, number * scale, dim


#: The file that marks a folder as a run folder snnlang made (``run -o``, ``train -o``).
RUN_MARKER = ".snnlang-run"
#: What ``snnlang run`` writes into its run folder.
RUN_FILES = ("spikes.npz", "state.npz", "summary.json", "raster.png", "traces.png", "plots-skipped.txt")


def _made_by_snnlang(folder: Path) -> bool:
    """A run folder of snnlang: the marker, or (from before the marker) a summary.json of
    ``snnlang run`` or a metrics.json of ``snnlang train``."""
    if (folder / RUN_MARKER).is_file():
        return True
    for name, keys in (("summary.json", {"network", "spec_hash", "steps"}), ("metrics.json", {"method", "epochs"})):
        try:
            data = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and keys <= data.keys():
            return True
    return False


def run_folder(out: Path, writes: tuple[str, ...], command: str = "run") -> Path:
    """Make ``out`` the run folder of ``snnlang <command>``, which writes the files ``writes``
    into it (over earlier ones of the same name) and deletes nothing.

    A missing folder is created. An existing folder is used when snnlang made it (its
    RUN_MARKER) or none of ``writes`` is in it yet; a file, or a folder holding files of those
    names that snnlang did not write, is refused with ValueError, before anything is written."""
    out = Path(out)
    shown = repr(str(out))
    try:
        info = os.stat(out)
    except FileNotFoundError:
        info = None
    except NotADirectoryError:
        above = next((str(p) for p in reversed(out.parents) if p.exists() and not p.is_dir()), "a part of it")
        raise ValueError(f"-o {shown}: {above!r} is a file, not a folder") from None
    except (OSError, ValueError) as e:
        reason = "a loop of symbolic links" if getattr(e, "errno", None) == errno.ELOOP else getattr(e, "strerror", e)
        raise ValueError(f"-o {shown}: {reason}") from None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"-o {shown}: it is a file, not a folder; {command} writes its results into a folder")
    if info is not None and not _made_by_snnlang(out):
        clash = [name for name in writes if os.path.lexists(out / name)]
        if clash:
            raise ValueError(f"-o {shown}: it holds {', '.join(clash)}, which snnlang did not write and {command} "
                             "would overwrite; choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        marker = out / RUN_MARKER
        if not marker.is_file():
            marker.write_text(f"snnlang {__version__} {command} folder\n", encoding="utf-8")
    except OSError as e:
        raise ValueError(f"-o {shown}: cannot write there: {e.strerror or e}") from None
    return out


def run(spec: Path, out: Path, duration: Optional[float] = None, seed: Optional[int] = None,
        settings: tuple[str, ...] = (), target: str = "numpy", weights: Optional[Path] = None,
        progress: bool = False, plots: bool = True) -> dict:
    module, build_s = built_package(spec, target)
    params = {}
    for text in settings:
        key, value, dim = parse_setting(text)
        owners = [k for k in module.PARAMETERS if k == key or k.split(".", 1)[1] == key]
        if not owners:
            raise ValueError(f"--set {text!r}: no parameter {key!r}; parameters: {', '.join(module.PARAMETERS)}")
        params[key] = value
        _check_unit(module, owners, dim, text)
    if any(v < 0 for v in params.values()):
        _check_refractory(spec, params, settings)
    steps = module.STEPS if duration is None else duration_steps(duration, module.DT)
    run_folder(out, RUN_FILES)  # before the simulation: a folder it may not write is refused at once
    kwargs = {"params": params}
    if seed is not None:
        kwargs["seed"] = seed
    net = module.Network(**kwargs)
    if weights is not None:
        load_weights(net, weights)
    start = time.perf_counter()
    failure = None
    try:
        with _quiet_arithmetic():  # overflow and NaN are the NaN check's to report, once, in words
            if progress:
                from tqdm.auto import tqdm  # a widget in Jupyter, text on a terminal

                with tqdm(total=steps, unit="step", desc=module.NETWORK, file=sys.stderr) as bar:
                    net.run(steps=steps, progress=bar.update)
            else:
                net.run(steps=steps)
    except getattr(module, "SimulationError", ()) as e:  # a state variable became NaN or infinite
        failure = str(e)
        reached = re.search(r"at step (\d+)", failure)
        if reached:  # the records end before that step: write them as a run of that many steps
            net.step = int(reached.group(1))
    run_s = time.perf_counter() - start
    summary = write_outputs(module, net, out, build_s, run_s, plots)
    if failure is not None:
        from .output import write_json

        summary["error"] = failure
        write_json(out / "summary.json", summary)
        raise SimulationFailed(failure, summary)
    return summary


class SimulationFailed(Exception):
    """The simulation stopped at a NaN or an overflow; what it recorded before is written."""

    def __init__(self, message: str, summary: dict):
        super().__init__(message)
        self.summary = summary


def _quiet_arithmetic():
    """NumPy's floating-point warnings off (they quote a line of the generated code)."""
    import contextlib
    import warnings

    import numpy as np

    stack = contextlib.ExitStack()
    stack.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"))
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore", RuntimeWarning)
    return stack


#: The most steps one run may take (as the simulate block's steps).
MAX_STEPS = 2**31 - 1


def duration_steps(duration: float, dt: float, option: str = "--duration") -> int:
    """The steps of a duration at ``dt``; ValueError when that is not a finite positive number of
    steps, a warning on stderr when it is not a whole number of steps (the run is rounded)."""
    shown = f"{option} {_time_text(duration)}"
    if not math.isfinite(duration):
        raise ValueError(f"{shown}: a duration must be a finite time")
    if duration <= 0:
        raise ValueError(f"{shown}: a duration must be positive")
    steps = round(duration / dt)
    if steps < 1:
        raise ValueError(f"{shown} is 0 steps of dt = {_time_text(dt)}; give at least one step ({_time_text(dt)})")
    if steps > MAX_STEPS:
        raise ValueError(f"{shown} is {steps:.3g} steps of dt = {_time_text(dt)}; at most {MAX_STEPS} steps")
    if not math.isclose(steps * dt, duration, rel_tol=1e-9, abs_tol=0.0):
        print(f"snnlang run: warning: {shown} is not a multiple of dt = {_time_text(dt)}: "
              f"it runs {steps} steps, {_time_text(steps * dt)}", file=sys.stderr)
    return int(steps)


def _time_text(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds == 0 or abs(seconds) >= 1:
        return f"{seconds:g} s"
    if abs(seconds) >= 1e-3:
        return f"{seconds * 1e3:.10g} ms"
    return f"{seconds * 1e6:.10g} us"


def _check_refractory(spec: Path, params: dict, settings: tuple[str, ...]) -> None:
    """A refractory period that --set makes negative is refused (the period after a spike in
    which a neuron cannot spike again must be at least 0)."""
    import sympy

    from .driver import plan as plan_of

    plan = plan_of(spec)
    for pop in plan.populations:
        if pop.refractory is None:
            continue
        values = {p.name: p.value for p in pop.params}
        changed = []
        for p in pop.params:
            for key, value in params.items():
                if p.key == key or p.key.split(".", 1)[1] == key:
                    values[p.name], changed = value, changed + [(p.key, key, value, p.unit)]
        if not changed:
            continue
        subs = {s: values.get(s.name, plan.dt if s.name == "dt" else None) for s in pop.refractory.free_symbols}
        if any(v is None for v in subs.values()):
            continue
        period = pop.refractory.xreplace({s: sympy.Float(v) for s, v in subs.items()})
        if period.is_number and float(period) < 0:
            name, key, value, unit = next((c for c in changed if c[2] < 0), changed[0])
            text = next((t for t in settings if t.split("=", 1)[0].strip() == key), f"{key}={value}")
            unit = "" if unit in ("", "1") or "dimensionless" in unit else f" {unit}"
            raise ValueError(f"--set {text!r}: {name} = {value:g}{unit} makes the refractory period of population "
                             f"'{pop.name}' {float(period):g} steps; it must be at least 0")


def _check_unit(module, owners, dim, text) -> None:
    given = format_dim(dim)
    for key in owners:
        unit = module.UNITS.get(key) or format_dim((0,) * 7)
        if unit != given:
            raise ValueError(f"--set {text!r}: {key} is in {unit}, the value is in {given}")


def load_weights(net, path: Path) -> None:
    """Replace state arrays by those in an .npz (as ``snnlang train`` writes): synaptic weights and
    other state variables, and ``input:<population>.<variable>`` values. Every array is checked
    before any is loaded: a name the network does not have, connectivity and other internal
    arrays (indices, spike histories, refractory counters), another shape, complex, NaN or
    infinite values are refused with ValueError."""
    import zipfile

    import numpy as np

    shown = f"--weights {path}"
    try:
        archive = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{shown}: cannot read it as an .npz ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{shown}: it is one array (.npy), not an .npz of named arrays such as "
                         "snnlang train writes (weights.npz)")
    loaded, inputs = {}, {}
    with archive as data:
        for key in data.files:
            try:
                value = data[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
                raise ValueError(f"{shown}: cannot read its array {key!r} ({e})") from None
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{shown}: {key!r} holds {value.dtype} values; weights are real numbers")
            if value.dtype.kind == "f" and not np.isfinite(value).all():
                raise ValueError(f"{shown}: {key!r} holds NaN or infinite values")
            if key.startswith("input:"):  # a trained bias: the outside value of an input variable
                inputs[key[6:]] = value.astype(float)
                continue
            if key not in net.state:
                floats = [k for k, v in net.state.items() if np.dtype(v.dtype).kind == "f"]
                raise ValueError(f"{shown}: {key!r} is not a state array of this network; "
                                 f"it has {', '.join(floats) or 'none'}")
            mine = net.state[key]
            if np.dtype(mine.dtype).kind != "f":  # indices, spike histories, refractory counters
                raise ValueError(f"{shown}: {key!r} is internal to the network (connectivity, a spike history or "
                                 "a refractory counter, drawn from the spec and the seed), not a weight or a "
                                 "state variable; --weights does not replace it")
            if mine.shape != value.shape:
                raise ValueError(f"{shown}: {key!r} has shape {value.shape}, the network's is {mine.shape}")
            loaded[key] = value.astype(mine.dtype)
    for key, value in loaded.items():
        net.state[key] = value
    for name, value in inputs.items():
        net.set_input(name, value)


def write_outputs(module, net, out: Path, build_s: float, run_s: float, plots: bool = True) -> dict:
    import numpy as np

    from .output import write_json, write_npz

    out.mkdir(parents=True, exist_ok=True)
    seconds = net.step * net.dt
    spikes, states, populations = {}, {}, {}
    # the neurons of each monitor (every selection of its statements); a package without the
    # list (an older one, the Lava target's) records one slice
    neurons_of = getattr(module, "NEURONS", None)
    for k, (kind, pop, variables, first, stop, stride, _) in enumerate(module.MONITORS):
        neurons = np.asarray(neurons_of[k] if neurons_of is not None else range(first, stop, stride), dtype=np.int64)
        if kind == "spikes":
            times, index = net.spikes(pop)
            spikes[f"{pop}_t"], spikes[f"{pop}_i"] = times, index
            n = len(neurons)
            populations[pop] = {"n": n, "spikes": int(len(times)),
                                "rate_hz": float(len(times) / n / seconds) if seconds and n else 0.0}
        else:
            for var in variables:
                if f"{pop}_{var}" in states:  # trace() gives the first monitor of a variable
                    continue
                times, values = net.trace(pop, var)
                states[f"{pop}_{var}"], states[f"{pop}_t"] = values, times
                states[f"{pop}_{var}_neurons"] = neurons  # the neuron of each column
    write_npz(out / "spikes.npz", spikes)  # each whole or not at all (a full disk keeps the earlier file)
    if states:
        write_npz(out / "state.npz", states)
    summary = {"network": module.NETWORK, "populations": populations, "steps": net.step, "dt": net.dt,
               "duration_s": seconds, "seed": net.seed, "build_s": round(build_s, 4), "run_s": round(run_s, 4),
               "synops": int(net.synops), "spec": module.SPEC, "spec_hash": module.SPEC_HASH,
               "snnlang": __version__}
    write_json(out / "summary.json", summary)
    if plots:
        _plots(out, spikes, states, module)
    return summary


def _plots(out: Path, spikes: dict, states: dict, module) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        (out / "plots-skipped.txt").write_text("matplotlib is not installed: pip install 'snnlang[plots]'\n")
        return
    pops = [k[:-2] for k in spikes if k.endswith("_t")]
    if pops:
        fig, axes = plt.subplots(len(pops), 1, figsize=(8, 1.5 + 1.5 * len(pops)), sharex=True, squeeze=False)
        for ax, pop in zip(axes[:, 0], pops):
            ax.plot(spikes[pop + "_t"], spikes[pop + "_i"], ",k" if len(spikes[pop + "_t"]) > 5000 else ".k", ms=2)
            ax.set_ylabel(pop)
        axes[-1, 0].set_xlabel("time (s)")
        fig.suptitle(f"{module.NETWORK}: spikes")
        fig.tight_layout()
        fig.savefig(out / "raster.png", dpi=100)
        plt.close(fig)
    # (population, key) from the monitors: population names may contain underscores.
    traces = list(dict.fromkeys((pop, f"{pop}_{var}") for kind, pop, variables, *_ in module.MONITORS
                                if kind == "state" for var in variables))
    if traces:
        fig, axes = plt.subplots(len(traces), 1, figsize=(8, 1.5 + 1.5 * len(traces)), sharex=True, squeeze=False)
        for ax, (pop, key) in zip(axes[:, 0], traces):
            lines = ax.plot(states[pop + "_t"], states[key], lw=0.8)
            neurons = states[key + "_neurons"]
            if 1 < len(neurons) <= 10:  # which line is which neuron
                ax.legend(lines, [f"{pop}[{k}]" for k in neurons], fontsize="small", loc="upper right")
            elif len(neurons) == 1:
                key = f"{key}[{neurons[0]}]"
            ax.set_ylabel(key)
        axes[-1, 0].set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(out / "traces.png", dpi=100)
        plt.close(fig)


