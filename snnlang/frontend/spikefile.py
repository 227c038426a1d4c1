"""Spike trains from data files: ``spike_times(file = "spikes.npz")`` (arrays ``times``, in
seconds, and ``indices``) or ``spike_times(times = "t.npy", indices = "i.npy")``.

A file is found as an import is (docs/safety.md): beside the spec, then in each ``--include``
folder; after following symbolic links it must lie inside the spec's folder or an ``--include``
folder, and be a regular file. NumPy reads it with pickles refused. Every check is vectorised:
a train of millions of spikes is read and validated without a Python loop over its spikes.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

#: The largest data file read (a spike train of ~100 million spikes).
MAX_DATA_BYTES = 2 * 2**30


class DataFileError(ValueError):
    """A data file that cannot be used; ``argument``: the argument of the call it belongs to."""

    def __init__(self, message: str, argument: str = "file"):
        super().__init__(message)
        self.argument = argument


def resolve_data(name: str, spec_file: Path, roots: Sequence[Path]) -> Path:
    """Where a data file named in a spec is: beside ``spec_file``, else in an ``--include`` folder
    (``roots[1:]``). Refused (DataFileError): outside the spec's folder and the ``--include``
    folders, missing, or not a regular file."""
    from ..resources import resolve_data_file

    if not name.endswith((".npz", ".npy")):  # (the cache key hashes the contents of the .npz and .npy files a spec names)
        raise DataFileError(f"cannot read '{name}': a spike train comes from an .npz (file = \"spikes.npz\") or "
                            "from .npy files (times = \"t.npy\", indices = \"i.npy\")")
    found, why = resolve_data_file(name, spec_file, roots, MAX_DATA_BYTES)
    if found is None:
        raise DataFileError(f"cannot read '{name}': {why}")
    return found


def _load(path: Path, argument: str, shown: str):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataFileError(f"cannot read '{shown}' as NumPy data ({first[:160]})", argument) from None


def _array(found, name: str, argument: str, shown: str) -> np.ndarray:
    if isinstance(found, np.ndarray):
        return found
    try:
        if name not in found.files:
            raise DataFileError(f"'{shown}' has no array '{name}' (it has {', '.join(found.files) or 'none'}); a spike "
                                "train file holds arrays 'times' (seconds) and 'indices'", argument)
        return found[name]
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError) as e:  # a damaged member, or one that needs pickles
        raise DataFileError(f"cannot read array '{name}' of '{shown}' ({str(e).splitlines()[0][:160] if str(e) else e})",
                            argument) from None


def read_spike_train(files: dict[str, tuple[Path, str]], n: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """(times in seconds as float64, indices as int64), validated. ``files``: ``{"file": (path,
    shown)}`` for an .npz, or ``{"times": ..., "indices": ...}`` for two .npy files; ``n``: the size
    the spec gives (indices must be below it), or None."""
    if "file" in files:
        path, shown = files["file"]
        found = _load(path, "file", shown)
        if isinstance(found, np.ndarray):
            raise DataFileError(f"'{shown}' is one array (.npy); give an .npz with arrays 'times' and 'indices', "
                                "or times = \"times.npy\", indices = \"indices.npy\"")
        with found:
            times = _array(found, "times", "file", shown)
            indices = _array(found, "indices", "file", shown)
        where = {"times": "file", "indices": "file"}
    else:
        arrays = {}
        for key in ("times", "indices"):
            path, shown = files[key]
            found = _load(path, key, shown)
            if not isinstance(found, np.ndarray):
                found.close()
                raise DataFileError(f"'{shown}' is an .npz; {key} = \"...\" names one array (.npy)", key)
            arrays[key] = found
        times, indices = arrays["times"], arrays["indices"]
        where = {"times": "times", "indices": "indices"}
    return check_spike_train(times, indices, n, where)


def check_spike_train(times, indices, n: Optional[int], where: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Shape, dtype, finite non-negative times, indices from 0 (below ``n`` when given); sorted or not."""
    times, indices = np.asarray(times), np.asarray(indices)
    if times.ndim != 1:
        raise DataFileError(f"'times' must be one-dimensional (one time per spike), not of shape {times.shape}", where["times"])
    if indices.ndim != 1:
        raise DataFileError(f"'indices' must be one-dimensional (one neuron per spike), not of shape {indices.shape}",
                            where["indices"])
    if times.shape != indices.shape:
        raise DataFileError(f"'times' has {times.size} entries but 'indices' has {indices.size}; give one time and one "
                            "neuron per spike", where["indices"])
    if times.dtype.kind not in "fiu":
        raise DataFileError(f"'times' must hold numbers (seconds), not {times.dtype}", where["times"])
    if indices.dtype.kind not in "iu":
        raise DataFileError(f"'indices' must hold whole numbers (an integer dtype), not {indices.dtype}", where["indices"])
    times = times.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
    if bad.size:
        k = int(bad[0])
        raise DataFileError(f"'times' must be finite and at least 0 s: entry {k} is {float(times[k])!r}"
                            + (f" ({bad.size} such entries)" if bad.size > 1 else ""), where["times"])
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0:
            k = int(np.argmin(indices))
            raise DataFileError(f"'indices' must be at least 0: entry {k} is {low}", where["indices"])
        if high > 2**31 - 2:
            raise DataFileError(f"'indices' must be below 2**31 - 1: the largest is {high}", where["indices"])
        if n is not None and high >= n:
            k = int(np.argmax(indices))
            raise DataFileError(f"entry {k} of 'indices' is {high}, outside the input's n = {n} neurons "
                                f"(0 to {n - 1})", where["indices"])
    return times, indices.astype(np.int64)
