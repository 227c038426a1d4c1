"""Plots of a run, for people to read: :func:`raster` (spikes per population, with the
population rates under them), :func:`rates`, :func:`traces` (recorded variables, with
their units) and :func:`weights` (a synapse monitor's last values and their mean over
time). Each returns a matplotlib ``Figure`` (shown by a notebook, saved with
``fig.savefig``); ``snnlang run`` saves raster.png and traces.png.

```python
import snnlang.plot
snnlang.plot.raster("runs/cuba")              # a run folder of snnlang run
snnlang.plot.traces("runs/cuba", max_lines=3)
snnlang.plot.weights("runs/stdp", "drive_exc")   # a synapse monitor: monitor w of drive_exc every 100 ms
snnlang.plot.raster({"exc": (times, neurons)}, sizes={"exc": 800}, duration=1.0, dt=1e-4)
```

Time is in ms, rates in Hz, variables in their units with a prefix chosen for the values
(``v (mV)``, ``I_syn (nA)``). A population of more than ``max_neurons`` monitored neurons
shows ``max_neurons`` of them, evenly spread over its indices, and says so in its title; the
rate panel counts every neuron. matplotlib is optional (``pip install 'snnlang[plots]'``):
without it each helper raises ImportError saying so. The figures are made without pyplot,
so drawing them changes no global state (no backend is chosen, nothing stays open).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

#: What a missing matplotlib is told with.
NEED_MATPLOTLIB = "matplotlib is not installed: pip install 'snnlang[plots]'"
#: The most neurons a raster shows per population (more are subsampled).
MAX_NEURONS = 1000
#: The most lines a trace panel draws (more are subsampled).
MAX_LINES = 10

Source = Union[str, Path, Mapping]


def require() -> None:
    """ImportError (NEED_MATPLOTLIB) unless matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(NEED_MATPLOTLIB) from None


def _figure(**kwargs):
    require()
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kwargs)


def close(fig) -> None:
    """Free a figure's drawing (a figure made here is in no pyplot registry)."""
    fig.clear()


# ---- numbers ------------------------------------------------------------------------------

def subsample(ids, cap: int = MAX_NEURONS) -> np.ndarray:
    """At most ``cap`` of the neuron indices ``ids``, evenly spread over them (first and last included)."""
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    if ids.size <= cap:
        return ids
    if cap <= 0:
        return ids[:0]
    return ids[np.unique(np.linspace(0, ids.size - 1, cap).round().astype(np.int64))]


def default_bin(duration: float, dt: Optional[float] = None) -> float:
    """A bin for population rates: about a hundredth of the run, rounded up to 1, 2 or 5 times a
    power of ten seconds, and a whole number of steps ``dt``."""
    raw = max(duration, 0.0) / 100
    exponent = math.floor(math.log10(raw)) if raw > 0 else -3
    width = next(m * 10.0 ** e for e in (exponent, exponent + 1) for m in (1, 2, 5) if m * 10.0 ** e >= raw * (1 - 1e-9))
    if dt:
        width = max(1, round(width / dt)) * dt
    return width


def population_rate(times, n: int, duration: float, bin: float, dt: Optional[float] = None):
    """(bin start times in s, rate in Hz): the spikes of ``n`` neurons in each bin of width
    ``bin`` over [0, duration), divided by ``n`` and the bin's width (the last bin may be
    shorter). With ``dt`` the spikes are binned by their step, exactly."""
    times = np.asarray(times, dtype=float)
    if dt:
        per_bin = max(1, round(bin / dt))
        total = max(1, round(duration / dt))
        bins = -(-total // per_bin)
        counts = np.bincount(np.rint(times / dt).astype(np.int64) // per_bin, minlength=bins)[:bins]
        starts = np.arange(bins) * per_bin * dt
        widths = np.minimum(per_bin, total - np.arange(bins) * per_bin) * dt
    else:
        bins = max(1, math.ceil(duration / bin - 1e-9))
        edges = np.minimum(np.arange(bins + 1) * bin, duration)
        counts, _ = np.histogram(times, edges)
        starts, widths = edges[:-1], np.diff(edges)
    return starts, counts / (max(n, 1) * widths)


_PREFIXES = ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""), (1e3, "k"), (1e6, "M"),
             (1e9, "G"))


