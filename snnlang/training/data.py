"""Data sets and input encoders for training.

Data sets (``data = ...`` in a train block):

``digits(test_fraction = 0.25, seed = 0)``
    scikit-learn's bundled 8x8 digits (1797 samples, no download), pixels scaled
    to [0, 1], a stratified split.
``npz(file = "data.npz", test_fraction = 0.25, seed = 0)``
    arrays ``X`` (samples, ...) and ``y``, optionally ``X_test`` and ``y_test``
    (else a stratified split); or an event data set: ``events_x``, ``events_y``,
    ``events_t`` (seconds), ``events_p`` (0/1) and ``events_ptr`` (samples + 1
    offsets into them), with ``y``, ``width`` and ``height`` (and the same with
    the suffix ``_test`` for a fixed test set).
``dvs_digits(...)``
    the digits as seen by an emulated event camera (:mod:`.dvs`).
``tonic(name = "NMNIST", root = "data", ...)``
    a neuromorphic data set in tonic's files, read once and cached (:mod:`.datasets`).

Encoders (``encode = ...``) turn a batch into input spikes (steps, batch, inputs):
``poisson``, ``latency``, ``current`` and ``events``; see :func:`encode`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..frontend.settings import form_arguments


@dataclass
class EventSet:
    """Event streams of many samples, stored compressed: sample k owns events ptr[k]:ptr[k+1]."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray  # seconds from the start of the sample
    p: np.ndarray  # polarity: 1 brighter, 0 darker
    ptr: np.ndarray
    width: int
    height: int
    polarities: int = 2  # 1: channels without polarity (audio spikes, SHD), input y * width + x

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def sample(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.ptr[k], self.ptr[k + 1]
        return self.x[a:b], self.y[a:b], self.t[a:b], self.p[a:b]

    def __getitem__(self, index) -> "EventSet":
        index = np.arange(len(self))[index]
        parts = [self.sample(int(k)) for k in np.atleast_1d(index)]
        sizes = np.array([len(p[0]) for p in parts], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

        def cat(j, dtype):
            return np.concatenate([p[j] for p in parts]).astype(dtype) if parts else np.zeros(0, dtype)

        return EventSet(cat(0, np.int64), cat(1, np.int64), cat(2, float), cat(3, np.int64), ptr,
                        self.width, self.height, self.polarities)

    @property
    def inputs(self) -> int:
        """The inputs the events drive by default: polarities * width * height."""
        return self.polarities * self.width * self.height

    def arrays(self, suffix: str = "") -> dict[str, np.ndarray]:
        return {f"events_x{suffix}": self.x, f"events_y{suffix}": self.y, f"events_t{suffix}": self.t,
                f"events_p{suffix}": self.p, f"events_ptr{suffix}": self.ptr}

    @classmethod
    def from_arrays(cls, data, suffix: str = "") -> "EventSet":
        names = getattr(data, "files", data)
        return cls(np.asarray(data[f"events_x{suffix}"], dtype=np.int64), np.asarray(data[f"events_y{suffix}"], dtype=np.int64),
                   np.asarray(data[f"events_t{suffix}"], dtype=float), np.asarray(data[f"events_p{suffix}"], dtype=np.int64),
                   np.asarray(data[f"events_ptr{suffix}"], dtype=np.int64), int(data["width"]), int(data["height"]),
                   int(data["polarities"]) if "polarities" in names else 2)


def split(X, y, fraction: float, seed: int):
    """A stratified split: (X_train, y_train, X_test, y_test)."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=fraction, stratify=y, random_state=seed)
    return X[train], y[train], X[test], y[test]


def digits(test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's digits in [0, 1]: (X_train, y_train, X_test, y_test), 1347 / 450 samples by default."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return split(d.data / 16.0, d.target, test_fraction, seed)


def load(name: str, kwargs: dict, base: Path):
    """(X_train, y_train, X_test, y_test) of a data set named in a train block (``data = <name>(...)``;
    arguments not given take their defaults, snnlang.frontend.settings)."""
    kwargs = form_arguments("data", name, kwargs)
    if name == "tonic":
        from .datasets import load_tonic

        return load_tonic(kwargs, base)
    fraction, seed = kwargs["test_fraction"], kwargs["seed"]
    if name == "digits":
        return digits(fraction, seed)
    if name == "dvs_digits":
        return cached_dvs_digits(kwargs)
    if name == "npz":
        if kwargs["file"] is None:
            raise ValueError('npz() needs file = "path.npz"')
        path = Path(kwargs["file"])
        path = path if path.is_absolute() else base / path
        return _npz(path, fraction, seed)


def _npz(path: Path, fraction: float, seed: int):
    """An npz data set, checked: a file NumPy can read (pickles refused), as many labels as samples,
    labels that are whole numbers from 0, finite inputs. ValueError says what is wrong."""
    import zipfile

    if not path.is_file():
        raise ValueError(f"the data file {str(path)!r} " + ("is not a file" if path.exists() else "does not exist"))
    try:
        archive = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{str(path)!r}: cannot read it as an .npz ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{str(path)!r}: one array (.npy); a data set is an .npz with arrays X and y")
    try:
        with archive as data:
            files = set(data.files)
            if "events_ptr" in files:
                X, y = EventSet.from_arrays(data), _labels(data["y"], path, "y", len(data["events_ptr"]) - 1)
                if "events_ptr_test" in files:
                    return X, y, EventSet.from_arrays(data, "_test"), _labels(
                        data["y_test"], path, "y_test", len(data["events_ptr_test"]) - 1)
                return split(X, y, fraction, seed)
            if "X" not in files or "y" not in files:
                raise ValueError(f"{str(path)!r}: an npz data set needs arrays X and y "
                                 "(or events_x, ... events_ptr and y)")
            X, y = _inputs(data["X"], path, "X"), _labels(data["y"], path, "y", len(data["X"]))
            if "X_test" in files:
                if "y_test" not in files:
                    raise ValueError(f"{str(path)!r}: it has X_test but no y_test")
                Xt = _inputs(data["X_test"], path, "X_test")
                return X, y, Xt, _labels(data["y_test"], path, "y_test", len(Xt))
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"{str(path)!r}: cannot read it ({e})") from None
    return split(X, y, fraction, seed)


def _inputs(X, path: Path, name: str) -> np.ndarray:
    """Samples as rows of real numbers, all finite."""
    X = np.asarray(X)
    if X.ndim == 0 or X.dtype.kind not in "biuf":
        raise ValueError(f"{str(path)!r}: {name} must be an array of real numbers, one row per sample; "
                         f"it holds {X.dtype} of shape {X.shape}")
    X = X.reshape(len(X), -1).astype(float)
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(f"{str(path)!r}: {name} holds {int(bad.sum())} NaN or infinite values "
                         f"(first: sample {row}, feature {col})")
    return X


def _labels(y, path: Path, name: str, samples: int) -> np.ndarray:
    """Class labels: one per sample, whole numbers from 0."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise ValueError(f"{str(path)!r}: {name} must be one class label (0, 1, 2, ...) per sample; "
                         f"it holds {y.dtype} of shape {y.shape}")
    if len(y) != samples:
        raise ValueError(f"{str(path)!r}: {samples} samples but {len(y)} labels in {name}")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{str(path)!r}: {name} must hold whole class numbers; {name}[{k}] is {y[k]}")
    if (y < 0).any():
        k = int(np.flatnonzero(y < 0)[0])
        raise ValueError(f"{str(path)!r}: class labels start at 0; {name}[{k}] is {y[k]:g}")
    return y.astype(np.int64)


def load_block_data(settings, base: Path, classes: int | None = None):
    """:func:`load` for the typed settings of a train block; a data set that cannot be used is a
    SpecError at the place the spec names it (``data = npz(file = ...)``, ``tonic(root = ...)``). ``classes``: the
    neurons of the output, one a class: a label must be below it."""
    from ..frontend.diagnostics import Diagnostics, SpecError

    data = settings.data
    try:
        found = load(data.name, data.arguments(), base)
        top = max((int(y.max()) for y in (found[1], found[3]) if len(y)), default=-1)
        if classes is not None and top >= classes:
            raise ValueError(f"a label is {top}, but the output has {classes} neurons, one per class "
                             f"(labels 0 to {classes - 1})")
        return found
    except ValueError as e:
        diags = Diagnostics()
        diags.error(data.where(getattr(e, "argument", "file")), str(e))  # a tonic DataError names its argument
        raise SpecError(diags) from None


def cached_dvs_digits(kwargs: dict):
    """:func:`snnlang.training.dvs.dvs_digits`, kept in the snnlang cache folder (it takes seconds to emulate)."""
    import hashlib
    import inspect
    import json

    from ..cache import cache_dir
    from . import dvs

    digest = hashlib.sha256((json.dumps(kwargs, sort_keys=True, default=str)
                             + inspect.getsource(dvs)).encode()).hexdigest()[:16]
    path = cache_dir() / "data" / f"dvs_digits_{digest}.npz"
    if path.exists():
        with np.load(path) as data:
            return (EventSet.from_arrays(data), data["y"], EventSet.from_arrays(data, "_test"), data["y_test"])
    train, y, test, y_test = dvs.dvs_digits(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **train.arrays(), **test.arrays("_test"), y=y, y_test=y_test, width=train.width, height=train.height)
    tmp.replace(path)
    return train, y, test, y_test


def encode(kind: str, X, steps: int, rng: np.random.Generator, kwargs: dict, n_in: int | None = None,
           dtype=float) -> np.ndarray:
    """Input spikes (steps, batch, features) for a batch, as ``dtype`` (the trainer's precision).

    ``poisson(steps, gain = 1)``: Bernoulli rate coding, a spike with probability
        clip(gain * x, 0, 1) at every step, drawn afresh for every batch;
    ``latency(steps, tau = steps - 1, threshold = 0.01)``: one spike per feature at
        step round((1 - x) * tau), none for x <= threshold (time to first spike, linear);
    ``current(steps, gain = 1)``: direct coding, the value gain * x itself at every step;
    ``events(steps, duration)``: an event stream (x, y, t, polarity) binned into steps
        of duration / steps: an event at time t falls in step round(t / (duration / steps))
        (the simulator's ``feed_events`` rule), events after the last step are dropped; the
        input index is polarity * width * height + y * width + x, a spike (1) where one or
        more events fell (for an input of width * height neurons: y * width + x, polarities merged).
    Arguments not in ``kwargs`` take the defaults of ``encode = <kind>(...)`` (snnlang.frontend.settings).
    """
    kwargs = form_arguments("encode", kind, kwargs, "bptt")
    if kind == "events":
        if not isinstance(X, EventSet):
            raise ValueError("encode = events(...) needs an event data set (dvs_digits(...), tonic(...) or an npz of events)")
        return bin_events(X, steps, kwargs["duration"], n_in)
    if isinstance(X, EventSet):
        raise ValueError(f"the data are event streams: use encode = events(steps = ..., duration = ...), not {kind}(...)")
    X = np.asarray(X, dtype=float)
    if kind == "poisson":
        return (rng.random((steps,) + X.shape) < np.clip(X * kwargs["gain"], 0, 1)).astype(dtype)
    if kind == "latency":
        tau = steps - 1 if kwargs["tau"] is None else kwargs["tau"]
        threshold = kwargs["threshold"]
        t = np.where(X > threshold, np.round((1 - np.clip(X, 0, 1)) * tau), steps).astype(int)
        out = np.zeros((steps,) + X.shape, dtype=dtype)
        b, f = np.nonzero(t < steps)
        out[t[b, f], b, f] = 1.0
        return out
    return np.repeat((X * kwargs["gain"])[None], steps, axis=0).astype(dtype, copy=False)  # current


def event_steps(t: np.ndarray, dt: float) -> np.ndarray:
    """The step of each event time: round(t / dt), as the simulator's feed_events."""
    return np.rint(np.asarray(t, dtype=float) / dt).astype(np.int64)


def bin_events(events: EventSet, steps: int, duration: float | None = None, n_in: int | None = None) -> np.ndarray:
    """(steps, samples, inputs) spikes of an event set (see :func:`encode`).

    ``n_in``: the network's input size: 2 * width * height (an ``events()`` input: polarity
    * width * height + y * width + x, as ``feed_events`` numbers them) or width * height
    (one input per pixel or channel, polarities merged: an N-channel ``poisson(N, rate = 0 Hz)``
    input for audio spikes); by default the event set's own (``polarities * width * height``)."""
    if duration is None:
        duration = float(events.t.max()) if len(events.t) else 1.0
    dt = duration / steps
    W, H = events.width, events.height
    size = events.inputs if n_in is None else n_in
    if size not in (2 * W * H, W * H):
        what = f"{W} x {H} pixels" if H > 1 else f"{W} channels"
        raise ValueError(f"the events are {what}: an input of {2 * W * H} neurons (two polarities) or {W * H} "
                         f"takes them; the network's input has {n_in}")
    out = np.zeros((steps, len(events), size))
    sample = np.repeat(np.arange(len(events)), np.diff(events.ptr))
    step = event_steps(events.t, dt)
    index = events.y * W + events.x
    if size == 2 * W * H:
        index = index + (events.p > 0) * W * H
    keep = (step >= 0) & (step < steps)
    out[step[keep], sample[keep], index[keep]] = 1.0
    return out
