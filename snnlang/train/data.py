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

Encoders (``encode = ...``) turn a batch into input spikes (steps, batch, inputs):
``poisson``, ``latency``, ``current`` and ``events``; see :func:`encode`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import form_arguments


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
                        self.width, self.height)

    def arrays(self, suffix: str = "") -> dict[str, np.ndarray]:
        return {f"events_x{suffix}": self.x, f"events_y{suffix}": self.y, f"events_t{suffix}": self.t,
                f"events_p{suffix}": self.p, f"events_ptr{suffix}": self.ptr}

    @classmethod
    def from_arrays(cls, data, suffix: str = "") -> "EventSet":
        return cls(np.asarray(data[f"events_x{suffix}"], dtype=np.int64), np.asarray(data[f"events_y{suffix}"], dtype=np.int64),
                   np.asarray(data[f"events_t{suffix}"], dtype=float), np.asarray(data[f"events_p{suffix}"], dtype=np.int64),
                   np.asarray(data[f"events_ptr{suffix}"], dtype=np.int64), int(data["width"]), int(data["height"]))


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
    arguments not given take their defaults, snnlang.settings)."""
    kwargs = form_arguments("data", name, kwargs)
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
        with np.load(path) as data:
            files = set(data.files)
            if "events_ptr" in files:
                X, y = EventSet.from_arrays(data), np.asarray(data["y"]).astype(int)
                if "events_ptr_test" in files:
                    return X, y, EventSet.from_arrays(data, "_test"), np.asarray(data["y_test"]).astype(int)
                return split(X, y, fraction, seed)
            if "X" not in files or "y" not in files:
                raise ValueError(f"{path}: an npz data set needs arrays X and y (or events_x, ... events_ptr and y)")
            X, y = data["X"].reshape(len(data["X"]), -1).astype(float), data["y"].astype(int)
            if "X_test" in files:
                Xt = data["X_test"].reshape(len(data["X_test"]), -1).astype(float)
                return X, y, Xt, data["y_test"].astype(int)
        return split(X, y, fraction, seed)


def cached_dvs_digits(kwargs: dict):
    """:func:`snnlang.train.dvs.dvs_digits`, kept in the snnlang cache folder (it takes seconds to emulate)."""
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


def encode(kind: str, X, steps: int, rng: np.random.Generator, kwargs: dict, n_in: int | None = None) -> np.ndarray:
    """Input spikes (steps, batch, features) for a batch.

    ``poisson(steps, gain = 1)``: Bernoulli rate coding, a spike with probability
        clip(gain * x, 0, 1) at every step, drawn afresh for every batch;
    ``latency(steps, tau = steps - 1, threshold = 0.01)``: one spike per feature at
        step round((1 - x) * tau), none for x <= threshold (time to first spike, linear);
    ``current(steps, gain = 1)``: direct coding, the value gain * x itself at every step;
    ``events(steps, duration)``: an event stream (x, y, t, polarity) binned into steps
        of duration / steps: an event at time t falls in step round(t / (duration / steps))
        (the simulator's ``feed_events`` rule), events after the last step are dropped; the
        input index is polarity * width * height + y * width + x, a spike (1) where one or
        more events fell.
    Arguments not in ``kwargs`` take the defaults of ``encode = <kind>(...)`` (snnlang.settings).
    """
    kwargs = form_arguments("encode", kind, kwargs, "bptt")
    if kind == "events":
        if not isinstance(X, EventSet):
            raise ValueError("encode = events(...) needs an event data set (dvs_digits(...) or an npz of events)")
        return bin_events(X, steps, kwargs["duration"], n_in)
    if isinstance(X, EventSet):
        raise ValueError(f"the data are event streams: use encode = events(steps = ..., duration = ...), not {kind}(...)")
    X = np.asarray(X, dtype=float)
    if kind == "poisson":
        return (rng.random((steps,) + X.shape) < np.clip(X * kwargs["gain"], 0, 1)).astype(float)
    if kind == "latency":
        tau = steps - 1 if kwargs["tau"] is None else kwargs["tau"]
        threshold = kwargs["threshold"]
        t = np.where(X > threshold, np.round((1 - np.clip(X, 0, 1)) * tau), steps).astype(int)
        out = np.zeros((steps,) + X.shape)
        b, f = np.nonzero(t < steps)
        out[t[b, f], b, f] = 1.0
        return out
    return np.repeat((X * kwargs["gain"])[None], steps, axis=0)  # current


def event_steps(t: np.ndarray, dt: float) -> np.ndarray:
    """The step of each event time: round(t / dt), as the simulator's feed_events."""
    return np.rint(np.asarray(t, dtype=float) / dt).astype(np.int64)


def bin_events(events: EventSet, steps: int, duration: float | None = None, n_in: int | None = None) -> np.ndarray:
    """(steps, samples, 2 * width * height) spikes of an event set (see :func:`encode`)."""
    if duration is None:
        duration = float(events.t.max()) if len(events.t) else 1.0
    dt = duration / steps
    W, H = events.width, events.height
    size = 2 * W * H
    if n_in is not None and n_in != size:
        raise ValueError(f"the events are {W} x {H} with two polarities ({size} inputs); the network's input has {n_in}")
    out = np.zeros((steps, len(events), size))
    sample = np.repeat(np.arange(len(events)), np.diff(events.ptr))
    step = event_steps(events.t, dt)
    index = (events.p > 0) * W * H + events.y * W + events.x
    keep = (step >= 0) & (step < steps)
    out[step[keep], sample[keep], index[keep]] = 1.0
    return out
