"""``snnlang run``: build (cached by spec hash), simulate, write spikes, summary and plots."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from typing import Optional

from .cache import cache_dir, spec_key
from .units import DIMENSIONLESS, dim_add, dim_scale, format_dim, lookup


def built_package(spec: Path, target: str = "numpy"):
    """The generated package of a spec, built once per spec text and generator, and imported.

    A cached package is found from the spec's text alone: the compiler (and SymPy) is
    loaded only when a package has to be built.
    """
    start = time.perf_counter()
    try:
        key = spec_key(spec, target)
    except OSError:  # an unreadable file: the compiler reports it with its place
        key = None
    package_dir = cache_dir() / f"run_{key}" / "net"
    if key is None or not (package_dir / "__init__.py").exists():
        from .build import render, write_package
        from .frontend import load
        from .plan import make_plan

        plan = make_plan(load(spec))
        write_package(render(plan, target, "net"), package_dir)
    module = _import(package_dir, f"snn_run_{key}")
    return module, time.perf_counter() - start


def _import(package_dir: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, package_dir / "__init__.py",
                                                  submodule_search_locations=[str(package_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


