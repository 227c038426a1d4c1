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

from . import __version__, mpi
from .driver import import_package, package
from .frontend.units import DIMENSIONLESS, dim_add, dim_scale, format_dim, lookup


#: The cache part of ``snnlang run``'s packages: they carry RUN_PLAN beside the code.
RUN_PACKAGE = "run+plan"
#: The file of a run package that holds what the plan decided (read by write_outputs).
RUN_PLAN = "run_plan.json"


def built_package(spec: Path, target: str = "numpy", dt: Optional[float] = None, dt_text: Optional[str] = None):
    """The generated package of a spec, built once into the cache and imported, and the
    seconds that took (see :func:`snnlang.driver.package`).

    ``dt`` (seconds): build at this time step instead of the simulate block's (``--dt``); the
    spec's duration is kept, so the run has another number of steps. dt belongs to the build
    (docs/semantics.md), so it is part of the cache key. ``dt_text`` is the option as given,
    for messages. The package carries RUN_PLAN: what the plan decided (integration methods,
    precision, units, connections), for summary.json and --save-weights."""
    parts = (RUN_PACKAGE,) if dt is None else (RUN_PACKAGE, f"dt={float(dt)!r}")
    return package(spec, target, *parts, files=lambda model: _run_package_files(model, target, dt, dt_text))


def _import(package_dir: Path, name: str):
    return import_package(package_dir, name)


# ---- the run package: --dt, and what the plan decided -------------------------------------

def _run_package_files(model, target: str, dt: Optional[float], dt_text: Optional[str]) -> dict[str, str]:
    """The files of a run package: those of :func:`snnlang.driver.render_package` (at ``dt``
    when given), and RUN_PLAN."""
    from .driver import render_package

    spec_timing = None
    if dt is not None:
        model, spec_timing = _with_dt(model, dt, dt_text)
    return render_package(model, target, extra=lambda plan: {
        RUN_PLAN: json.dumps(_plan_record(model, plan, spec_timing), indent=1) + "\n"})


def _simulated(model):
    """The name of the network a run simulates (as make_plan chooses it) and its simulate block."""
    candidates = list(model.simulations) or list(model.networks)
    if not candidates:
        raise ValueError("the spec defines no network")
    return candidates[0], model.simulations.get(candidates[0])


def _with_dt(model, dt: float, dt_text: Optional[str]):
    """The model with the simulate block's dt replaced by ``dt`` (``--dt``), and the spec's own
    timing. The simulated time stays the spec's: a block that gives ``steps`` gets the duration
    those steps are at the spec's dt."""
    from .frontend.model import Number, Settings
    from .frontend.settings import simulation

    shown = f"--dt {dt_text or _time_text(dt)}"
    name, sim = _simulated(model)
    net = model.networks[name]
    discrete = all(model.neurons[p.neuron].discrete for p in net.populations) and bool(net.populations)
    if sim is None:
        sim = Settings(name=name, values={}, loc=net.loc)
    timing = simulation(sim, discrete)  # the spec's dt, duration and steps (its errors are the check's)
    duration = timing.steps * timing.dt
    steps = round(duration / dt)
    if steps < 1:
        raise ValueError(f"{shown}: the run of {_time_text(duration)} would be 0 steps; dt must be at most "
                         f"{_time_text(duration)}")
    if steps > MAX_STEPS:
        raise ValueError(f"{shown}: the run of {_time_text(duration)} would be {steps:.3g} steps; at most {MAX_STEPS}")
    if not math.isclose(steps * dt, duration, rel_tol=1e-9, abs_tol=0.0):
        print(f"snnlang run: warning: the spec's duration {_time_text(duration)} is not a multiple of dt = {_time_text(dt)} ({shown})"
              f": it runs {steps} steps, {_time_text(steps * dt)}", file=sys.stderr)
    time_dim = (0, 0, 1, 0, 0, 0, 0)
    values = {k: v for k, v in sim.values.items() if k not in ("dt", "steps", "duration")}
    values["dt"] = Number(value=dt, dim=time_dim, loc=getattr(sim.values.get("dt"), "loc", sim.loc))
    where = sim.values.get("duration", sim.values.get("steps"))
    values["duration"] = Number(value=steps * dt, dim=time_dim, loc=getattr(where, "loc", sim.loc))
    simulations = dict(model.simulations)
    simulations[name] = sim.model_copy(update={"values": values})
    return model.model_copy(update={"simulations": simulations}), {"dt": timing.dt, "steps": timing.steps}