def display_unit(unit: Optional[str], values) -> tuple[float, str]:
    """(factor, unit text): the values times the factor are in the unit text, a prefix of
    ``unit`` chosen so that the largest magnitude is from 1 to 1000 (``V`` at -0.065: 1000, mV).
    A compound unit (``V/s``) keeps its SI form; a pure number has no unit text."""
    if not unit or unit == "1":
        return 1.0, ""
    if not re.fullmatch(r"[A-Za-z]+", unit) or unit in ("kg", "mol", "cd", "K"):
        return 1.0, unit
    values = np.asarray(values, dtype=float)
    finite = np.abs(values[np.isfinite(values)]) if values.size else values
    big = float(finite.max()) if finite.size else 0.0
    if big == 0:
        return 1.0, unit
    scale, prefix = next(((s, p) for s, p in reversed(_PREFIXES) if big >= s * (1 - 1e-12)), _PREFIXES[0])
    return 1.0 / scale, prefix + unit


# ---- sources --------------------------------------------------------------------------------

def _summary(folder: Path, summary: Optional[dict]) -> dict:
    if summary is not None:
        return summary
    try:
        return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _spikes(source: Source, summary, sizes, duration, dt):
    """{population: (times, neurons)}, {population: monitored neuron ids}, duration, dt, title."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        info = _summary(folder, summary)
        with np.load(folder / "spikes.npz") as data:
            arrays = {k: data[k] for k in data.files}
    else:
        info, arrays = summary or {}, dict(source)
    spikes = {}
    for key, value in arrays.items():
        if isinstance(value, tuple):
            spikes[key] = (np.asarray(value[0], dtype=float), np.asarray(value[1], dtype=np.int64))
        elif key.endswith("_t") and key[:-2] + "_i" in arrays:
            spikes[key[:-2]] = (np.asarray(value, dtype=float), np.asarray(arrays[key[:-2] + "_i"], dtype=np.int64))
    ids = {}
    for pop, (t, i) in spikes.items():
        known = (info.get("spike_neurons") or {}).get(pop)
        if sizes and pop in sizes:
            ids[pop] = np.arange(int(sizes[pop]))
        elif isinstance(known, dict):  # a slice
            ids[pop] = np.arange(known["start"], known["stop"], known["step"])
        elif isinstance(known, list):
            ids[pop] = np.asarray(known, dtype=np.int64)
        else:
            ids[pop] = np.arange(int(i.max()) + 1 if i.size else 0)
    dt = dt if dt is not None else info.get("dt")
    if duration is None:
        duration = info.get("duration_s")
    if duration is None:
        last = max((float(t.max()) for t, _ in spikes.values() if t.size), default=0.0)
        duration = last + (dt or 0.0) or 1.0
    return spikes, ids, float(duration), dt, info.get("network")


def _counts(info_ids: dict, summary_pops: dict, pop: str) -> int:
    n = (summary_pops.get(pop) or {}).get("n")
    return int(n) if n else len(info_ids[pop])


# ---- figures ---------------------------------------------------------------------------------

def raster(source: Source, *, summary: Optional[dict] = None, populations=None, max_neurons: int = MAX_NEURONS,
           rates: bool = True, bin: Optional[float] = None, sizes: Optional[Mapping[str, int]] = None,
           duration: Optional[float] = None, dt: Optional[float] = None, title: Optional[str] = None):
    """The spikes of each population in a panel of its own colour (time in ms, neuron index
    with whole-number ticks), and under them the rate of each population in Hz over bins of
    ``bin`` seconds (default :func:`default_bin`). ``source``: a run folder (spikes.npz and
    summary.json), or arrays as spikes.npz holds them (``{"exc_t": ..., "exc_i": ...}``) or as
    ``{"exc": (times, neurons)}``; then ``sizes`` (neurons per population, default: the
    largest index + 1), ``duration`` and ``dt`` (seconds) say what the folder's summary would.
    None when there is no spike monitor."""
    spikes, ids, duration, dt, network = _spikes(source, summary, sizes, duration, dt)
    pops = [p for p in (populations or spikes) if p in spikes]
    if not pops:
        return None
    fig = _figure(figsize=(9, 1.2 + 1.6 * len(pops) + (1.6 if rates else 0)))
    ratios = [1.0] * len(pops) + ([0.8] if rates else [])
    axes = fig.subplots(len(ratios), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    from matplotlib.ticker import MaxNLocator

    for k, (ax, pop) in enumerate(zip(axes, pops)):
        t, i = spikes[pop]
        shown = subsample(ids[pop], max_neurons)
        keep = np.isin(i, shown) if shown.size < len(ids[pop]) else slice(None)
        tk, ik = t[keep], i[keep]
        marker, size = (",", 1) if tk.size > 50_000 else (".", 2 if tk.size > 2000 else 4)
        ax.plot(tk * 1e3, ik, linestyle="none", marker=marker, ms=size, color=f"C{k}", label=pop)
        total = len(ids[pop])
        ax.set_title(f"{pop}: {shown.size} of {total} neurons shown" if shown.size < total
                     else f"{pop}: {total} neuron{'s' if total != 1 else ''}", fontsize="medium", loc="left")
        ax.set_ylabel("neuron index")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if total:
            ax.set_ylim(float(np.min(ids[pop])) - 0.5, float(np.max(ids[pop])) + 0.5)
    if rates:
        _rate_panel(axes[-1], spikes, ids, pops, summary_pops(source, summary), duration, dt, bin)
    axes[-1].set_xlabel("time (ms)")
    axes[-1].set_xlim(0, duration * 1e3)
    fig.suptitle(title or (f"{network}: spikes" if network else "spikes"))
    return fig


def summary_pops(source: Source, summary: Optional[dict]) -> dict:
    if isinstance(source, (str, Path)):
        return _summary(Path(source), summary).get("populations", {})
    return (summary or {}).get("populations", {})


def _rate_panel(ax, spikes, ids, pops, known: dict, duration, dt, bin) -> float:
    width = bin if bin is not None else default_bin(duration, dt)
    for k, pop in enumerate(pops):
        starts, hz = population_rate(spikes[pop][0], _counts(ids, known, pop), duration, width, dt)
        ends = np.append(starts[1:], duration)
        ax.plot((starts + ends) / 2 * 1e3, hz, color=f"C{k}", label=pop, lw=1.2)
    ax.set_ylabel(f"rate (Hz)\n{width * 1e3:g} ms bins")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", fontsize="small", ncol=min(len(pops), 4))
    return width


def rates(source: Source, *, summary: Optional[dict] = None, populations=None, bin: Optional[float] = None,
          sizes: Optional[Mapping[str, int]] = None, duration: Optional[float] = None, dt: Optional[float] = None,
          title: Optional[str] = None):
    """The rate of each population in Hz over bins of ``bin`` seconds (default
    :func:`default_bin`), one line per population; ``source`` as for :func:`raster`."""
    spikes, ids, duration, dt, network = _spikes(source, summary, sizes, duration, dt)
    pops = [p for p in (populations or spikes) if p in spikes]
    if not pops:
        return None
    fig = _figure(figsize=(9, 3))
    ax = fig.subplots()
    _rate_panel(ax, spikes, ids, pops, summary_pops(source, summary), duration, dt, bin)
    ax.set_xlabel("time (ms)")
    ax.set_xlim(0, duration * 1e3)
    fig.suptitle(title or (f"{network}: population rates" if network else "population rates"))
    return fig


def _traces(source: Source, summary, units):
    """[(population, variable, times, values (T x columns), neurons, unit)] of state.npz."""
    if isinstance(source, (str, Path)):
        folder = Path(source)
        info = _summary(folder, summary)
        path = folder / "state.npz"
        if not path.exists():
            return [], info.get("network")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    else:
        info, arrays = summary or {}, dict(source)
    units = {**(info.get("units") or {}), **(units or {})}
    found = []
    for key in arrays:
        if not key.endswith("_neurons"):
            continue
        base = key[: -len("_neurons")]
        owners = [k[:-2] for k in arrays if k.endswith("_t") and base.startswith(k[:-2] + "_")]
        if not owners or base not in arrays:
            continue
        pop = max(owners, key=len)
        values = np.asarray(arrays[base], dtype=float)
        found.append((pop, base[len(pop) + 1:], np.asarray(arrays[pop + "_t"], dtype=float),
                      values.reshape(len(values), -1), np.asarray(arrays[key]).ravel(), units.get(base)))
    return found, info.get("network")


def traces(source: Source, *, summary: Optional[dict] = None, variables=None, max_lines: int = MAX_LINES,
           units: Optional[Mapping[str, str]] = None, title: Optional[str] = None):
    """Each recorded variable in a panel (time in ms; the variable in its unit, with a prefix
    that suits the values), one line per neuron labelled ``pop[k]`` (at most ``max_lines``,
    evenly spread). ``source``: a run folder (state.npz and summary.json) or arrays as state.npz
    holds them (``<pop>_<var>``, ``<pop>_t``, ``<pop>_<var>_neurons``), with ``units``
    (``{"cells_v": "V"}``) in SI. ``variables``: the ``<pop>_<var>`` keys to draw. None when
    nothing is recorded."""
    found, network = _traces(source, summary, units)
    if variables is not None:
        found = [f for f in found if f"{f[0]}_{f[1]}" in variables]
    if not found:
        return None
    fig = _figure(figsize=(9, 1.2 + 1.9 * len(found)))
    axes = fig.subplots(len(found), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (pop, var, t, values, neurons, unit) in zip(axes, found):
        columns = subsample(np.arange(values.shape[1]), max_lines)
        factor, text = display_unit(unit, values)
        lines = ax.plot(t * 1e3, values[:, columns] * factor, lw=0.9)
        labels = [f"{pop}[{neurons[c]}]" if c < len(neurons) else f"{pop}[column {c}]" for c in columns]
        if len(lines) > 1:
            ax.legend(lines, labels, fontsize="small", loc="upper right", ncol=1 + len(lines) // 6)
        shown = f", {len(columns)} of {values.shape[1]} neurons shown" if len(columns) < values.shape[1] else ""
        ax.set_title((labels[0] if len(lines) == 1 else f"{pop}: {var}") + shown, fontsize="medium", loc="left")
        ax.set_ylabel(f"{var} ({text})" if text else var)
    axes[-1].set_xlabel("time (ms)")
    fig.suptitle(title or (f"{network}: recorded variables" if network else "recorded variables"))
    return fig


def weights(source: Source, connection: str, variable: str = "w", *, bins: int = 50, title: Optional[str] = None):
    """A synapse monitor's record (``monitor w of exc_exc every 100 ms``): a histogram of the
    last sample's values and, beside it, their mean over time with the band of one standard
    deviation. ``source``: a run folder (its state.npz) or arrays as state.npz holds them
    (``<connection>_<variable>``: samples x synapses, ``<connection>_<variable>_t``). None when
    the connection's variable was not recorded (or has no sample)."""
    if isinstance(source, (str, Path)):
        path = Path(source) / "state.npz"
        if not path.exists():
            return None
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    else:
        arrays = dict(source)
    key = f"{connection}_{variable}"
    if key not in arrays or key + "_t" not in arrays:
        return None
    values = np.asarray(arrays[key], dtype=float)
    times = np.asarray(arrays[key + "_t"], dtype=float)
    if values.ndim != 2 or not len(values):
        return None
    fig = _figure(figsize=(9, 3.2))
    left, right = fig.subplots(1, 2)
    last = values[-1]
    left.hist(last[np.isfinite(last)], bins=bins, color="C0")
    left.set_xlabel(variable)
    left.set_ylabel("synapses")
    left.set_title(f"at t = {times[-1] * 1e3:g} ms ({values.shape[1]} synapses)", fontsize="medium", loc="left")
    mean, std = values.mean(axis=1), values.std(axis=1)
    right.plot(times * 1e3, mean, color="C1", label="mean")
    right.fill_between(times * 1e3, mean - std, mean + std, color="C1", alpha=0.25, lw=0, label="± 1 s.d.")
    right.set_xlabel("time (ms)")
    right.set_ylabel(variable)
    right.legend(loc="best", fontsize="small")
    fig.suptitle(title or f"{connection}: {variable}")
    return fig


__all__ = ["raster", "rates", "traces", "weights", "population_rate", "default_bin", "subsample", "display_unit",
           "MAX_NEURONS", "NEED_MATPLOTLIB"]
