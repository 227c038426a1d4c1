"""Data files a spec names: a connection's synapses from ``from_file("edges.npz")``.

Where such a file may come from follows the rules of imports (docs/safety.md): beside the
file that names it, else in an ``--include`` folder, and after following symbolic links
inside the spec's folder or an ``--include`` folder; only a regular file is opened, and a
device or FIFO is refused before it is opened for reading. NumPy reads it with pickles
refused. What it may hold (docs/language.md, "Connectivity from a file"):

* an edge list, ``.npz`` with ``pre`` and ``post`` (integers, one per synapse: the indices
  ``i`` and ``j`` in the connection's source and target), optionally ``w`` (one real number
  per synapse) and ``delay`` (seconds, one per synapse);
* a dense matrix, ``.npy`` of shape (source size, target size), or ``.npz`` with ``w`` (and
  optionally ``delay``) of that shape: a synapse wherever ``w`` is not 0, in row-major
  (pre-major) order, with that weight.
"""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:  # NumPy loads only when a spec names a data file (checking a spec does not need it)
    import numpy as np

#: The largest data file a spec may name.
MAX_DATA_BYTES = 2**30
#: What an edge list may hold.
EDGE_KEYS = ("pre", "post", "w", "delay")


class DataFileError(Exception):
    """A data file that cannot be used: the message says why (without the file's place)."""


def resolve_data(name: str, importer: Path, roots: Optional[Sequence[Path]]) -> tuple[Optional[Path], str]:
    """Where ``from_file("name")`` in the file ``importer`` leads: beside it, else in an
    ``--include`` folder (``roots[1:]``). (path, "") or (None, why)."""
    from ..resources import resolve_data_file

    if not name:
        return None, "the file name is empty"
    if not name.endswith((".npz", ".npy")):
        return None, "connectivity comes from an .npz (an edge list or a matrix) or an .npy (a matrix)"
    return resolve_data_file(name, importer, roots, MAX_DATA_BYTES)


@dataclass
class Edges:
    """A connection's synapses as read from a file, not yet checked against the network."""

    pre: np.ndarray
    post: np.ndarray
    w: Optional[np.ndarray]
    delay: Optional[np.ndarray]  # seconds
    dense: Optional[tuple[int, int]]  # the matrix's shape, when the file is one


_cache: dict[tuple, Edges] = {}


def read_edges(path: str) -> Edges:
    """The synapses of a data file (read once per path, size and change time); DataFileError."""
    try:
        info = os.stat(path)
    except OSError as e:
        raise DataFileError(e.strerror or str(e)) from None
    key = (path, info.st_size, info.st_mtime_ns)
    if key not in _cache:
        _cache.clear()  # one file at a time is plenty: a build reads each once
        _cache[key] = _read(path)
    return _cache[key]


def _read(path: str) -> Edges:
    import numpy as np

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise DataFileError("it is not a regular file")
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    arrays = {k: loaded[k] for k in loaded.files}
            else:
                arrays = {"w": loaded}
    except DataFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataFileError(f"NumPy cannot read it ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    unknown = sorted(set(arrays) - set(EDGE_KEYS))
    if unknown:
        raise DataFileError(f"it holds {', '.join(map(repr, unknown))}; a connectivity file holds pre, post "
                            "(and w, delay: an edge list) or w (and delay: a matrix)")
    for name, value in arrays.items():
        kind = value.dtype.kind
        if name in ("pre", "post"):
            if kind not in "iu":
                raise DataFileError(f"'{name}' holds {value.dtype} values; indices are integers")
        elif kind not in "iuf":
            raise DataFileError(f"'{name}' holds {value.dtype} values; it must hold real numbers")
        elif not np.isfinite(value).all():
            raise DataFileError(f"'{name}' holds NaN or infinite values")
    if "pre" in arrays or "post" in arrays:
        if "pre" not in arrays or "post" not in arrays:
            raise DataFileError("an edge list needs both 'pre' and 'post'")
        n = None
        for name in EDGE_KEYS:
            if name in arrays:
                if arrays[name].ndim != 1:
                    raise DataFileError(f"'{name}' has shape {arrays[name].shape}; in an edge list every array is "
                                        "one-dimensional, one value per synapse")
                if n is not None and arrays[name].size != n:
                    raise DataFileError(f"'{name}' has {arrays[name].size} values but 'pre' has {n}; an edge list "
                                        "has one of each per synapse")
                n = arrays[name].size if n is None else n
        pre, post = arrays["pre"], arrays["post"]
        for name, value in (("pre", pre), ("post", post)):
            if value.size and value.min() < 0:
                raise DataFileError(f"'{name}' holds the negative index {int(value.min())}")
        w = arrays["w"].astype(float) if "w" in arrays else None
        delay = arrays["delay"].astype(float) if "delay" in arrays else None
        return Edges(pre.astype(np.int64), post.astype(np.int64), w, delay, None)
    if "w" not in arrays:
        raise DataFileError("it holds neither an edge list (pre, post) nor a matrix (w)")
    matrix = arrays["w"]
    if matrix.ndim != 2:
        raise DataFileError(f"the matrix has shape {matrix.shape}; it must be two-dimensional (source x target), "
                            "or give an edge list (pre, post, w) in an .npz")
    pre, post = np.nonzero(matrix)  # row-major: by pre, then post
    delay = None
    if "delay" in arrays:
        if arrays["delay"].shape != matrix.shape:
            raise DataFileError(f"'delay' has shape {arrays['delay'].shape}, the matrix {matrix.shape}")
        delay = arrays["delay"][pre, post].astype(float)
    return Edges(pre.astype(np.int64), post.astype(np.int64), matrix[pre, post].astype(float), delay, matrix.shape)


def check_edges(edges: Edges, n_pre: int, n_post: int, dt: Optional[float]) -> Optional[str]:
    """Why these synapses do not fit a connection from ``n_pre`` to ``n_post`` neurons (None: they do)."""
    import numpy as np

    if edges.dense is not None and edges.dense != (n_pre, n_post):
        return (f"the matrix has shape {edges.dense}; the connection needs ({n_pre}, {n_post}) "
                "(source size x target size)")
    for name, values, size in (("pre", edges.pre, n_pre), ("post", edges.post, n_post)):
        if values.size and values.max() >= size:
            k = int(np.argmax(values >= size))
            return (f"'{name}'[{k}] = {int(values[k])} is outside the {'source' if name == 'pre' else 'target'} "
                    f"of {size} neurons (indices from 0 to {size - 1})")
    if edges.delay is not None and edges.delay.size:
        low = float(edges.delay.min())
        if low <= 0:
            return f"'delay' holds {low:g}; delays are in seconds and positive"
        if dt is not None and edges.delay.max() / dt > 2**31 - 1:
            return f"'delay' holds {float(edges.delay.max()):g} s, more steps than a delay can have"
    return None