def _plan_record(model, plan, spec_timing: Optional[dict]) -> dict:
    """What the plan decided, as data: each population's integration method and why, the
    units of its variables, the arithmetic, each connection's arrays (for summary.json,
    the plots and --save-weights)."""
    from .plan.build import _units  # the units of variables, as the plan gives its parameters theirs

    populations = {}
    for pop in plan.populations:
        neuron = model.neurons[pop.neuron]
        try:
            units = _units(neuron.parameters + neuron.state + neuron.inputs + neuron.aliases)
        except Exception:  # noqa: BLE001 - units are for display only
            units = {}
        populations[pop.name] = {"neuron": pop.neuron, "size": pop.size, "method": pop.method,
                                 "method_reason": pop.method_reason, "units": units,
                                 "inputs": [v.name for v in neuron.inputs]}  # --set and --input (run_inputs.py)
    connections = {}
    for c in plan.connections:
        state = {plan.symbols.local(name, c.name): name for name in c.state}
        connections[c.name] = {"source": c.source, "target": c.target, "synapse": c.synapse, "state": state,
                               "pre": plan.symbols.get(c.name, "pre"), "post": plan.symbols.get(c.name, "post")}
    return {"network": plan.network, "dt": plan.dt, "steps": plan.steps, "precision": plan.precision,
            "spec_dt": (spec_timing or {}).get("dt", plan.dt), "spec_steps": (spec_timing or {}).get("steps", plan.steps),
            "populations": populations, "connections": connections,
            "poisson": [s.name for s in plan.sources if s.kind == "poisson"]}  # their rates: --input src.rate=...


def run_plan(module) -> dict:
    """RUN_PLAN of a run package ({} for a package built otherwise)."""
    try:
        folder = Path(module.__path__[0])
        return json.loads((folder / RUN_PLAN).read_text(encoding="utf-8"))
    except (AttributeError, IndexError, OSError, ValueError):
        return {}


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
        progress: bool = False, plots: bool = True, dt: Optional[float] = None, save_weights: bool = False,
        threads: Optional[int] = None, dt_text: Optional[str] = None, inputs: tuple[str, ...] = ()) -> dict:
    """Build (cached), simulate and write the run folder ``out``: spikes.npz, state.npz,
    summary.json (with what repeats the run: :func:`repeat`), the plots, and with
    ``save_weights`` weights.npz (the layout :func:`load_weights` reads)."""
    mpi.refuse_target(target)  # under mpirun: only a target that splits the network
    module, build_s = built_package(spec, target, dt, dt_text)
    params = {}
    from .run_inputs import apply_inputs, input_variables, owner_of, read_table

    variables = input_variables(module, run_plan(module))  # what --set and --input may drive from outside
    input_values, tables = {}, dict(read_table(text, variables) for text in inputs)
    for text in settings:
        key, value, dim = parse_setting(text)
        owners = [k for k in module.PARAMETERS if k == key or k.split(".", 1)[1] == key]
        if not owners and owner_of(key, variables):  # an input variable: this value, every step
            for k in owner_of(key, variables):
                if variables[k][1] != format_dim(dim):
                    raise ValueError(f"--set {text!r}: {k} is in {variables[k][1]}, the value is in {format_dim(dim)}")
                input_values[k] = value
            continue
        if not owners:
            raise ValueError(f"--set {text!r}: no parameter {key!r}; parameters: {', '.join(module.PARAMETERS)}")
        params[key] = value
        _check_unit(module, owners, dim, text)
    if any(v < 0 for v in params.values()):
        _check_refractory(spec, params, settings)
    steps = module.STEPS if duration is None else duration_steps(duration, module.DT)
    out = run_folder(out, RUN_FILES + (WEIGHTS_FILE,) * save_weights)  # a folder it may not write: refused at once
    kwargs = {"params": params}
    if seed is not None:
        kwargs["seed"] = seed
    net = module.Network(**kwargs)
    if weights is not None:
        load_weights(net, weights)
    apply_inputs(net, input_values, tables)
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
        mpi.abort_all(net, str(e))  # split over processes: the others wait for this one
        failure = str(e)
        reached = re.search(r"at step (\d+)", failure)
        if reached:  # the records end before that step: write them as a run of that many steps
            net.step = int(reached.group(1))
    run_s = time.perf_counter() - start
    if mpi.other_process(net):  # split over processes (mpirun): the first writes what all recorded
        return mpi.quiet_summary(net)
    record = _run_record(spec, target, dt, duration, net.seed, settings, weights, threads)
    if inputs:  # --input tables (repeat reads them again from where they were)
        record["inputs"] = [f"{k}={Path(f.strip()).resolve()}" for k, _, f in (t.partition("=") for t in inputs)]
        record["command"] += [x for t in record["inputs"] for x in ("--input", t)]
    if save_weights and failure is None:
        save_weights_file(module, net, out / WEIGHTS_FILE)
        record["saved_weights"] = WEIGHTS_FILE
    summary = write_outputs(module, net, out, build_s, run_s, plots, extra=_repeatable(module, params, record))
    if failure is not None:
        from .output import write_json

        summary["error"] = failure
        write_json(out / "summary.json", summary)
        raise SimulationFailed(failure, summary)
    return summary


