"""Small data sets written in tonic's own files, for tests and benchmarks (nothing is downloaded).

:func:`write` lays samples out as tonic keeps a data set under ``root/<name>/``
(:data:`snnlang.training.datasets.LAYOUTS`): N-MNIST's 40-bit ``.bin`` events, DVS Gesture's
and POKER-DVS's ``.npy`` arrays, the Heidelberg ``.h5`` files; with ``archives = True`` also
the (empty) archive files tonic looks for before it reads, so that tonic's own data set
classes read the folder without downloading where they check no more than that (SHD, SSC).

:func:`nmnist_like` and :func:`shd_like` make learnable stand-ins of the two families:
scikit-learn's digits moved along N-MNIST's three saccades in front of the emulated camera
of :mod:`.dvs` (34 x 34 pixels, 300 ms), and spoken-digit-like spike patterns on 700
channels (ridges of activity that sweep across the channels, a pattern per class).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import LAYOUTS, OVERFLOW_Y, POKER_CLASSES


def write(name: str, root, train: tuple[list, np.ndarray], test: tuple[list, np.ndarray],
          archives: bool = False) -> Path:
    """Write (samples, labels) of both parts in tonic's layout of data set ``name`` under ``root``;
    a sample is (x, y, t in seconds, p). Returns root/<name>."""
    layout = LAYOUTS[name]
    folder = layout.folder(Path(root))
    folder.mkdir(parents=True, exist_ok=True)
    for part, (samples, labels) in enumerate((train, test)):
        WRITERS[layout.format](folder / layout.parts[part], samples, np.asarray(labels), layout)
        if archives:
            (folder / layout.archives[part]).touch()
    return folder


def write_nmnist_bin(path, x, y, t_us, p) -> None:
    """One N-MNIST file: per event the bytes x, y, p << 7 | t >> 16, (t >> 8) & 255, t & 255."""
    x, y, t, p = (np.asarray(a, dtype=np.int64) for a in (x, y, t_us, p))
    if len(x) and (x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255 or (y == OVERFLOW_Y).any()
                   or t.min() < 0 or t.max() >= 2**23):
        raise ValueError("N-MNIST's format holds x, y in 0..255 (y not 240) and times below 2^23 µs")
    raw = np.stack([x, y, (p > 0) << 7 | (t >> 16) & 127, (t >> 8) & 255, t & 255], axis=1).astype(np.uint8)
    raw.tofile(path)


def _nmnist(folder: Path, samples, labels, layout) -> None:
    for k, ((x, y, t, p), label) in enumerate(zip(samples, labels)):
        sub = folder / str(int(label))
        sub.mkdir(parents=True, exist_ok=True)
        write_nmnist_bin(sub / f"{k:05d}.bin", x, y, np.rint(np.asarray(t) * 1e6), p)


def _gesture(folder: Path, samples, labels, layout) -> None:
    seen: dict[int, int] = {}
    for (x, y, t, p), label in zip(samples, labels):
        user = seen[int(label)] = seen.get(int(label), 0) + 1  # one file per label and user folder
        sub = folder / f"user{user:02d}_fluorescent"
        sub.mkdir(parents=True, exist_ok=True)
        a = np.stack([x, y, np.asarray(p) > 0, np.rint(np.asarray(t) * 1e3)], axis=1).astype(np.int64)
        np.save(sub / f"{int(label)}.npy", a)


def _poker(folder: Path, samples, labels, layout) -> None:
    for k, ((x, y, t, p), label) in enumerate(zip(samples, labels)):
        suit = POKER_CLASSES[int(label)]
        sub = folder / suit
        sub.mkdir(parents=True, exist_ok=True)
        a = np.stack([np.rint(np.asarray(t) * 1e6), x, y, np.asarray(p) > 0], axis=1).astype(np.int64)
        np.save(sub / f"{suit}{k:04d}.npy", a)


def _hdf5(path: Path, samples, labels, layout) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
        for k, (x, _y, t, _p) in enumerate(samples):
            times[k] = np.asarray(t, dtype=np.float32)
            units[k] = np.asarray(x, dtype=np.uint16)
        f["labels"] = np.asarray(labels, dtype=np.uint16)
        f["extra/keys"] = np.array([f"class {c}".encode() for c in range(layout.classes)])
        f["extra/speaker"] = np.zeros(len(samples), dtype=np.uint16)


WRITERS = {"nmnist": _nmnist, "gesture": _gesture, "poker": _poker, "hdf5": _hdf5}


# ---- learnable stand-ins ----------------------------------------------------------------------

#: N-MNIST's three saccades: the offset (x, y) in pixels at 0, 100, 200 and 300 ms
SACCADES = np.array([[0.0, 0.0], [3.5, 7.0], [7.0, 0.0], [0.0, 0.0]])


def nmnist_like(count: int, seed: int = 0, part: int = 0, noise: float = 5.0, frames: int = 60):
    """(samples, labels): ``count`` of scikit-learn's digits (scaled 3x to 24 x 24) moved along N-MNIST's
    saccades across 34 x 34 pixels in 300 ms, through the emulated camera; ``noise``: background events
    per pixel and second. Train (part 0) and test (part 1) draw different digits."""
    from sklearn.datasets import load_digits

    from .dvs import events_of, render

    d = load_digits()
    order = np.random.default_rng([seed, 11]).permutation(len(d.target))
    half = len(order) // 2
    index = (order[:half] if part == 0 else order[half:])[:count]
    times = np.linspace(0.0, 0.3, frames + 1)
    path = np.stack([np.interp(times, [0.0, 0.1, 0.2, 0.3], SACCADES[:, j]) for j in (0, 1)], axis=1)
    samples = []
    for k in index:
        image = np.kron(d.images[k] / 16.0, np.ones((3, 3)))
        rng = np.random.default_rng([seed, part, int(k)])
        x0, y0 = 1.5 + rng.uniform(-1, 1), 1.5 + rng.uniform(-1, 1)
        scenes = np.stack([render(image, 34, 34, [x0 + dx], y0 + dy)[0] for dx, dy in path])
        x, y, t, p = events_of(scenes, times, threshold=0.4, noise=noise, rng=rng)
        samples.append((x, y, np.floor(t * 1e6) / 1e6, p))  # whole microseconds, as the files hold them
    return samples, d.target[index].astype(np.int64)


def shd_like(count: int, seed: int = 0, part: int = 0, classes: int = 20, channels: int = 700,
             duration: float = 0.8, rate: float = 600.0, noise: float = 200.0):
    """(samples, labels): spike patterns on ``channels`` channels, ``duration`` long: each class
    three ridges of activity sweeping across the channels (their paths drawn per class), each
    sample with its own shift (+-20 channels), tempo (+-15 %) and Poisson spikes (``rate`` per
    ridge, ``noise`` background spikes per second over all channels)."""
    shapes = np.random.default_rng([seed, 99])
    ridges = [(shapes.uniform(50, channels - 50, 3), shapes.uniform(50, channels - 50, 3),
               shapes.uniform(0.0, 0.3 * duration, 3)) for _ in range(classes)]
    rng = np.random.default_rng([seed, part, 5])
    labels = rng.integers(0, classes, count)
    samples = []
    for label in labels:
        start, end, onset = ridges[label]
        shift, tempo = rng.uniform(-20, 20), rng.uniform(0.85, 1.15)
        ts, units = [], []
        for a, b, t0 in zip(start, end, onset):
            n = rng.poisson(rate * duration * 0.6)
            s = rng.random(n)  # position along the ridge
            ts.append((t0 + s * 0.6 * duration) * tempo)
            units.append(a + (b - a) * s + shift + rng.normal(0, 6, n))
        n = rng.poisson(noise * duration)
        ts.append(rng.random(n) * duration)
        units.append(rng.uniform(0, channels, n))
        t, u = np.concatenate(ts), np.clip(np.rint(np.concatenate(units)), 0, channels - 1).astype(np.int64)
        keep = t < duration
        order = np.argsort(t[keep], kind="stable")
        t, u = t[keep][order], u[keep][order]
        samples.append((u, np.zeros(len(u), np.int64), t.astype(np.float32).astype(float), np.ones(len(u), np.int64)))
    return samples, labels.astype(np.int64)


def write_like(name: str, root, train: int = 200, test: int = 100, seed: int = 0, archives: bool = False) -> Path:
    """Write a stand-in of N-MNIST (``name = "NMNIST"``) or SHD (``"SHD"``) with that many samples."""
    make = {"NMNIST": nmnist_like, "SHD": shd_like}[name]
    return write(name, root, make(train, seed, 0), make(test, seed, 1), archives=archives)


__all__ = ["write", "write_nmnist_bin", "nmnist_like", "shd_like", "write_like"]
