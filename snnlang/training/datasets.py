"""Neuromorphic data sets in tonic's files: ``data = tonic(name = "NMNIST", root = "data", ...)``.

`tonic <https://tonic.readthedocs.io>`_ downloads the public event data sets into
``root/<name>/`` (its ``save_to`` folder). This module reads what is there:

* **its own reader** for the files of the data sets it knows (:data:`LAYOUTS`): N-MNIST's
  ``.bin`` files of 40-bit events, DVS Gesture's and POKER-DVS's ``.npy`` arrays, the
  Heidelberg spikes' (SHD, SSC) ``.h5`` files. It needs NumPy (and h5py for SHD and SSC),
  not tonic, and reads the folders tonic extracts, in tonic's order;
* **tonic** (``pip install 'snnlang[tonic]'``) only when the files are not there: its data
  set class downloads and extracts them (``tonic.datasets.NMNIST(save_to = root, train = True)``),
  and the reader above reads them; should its layout ever differ, the samples are taken
  from tonic's data set object instead.

The samples then go through the transforms of the ``tonic(...)`` form, in this order:
``denoise`` (an event is kept when one of its four neighbouring pixels had an event less
than the filter time before it: tonic's ``Denoise``, without its start-up rule that keeps
every event of the first filter time), ``align`` (times from each sample's first event, as
tonic's ``ToFrame`` bins), ``downsample = k`` (pixel or channel x // k, y // k: tonic's
``Downsample(spatial_factor = 1/k)``). Binning into the spec's steps is the ``events``
encoder's (:func:`snnlang.training.data.bin_events`), so ``--evaluate --steps`` bins again.

The result is cached as an ``.npz`` (:func:`cache_paths`): beside the data
(``root/snnlang-cache/``) or, where that folder cannot be written, in snnlang's cache
folder. A second run reads the cache only: neither the files nor tonic are touched.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..frontend.settings import TONIC_DATASETS
from .data import EventSet

#: what to install to download a data set
INSTALL = "pip install 'snnlang[tonic]'"
#: the version of the conversion: a cache written by another is read again from the files
CONVERSION = 1
#: N-MNIST's timestamp overflow marker (y == 240) and what it adds to the later timestamps (µs)
OVERFLOW_Y, OVERFLOW_STEP = 240, 2**13


class DataError(ValueError):
    """A data set that cannot be read; ``argument``: the argument of ``tonic(...)`` the spec is told at."""

    def __init__(self, message: str, argument: str = "root"):
        super().__init__(message)
        self.argument = argument


@dataclass(frozen=True)
class Layout:
    """Where tonic keeps a data set under ``root/<name>/`` and what its events are."""

    name: str  # tonic's class name, also its folder
    width: int
    height: int
    polarities: int  # 1: channels (audio spikes)
    classes: int
    format: str  # nmnist | gesture | poker | hdf5
    parts: tuple[str, str]  # the train and test folders (or .h5 files)
    archives: tuple[str, str]  # the archives tonic checks for before it reads (train, test)
    files: str  # the layout, in words

    def folder(self, root: Path) -> Path:
        return root / self.name


LAYOUTS: dict[str, Layout] = {
    "NMNIST": Layout("NMNIST", 34, 34, 2, 10, "nmnist", ("Train", "Test"), ("train.zip", "test.zip"),
                     "Train/<digit>/*.bin and Test/<digit>/*.bin (40-bit events)"),
    "DVSGesture": Layout("DVSGesture", 128, 128, 2, 11, "gesture", ("ibmGestureTrain", "ibmGestureTest"),
                         ("ibmGestureTrain.tar.gz", "ibmGestureTest.tar.gz"),
                         "ibmGestureTrain/user<NN>_<lighting>/<label>.npy (columns x, y, p, t in ms)"),
    "POKERDVS": Layout("POKERDVS", 35, 35, 2, 4, "poker", ("pips_train", "pips_test"),
                       ("pips_train.tar.gz", "pips_test.tar.gz"),
                       "pips_train/<cl|he|di|sp>/*.npy (columns t in µs, x, y, p)"),
    "SHD": Layout("SHD", 700, 1, 1, 20, "hdf5", ("shd_train.h5", "shd_test.h5"),
                  ("shd_train.h5.zip", "shd_test.h5.zip"), "shd_train.h5 and shd_test.h5 (spikes/times in s, "
                  "spikes/units, labels)"),
    "SSC": Layout("SSC", 700, 1, 1, 35, "hdf5", ("ssc_train.h5", "ssc_test.h5"),
                  ("ssc_train.h5.zip", "ssc_test.h5.zip"), "ssc_train.h5 and ssc_test.h5 (spikes/times in s, "
                  "spikes/units, labels)"),
}
assert tuple(LAYOUTS) == TONIC_DATASETS  # the settings table names the same data sets
POKER_CLASSES = ("cl", "he", "di", "sp")  # POKER-DVS's folders: clubs, hearts, diamonds, spades


@dataclass
class Part:
    """The samples of one part (train or test) as read: events per sample (x, y, t in s, p) and labels."""

    events: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    labels: np.ndarray
    names: list[str]  # where each sample came from, for messages


# ---- loading ---------------------------------------------------------------------------------

def load_tonic(args: dict, base: Path):
    """(events_train, y_train, events_test, y_test) of ``data = tonic(...)``; ``args``: its arguments
    with defaults, ``base``: the spec's folder. Raises :class:`DataError`."""
    layout = LAYOUTS.get(args["name"])
    if layout is None:  # settings reject it first; this is for code called with plain values
        raise DataError(f"unknown tonic data set {args['name']!r}; snnlang reads {', '.join(LAYOUTS)}", "name")
    root = Path(os.path.expanduser(str(args["root"])))
    root = root if root.is_absolute() else Path(base) / root
    key = cache_key(layout.name, args)
    for path in cache_paths(root, layout.name, key):
        found = read_cache(path, key)
        if found is not None:
            return found
    parts = [convert(read_part(layout, root, k, args.get("limit"), args.get("seed", 0)), layout, args)
             for k in (0, 1)]
    result = (parts[0][0], parts[0][1], parts[1][0], parts[1][1])
    write_cache(cache_paths(root, layout.name, key), key, result)
    return result