#: What ``snnlang run --save-weights`` writes into the run folder (the layout --weights reads).
WEIGHTS_FILE = "weights.npz"


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run_record(spec: Path, target: str, dt: Optional[float], duration: Optional[float], seed: int,
                settings: tuple[str, ...], weights: Optional[Path], threads: Optional[int]) -> dict:
    """The options of a run, as :func:`repeat` gives them to :func:`run` again, and the command
    line that does the same (``command``; the run folder left to choose)."""
    record = {"spec": str(Path(spec).resolve()), "target": target, "dt": dt, "duration": duration,
              "seed": int(seed), "settings": list(settings), "weights": None, "threads": threads}
    command = ["snnlang", "run", record["spec"], "--target", target, "--seed", str(int(seed))]
    if dt is not None:
        command += ["--dt", f"{dt!r}s"]
    if duration is not None:
        command += ["--duration", f"{duration!r}s"]
    for text in settings:
        command += ["--set", text]
    if weights is not None:
        record["weights"] = {"path": str(Path(weights).resolve()), "sha256": _sha256(Path(weights))}
        command += ["--weights", record["weights"]["path"]]
    if threads is not None:
        command += ["--threads", str(threads)]
    record["command"] = command
    return record


def _repeatable(module, params: dict, record: dict) -> dict:
    """What summary.json records beyond the results: the options (``repeat``), every --set value
    in SI units, the build (target, arithmetic, threads, dt and the spec's dt) and what the plan
    decided for each population (its integration method, and why)."""
    plan = run_plan(module)
    populations = plan.get("populations", {})
    return {
        "repeat": record,
        "set": dict(params),
        "build": {"target": record["target"], "precision": plan.get("precision"), "threads": record["threads"],
                  "dt": getattr(module, "DT", None), "dt_option": record["dt"], "spec_dt": plan.get("spec_dt")},
        "integration": {name: {"method": p["method"], "reason": p["method_reason"]} for name, p in populations.items()},
    }


