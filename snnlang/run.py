"""``snnlang run``: build (cached, :mod:`snnlang.driver`), simulate, write spikes, summary and plots."""
from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
import time
from pathlib import Path
from typing import Optional

from . import __version__
from .driver import import_package, package
from .units import DIMENSIONLESS, dim_add, dim_scale, format_dim, lookup


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
    run_folder(out, RUN_FILES)  # before the simulation: a folder it may not write is refused at once
    kwargs = {"params": params}
    if seed is not None:
        kwargs["seed"] = seed
    net = module.Network(**kwargs)
    if weights is not None:
        load_weights(net, weights)
    steps = module.STEPS if duration is None else int(round(duration / net.dt))
    start = time.perf_counter()
    if progress:
        from tqdm import tqdm

        with tqdm(total=steps, unit="step", desc=module.NETWORK, file=sys.stderr) as bar:
            net.run(steps=steps, progress=bar.update)
    else:
        net.run(steps=steps)
    run_s = time.perf_counter() - start
    return write_outputs(module, net, out, build_s, run_s, plots)


def _check_unit(module, owners, dim, text) -> None:
    given = format_dim(dim)
    for key in owners:
        unit = module.UNITS.get(key) or format_dim((0,) * 7)
        if unit != given:
            raise ValueError(f"--set {text!r}: {key} is in {unit}, the value is in {given}")


def load_weights(net, path: Path) -> None:
    """Replace synaptic state arrays by those in an .npz (as ``snnlang train`` writes)."""
    import zipfile

    import numpy as np

    try:
        archive = np.load(path)
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"--weights {path}: cannot read it as an .npz ({e})") from None
    with archive as data:
        for key in data.files:
            if key.startswith("input:"):  # a trained bias: the outside value of an input variable
                net.set_input(key[6:], data[key].copy())
                continue
            if key not in net.state:
                raise KeyError(f"{path}: {key!r} is not a state array of this network")
            if net.state[key].shape != data[key].shape:
                raise ValueError(f"{path}: {key!r} has shape {data[key].shape}, the network's is {net.state[key].shape}")
            net.state[key] = data[key].astype(net.state[key].dtype)


def write_outputs(module, net, out: Path, build_s: float, run_s: float, plots: bool = True) -> dict:
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    seconds = net.step * net.dt
    spikes, states, populations = {}, {}, {}
    for kind, pop, variables, first, stop, stride, _ in module.MONITORS:
        if kind == "spikes":
            times, index = net.spikes(pop)
            spikes[f"{pop}_t"], spikes[f"{pop}_i"] = times, index
            n = len(range(first, stop, stride))
            populations[pop] = {"n": n, "spikes": int(len(times)),
                                "rate_hz": float(len(times) / n / seconds) if seconds and n else 0.0}
        else:
            for var in variables:
                times, values = net.trace(pop, var)
                states[f"{pop}_{var}"], states[f"{pop}_t"] = values, times
    np.savez(out / "spikes.npz", **spikes)
    if states:
        np.savez(out / "state.npz", **states)
    summary = {"network": module.NETWORK, "populations": populations, "steps": net.step, "dt": net.dt,
               "duration_s": seconds, "seed": net.seed, "build_s": round(build_s, 4), "run_s": round(run_s, 4),
               "synops": int(net.synops), "spec": module.SPEC, "spec_hash": module.SPEC_HASH}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
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
    traces = [(pop, f"{pop}_{var}") for kind, pop, variables, *_ in module.MONITORS if kind == "state"
              for var in variables]
    if traces:
        fig, axes = plt.subplots(len(traces), 1, figsize=(8, 1.5 + 1.5 * len(traces)), sharex=True, squeeze=False)
        for ax, (pop, key) in zip(axes[:, 0], traces):
            ax.plot(states[pop + "_t"], states[key], lw=0.8)
            ax.set_ylabel(key)
        axes[-1, 0].set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(out / "traces.png", dpi=100)
        plt.close(fig)