def read_part(layout: Layout, root: Path, part: int, limit: Optional[int] = None, seed: int = 0) -> Part:
    """The samples of the train (0) or test (1) part: from the files if they are there, else
    through tonic (which downloads them)."""
    if not _present(layout, root, part):
        dataset = _tonic_dataset(layout, root, part)
        if not _present(layout, root, part):  # tonic keeps them elsewhere: its own samples
            return _from_tonic(dataset, layout, limit, seed, part)
    return READERS[layout.format](layout, root, part, limit, seed)


def _present(layout: Layout, root: Path, part: int) -> bool:
    where = layout.folder(root) / layout.parts[part]
    return where.is_file() if layout.format == "hdf5" else where.is_dir() and any(where.iterdir())


def _tonic_dataset(layout: Layout, root: Path, part: int):
    """tonic's data set object (it downloads and extracts the files into root/<name>/)."""
    folder = layout.folder(root) / layout.parts[part]
    try:
        import importlib

        tonic_datasets = importlib.import_module("tonic.datasets")
    except ImportError:
        raise DataError(f"no {layout.name} files in {str(folder)!r} (tonic's layout: {layout.files}) and tonic is "
                        f"not installed to download them: {INSTALL}") from None
    cls = getattr(tonic_datasets, layout.name, None)
    if cls is None:
        raise DataError(f"this tonic has no data set {layout.name}; update it: {INSTALL} --upgrade", "name")
    try:
        if layout.name == "SSC":
            return cls(save_to=str(root), split=("train", "test")[part])
        return cls(save_to=str(root), train=part == 0)
    except Exception as e:  # a failed download: no network, a full disk, a moved server
        raise DataError(f"tonic could not get {layout.name} into {str(root)!r}: {type(e).__name__}: {e}") from None


def _from_tonic(dataset, layout: Layout, limit, seed, part) -> Part:
    """The samples of a tonic data set object (structured arrays with x, [y,] t in µs, p)."""
    index = choose(len(dataset), limit, seed, part)
    events, labels = [], []
    for k in index:
        ev, label = dataset[int(k)]
        names = ev.dtype.names
        x = np.asarray(ev["x"], dtype=np.int64)
        y = np.asarray(ev["y"], dtype=np.int64) if "y" in names else np.zeros(len(x), np.int64)
        p = np.asarray(ev["p"], dtype=np.int64) if "p" in names else np.ones(len(x), np.int64)
        events.append((x, y, np.asarray(ev["t"], dtype=float) * 1e-6, p))
        labels.append(int(label))
    return Part(events, np.array(labels, dtype=np.int64), [f"{layout.name}[{k}]" for k in index])