def repeat(run_dir: Path, out: Path, plots: bool = True, progress: bool = False) -> dict:
    """Run again what the run folder ``run_dir`` recorded (its summary.json), into ``out``: the
    same spec, target, dt, duration, seed, --set values and --weights file. The spec (and
    the weights file) must be unchanged since: another spec hash or file hash is refused with
    ValueError, as is a summary.json that does not record its options."""
    from .cache import spec_key

    path = Path(run_dir) / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        record = summary["repeat"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not the summary.json of a run that records its options ({e})") from None
    spec = Path(record["spec"])
    key = spec_key(spec, record["target"]) if spec.is_file() else None
    if key is None:
        raise ValueError(f"{path}: the spec {str(spec)!r} of the run cannot be read")
    if key.spec_hash != summary.get("spec_hash"):
        raise ValueError(f"{path}: the spec {str(spec)!r} changed since the run (spec hash {key.spec_hash}, "
                         f"the run's {summary.get('spec_hash')})")
    weights = record.get("weights")
    if weights is not None:
        if not Path(weights["path"]).is_file() or _sha256(Path(weights["path"])) != weights["sha256"]:
            raise ValueError(f"{path}: the weights file {weights['path']!r} of the run is gone or changed")
    return run(spec, out, duration=record["duration"], seed=record["seed"], settings=tuple(record["settings"]),
               target=record["target"], weights=None if weights is None else Path(weights["path"]),
               progress=progress, plots=plots, dt=record["dt"], threads=record.get("threads"),
               save_weights=bool(record.get("saved_weights")), inputs=tuple(record.get("inputs", ())))


def _host(value):
    """A state array in host memory (the CuPy target's are on the GPU)."""
    import numpy as np

    return value.get() if type(value).__module__.startswith("cupy") else np.asarray(value)


def save_weights_file(module, net, path: Path) -> list[str]:
    """Write the synaptic state of every connection (``<connection>_<variable>``: weights and
    other per-synapse variables, as --weights reads them) and the (pre, post) neurons of each
    synapse (``index:<connection>.pre``, ``index:<connection>.post``) to ``path``; returns the
    names of the arrays. The layout is in docs/language.md (Saving and loading weights)."""
    import numpy as np

    from .output import write_npz

    arrays = {}
    for name, info in run_plan(module).get("connections", {}).items():
        for key in info["state"].values():
            if key in net.state and np.dtype(net.state[key].dtype).kind == "f":
                arrays[key] = _host(net.state[key])
        for side in ("pre", "post"):
            if info.get(side) in net.state:
                arrays[f"index:{name}.{side}"] = _host(net.state[info[side]])
    write_npz(path, arrays)
    return list(arrays)


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
    loaded, inputs, indices = {}, {}, {}
    with archive as data:
        for key in sorted(data.files, key=lambda k: not k.startswith("index:")):  # connectivity first
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
            if key.startswith("index:"):  # the (pre, post) neurons of the synapses (--save-weights)
                _check_index(net, key, value, shown, indices)
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


def _check_index(net, key: str, value, shown: str, indices: dict) -> None:
    """``index:<connection>.pre`` (``.post``) of a weights file must be the network's own: the
    weights are of its synapses, in its order, only if the connectivity is the same."""
    import numpy as np

    connection, _, side = key[6:].rpartition(".")
    mine = net.state.get(f"{connection}_{side}") if side in ("pre", "post") else None
    if mine is None:
        raise ValueError(f"{shown}: {key!r} names no connection of this network (index:<connection>.pre or .post)")
    mine = _host(mine)
    if mine.shape != value.shape or not np.array_equal(mine, value):
        raise ValueError(f"{shown}: the synapses of connection '{connection}' in it ({key!r}: {value.size} synapses) "
                         f"are not this network's ({mine.size} synapses, another {side} neuron order): the file was "
                         "saved from another spec, seed or connectivity")
    indices[key] = True


def write_outputs(module, net, out: Path, build_s: float, run_s: float, plots: bool = True,
                  extra: Optional[dict] = None) -> dict:
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
        elif kind == "synapses":  # a synapse monitor: samples x synapses, their times and (pre, post) neurons
            for var in variables:
                key = f"{pop}_{var}"
                if key in states:  # trace() gives the first monitor of a variable
                    continue
                states[key + "_t"], states[key] = net.trace(pop, var)
                states[key + "_pre"], states[key + "_post"] = net.synapses(pop, var)
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
    summary.update(_display(module, neurons_of))
    summary.update(extra or {})
    summary["plots"] = _plots(out, summary) if plots else "off (--no-plots)"
    write_json(out / "summary.json", summary)
    return summary


def _display(module, neurons_of) -> dict:
    """What the plots need beyond the arrays: the unit of each recorded variable
    (``units``, keyed as state.npz is) and the neurons of each spike monitor
    (``spike_neurons``: {start, stop, step}, or the list when they are no slice)."""
    import numpy as np

    plan = run_plan(module).get("populations", {})
    units, spike_neurons = {}, {}
    for k, (kind, pop, variables, first, stop, stride, _) in enumerate(module.MONITORS):
        if kind == "state":
            for var in variables:
                unit = plan.get(pop, {}).get("units", {}).get(var)
                if unit is not None:
                    units[f"{pop}_{var}"] = unit
        elif pop not in spike_neurons:
            ids = np.asarray(neurons_of[k] if neurons_of is not None else range(first, stop, stride), dtype=np.int64)
            step = int(ids[1] - ids[0]) if ids.size > 1 else 1
            if ids.size == 0 or (step > 0 and np.array_equal(ids, np.arange(ids[0], ids[0] + step * ids.size, step))):
                spike_neurons[pop] = {"start": int(ids[0]) if ids.size else 0,
                                      "stop": int(ids[-1]) + 1 if ids.size else 0, "step": step}
            else:
                spike_neurons[pop] = ids.tolist()
    return {"units": units, "spike_neurons": spike_neurons}


def _plots(out: Path, summary: dict) -> str:
    """raster.png (spikes, with the population rates under them) and traces.png, drawn by
    :mod:`snnlang.plot`; what happened, in a line (matplotlib is optional: the plots extra)."""
    from . import plot

    try:
        plot.require()
    except ImportError as e:
        (out / "plots-skipped.txt").write_text(f"{e}\n")
        return f"skipped: {e}"
    made = []
    for name, draw in (("raster.png", plot.raster), ("traces.png", plot.traces)):
        fig = draw(out, summary=summary)  # the run folder's arrays; its summary not written yet
        if fig is not None:
            fig.savefig(out / name, dpi=100)
            plot.close(fig)
            made.append(name)
    return ", ".join(made) or "nothing to plot"