def choose(n: int, limit: Optional[int], seed: int, part: int) -> np.ndarray:
    """The samples kept of n: all, or ``limit`` of them drawn at random (seed, part), in their order."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([int(seed), part]).choice(n, size=int(limit), replace=False))


# ---- the readers of tonic's files ---------------------------------------------------------------

def read_nmnist_bin(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, t in µs, p) of an N-MNIST ``.bin`` file: 5 bytes an event, x, y, then the polarity in
    bit 7 and 23 bits of timestamp; an event with y = 240 marks a timestamp overflow (2^13 µs added
    to every later event, as N-MNIST's own reader and tonic's do) and is no event."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise DataError(f"{str(path)!r}: {raw.size} bytes, not N-MNIST's events of 5 bytes")
    r = raw.reshape(-1, 5).astype(np.int64)
    x, y = r[:, 0], r[:, 1]
    p = r[:, 2] >> 7
    t = ((r[:, 2] & 127) << 16) | (r[:, 3] << 8) | r[:, 4]
    overflow = y == OVERFLOW_Y
    t = t + OVERFLOW_STEP * np.cumsum(overflow)
    keep = ~overflow
    return x[keep], y[keep], t[keep], p[keep]


def _walk(folder: Path, suffix: str) -> list[Path]:
    """The files of that suffix below a folder, in tonic's order (folders and files sorted by name)."""
    found = []
    for path, dirs, files in os.walk(folder):
        dirs.sort()
        found += [Path(path) / f for f in sorted(files) if f.endswith(suffix)]
    return found


def _nmnist(layout: Layout, root: Path, part: int, limit, seed) -> Part:
    files = _walk(layout.folder(root) / layout.parts[part], ".bin")
    index = choose(len(files), limit, seed, part)
    events, labels = [], []
    for k in index:
        path = files[k]
        if not path.parent.name[-1:].isdigit():
            raise DataError(f"{str(path)!r}: N-MNIST keeps each digit's files in a folder named by it "
                            f"({layout.parts[part]}/0 ... {layout.parts[part]}/9)")
        x, y, t, p = read_nmnist_bin(path)
        events.append((x, y, t * 1e-6, p))
        labels.append(int(path.parent.name[-1]))
    return Part(events, np.array(labels, dtype=np.int64), [str(files[k]) for k in index])


def _load_npy(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{str(path)!r}: cannot read it as a .npy array ({e})") from None
    if a.ndim != 2 or a.shape[1] < 4 or a.dtype.kind not in "biuf":
        raise DataError(f"{str(path)!r}: expected an array of events (events x 4 numbers), found {a.dtype} {a.shape}")
    return a


def _gesture(layout: Layout, root: Path, part: int, limit, seed) -> Part:
    folder = layout.folder(root) / layout.parts[part]
    files = [f for f in _walk(folder, ".npy") if f.parent != folder]  # in user<NN>_<lighting>/ folders
    index = choose(len(files), limit, seed, part)
    events, labels = [], []
    for k in index:
        path = files[k]
        if not path.stem.isdigit():
            raise DataError(f"{str(path)!r}: DVS Gesture names each sample by its label (0.npy ... 10.npy)")
        a = _load_npy(path)  # x, y, p, t (ms)
        events.append((a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 3].astype(float) * 1e-3,
                       (a[:, 2] > 0).astype(np.int64)))
        labels.append(int(path.stem))
    return Part(events, np.array(labels, dtype=np.int64), [str(files[k]) for k in index])


def _poker(layout: Layout, root: Path, part: int, limit, seed) -> Part:
    files = _walk(layout.folder(root) / layout.parts[part], ".npy")
    index = choose(len(files), limit, seed, part)
    events, labels = [], []
    for k in index:
        path = files[k]
        suit = path.parent.name[-2:]
        if suit not in POKER_CLASSES:
            raise DataError(f"{str(path)!r}: POKER-DVS keeps each suit's files in a folder named by it "
                            f"({', '.join(POKER_CLASSES)})")
        a = _load_npy(path)  # t (µs), x, y, p
        events.append((a[:, 1].astype(np.int64), a[:, 2].astype(np.int64), a[:, 0].astype(float) * 1e-6,
                       (a[:, 3] > 0).astype(np.int64)))
        labels.append(POKER_CLASSES.index(suit))
    return Part(events, np.array(labels, dtype=np.int64), [str(files[k]) for k in index])


def _hdf5(layout: Layout, root: Path, part: int, limit, seed) -> Part:
    path = layout.folder(root) / layout.parts[part]
    try:
        import h5py
    except ImportError:
        raise DataError(f"reading {layout.name} ({path.name}) needs h5py: pip install h5py, or {INSTALL}") from None
    try:
        with h5py.File(path, "r") as f:
            times, units, labels = f["spikes/times"], f["spikes/units"], np.asarray(f["labels"][()])
            index = choose(len(labels), limit, seed, part)
            events = []
            for k in index:
                t, u = np.asarray(times[k], dtype=float), np.asarray(units[k], dtype=np.int64)
                if len(t) != len(u):
                    raise DataError(f"{str(path)!r}: sample {k} has {len(t)} spike times but {len(u)} units")
                events.append((u, np.zeros(len(u), np.int64), t, np.ones(len(u), np.int64)))
    except (OSError, KeyError) as e:
        raise DataError(f"{str(path)!r}: not a Heidelberg spikes file (spikes/times, spikes/units, labels): {e}") from None
    return Part(events, labels[index].astype(np.int64), [f"{path}[{k}]" for k in index])


READERS = {"nmnist": _nmnist, "gesture": _gesture, "poker": _poker, "hdf5": _hdf5}


# ---- transforms ---------------------------------------------------------------------------------

def convert(part: Part, layout: Layout, args: dict) -> tuple[EventSet, np.ndarray]:
    """An event set of the samples read, checked and transformed (denoise, align, downsample)."""
    W, H = layout.width, layout.height
    for (x, y, t, p), name in zip(part.events, part.names):
        bad = (x < 0) | (x >= W) | (y < 0) | (y >= H)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}: an event at ({int(x[k])}, {int(y[k])}) is outside {layout.name}'s "
                            f"{W} x {H} {'pixels' if H > 1 else 'channels'}")
        if not np.isfinite(t).all():
            raise DataError(f"{name}: a time is not finite")
    labels = part.labels
    if len(labels) and (labels.min() < 0 or labels.max() >= layout.classes):
        k = int(np.flatnonzero((labels < 0) | (labels >= layout.classes))[0])
        raise DataError(f"{part.names[k]}: label {labels[k]}, but {layout.name} has {layout.classes} classes")
    sizes = np.array([len(e[0]) for e in part.events], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def cat(j, dtype):
        return np.concatenate([e[j] for e in part.events]).astype(dtype) if part.events else np.zeros(0, dtype)

    x, y, t, p = cat(0, np.int64), cat(1, np.int64), cat(2, float), cat(3, np.int64)
    if args.get("denoise"):
        keep = denoise(x, y, t, ptr, W, H, float(args["denoise"]))
        x, y, t, p, ptr = x[keep], y[keep], t[keep], p[keep], _kept_ptr(ptr, keep)
    if args.get("align", True):  # each sample's times from its earliest event
        sizes = np.diff(ptr)
        first = np.zeros(len(sizes))
        if len(t):
            first[sizes > 0] = np.minimum.reduceat(t, ptr[:-1][sizes > 0])
        t = t - np.repeat(first, sizes)
    k = int(args.get("downsample") or 1)
    if k > 1:
        x, y, W, H = x // k, y // k, -(-W // k), -(-H // k)
    return EventSet(x, y, t, p, ptr, W, H, layout.polarities), labels


def _kept_ptr(ptr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The sample offsets after dropping the events not kept."""
    return np.concatenate([[0], np.cumsum(keep)]).astype(np.int64)[ptr]


def denoise(x, y, t, ptr, width: int, height: int, filter_time: float, chunk: int = 1 << 21) -> np.ndarray:
    """Which events to keep: those whose four neighbouring pixels (left, right, up, down; within the
    sensor) include one whose latest earlier event of the same sample (in stream order) is less than
    ``filter_time`` before it. A mask over all events; samples are cut by ``ptr``."""
    keep = np.zeros(len(x), dtype=bool)
    n = len(ptr) - 1
    start = 0
    while start < n:  # samples in chunks of about `chunk` events, each chunk vectorised
        stop = int(np.searchsorted(ptr, ptr[start] + chunk, side="right")) - 1
        stop = min(max(stop, start + 1), n)
        a, b = int(ptr[start]), int(ptr[stop])
        if b > a:
            sample = np.repeat(np.arange(stop - start), np.diff(ptr[start:stop + 1]))
            keep[a:b] = _denoise_chunk(x[a:b], y[a:b], t[a:b], sample, width, height, filter_time)
        start = stop
    return keep


def _denoise_chunk(x, y, t, sample, width, height, filter_time) -> np.ndarray:
    n = len(x)
    order = np.arange(n, dtype=np.int64)
    pixel = (sample.astype(np.int64) * height + y) * width + x  # a pixel of a sample
    key = pixel * n + order  # sorted: by pixel, then by stream order
    sort = np.argsort(key, kind="stable")
    keys, events = key[sort], order[sort]
    keep = np.zeros(n, dtype=bool)
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        inside = (x + dx >= 0) & (x + dx < width) & (y + dy >= 0) & (y + dy < height)
        neighbour = pixel + dy * width + dx
        at = np.searchsorted(keys, neighbour * n + order) - 1  # the neighbour's latest event before this one
        found = inside & (at >= 0)
        found[found] &= keys[at[found]] // n == neighbour[found]
        before = t[events[np.where(found, at, 0)]]
        keep |= found & (t - before < filter_time)
    return keep


# ---- the cache ----------------------------------------------------------------------------------

def cache_key(name: str, args: dict) -> dict:
    """What the converted data depend on (the files are not hashed: delete the cache to read them again)."""
    return {"name": name, "conversion": CONVERSION, "downsample": int(args.get("downsample") or 1),
            "denoise": args.get("denoise"), "align": bool(args.get("align", True)), "limit": args.get("limit"),
            "seed": int(args.get("seed") or 0) if args.get("limit") is not None else 0}


def cache_paths(root: Path, name: str, key: dict) -> list[Path]:
    """Where the converted data are cached: beside the data, else in snnlang's cache folder."""
    from ..cache import cache_dir

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return [Path(root) / "snnlang-cache" / f"{name}-{digest}.npz", cache_dir() / "data" / f"tonic-{name}-{digest}.npz"]


def read_cache(path: Path, key: dict):
    """The cached data of ``key`` at ``path`` (None: absent, unreadable or of other settings)."""
    import zipfile

    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            if json.loads(str(data["key"])) != key:
                return None
            return (EventSet.from_arrays(data), np.asarray(data["y"], dtype=np.int64),
                    EventSet.from_arrays(data, "_test"), np.asarray(data["y_test"], dtype=np.int64))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None  # a damaged cache is read again from the files (and replaced)


def write_cache(paths: list[Path], key: dict, result) -> Optional[Path]:
    """Write the converted data to the first cache path that can be written (atomically); its path."""
    train, y, test, y_test = result
    arrays = {**_compact(train.arrays()), **_compact(test.arrays("_test")), "y": y, "y_test": y_test,
              "width": train.width, "height": train.height, "polarities": train.polarities,
              "key": np.array(json.dumps(key))}
    for path in paths:
        tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.npz")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(tmp, **arrays)
            tmp.replace(path)
            return path
        except OSError:  # a folder that cannot be written: the next place
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    return None


def _compact(arrays: dict) -> dict:
    """Coordinates and polarities in the smallest integer type that holds them (times stay float64)."""
    out = {}
    for k, a in arrays.items():
        if k.startswith(("events_x", "events_y", "events_p")) and a.size and 0 <= a.min() and a.max() < 2**16:
            a = a.astype(np.uint16)
        out[k] = a
    return out


__all__ = ["LAYOUTS", "DataError", "load_tonic", "read_part", "read_nmnist_bin", "denoise", "cache_paths", "INSTALL"]
