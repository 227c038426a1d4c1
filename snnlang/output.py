"""Result files written whole or not at all.

``snnlang run`` and ``snnlang train`` write every result file (spikes.npz, state.npz,
summary.json, weights.npz, metrics.json, checkpoints, ...) through :func:`write_file`:
into a temporary file beside it, flushed to the disk, then renamed onto the file. A full
disk, a read-only folder or an interruption leaves the earlier file as it was (or none),
never a truncated one, and no temporary file.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Callable


class OutputError(Exception):
    """A result file could not be written; the message says which and why."""


def write_file(path: Path, fill: Callable[[BinaryIO], Any]) -> None:
    """Write ``path`` with ``fill(file)``; raises OutputError when it cannot be written whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())  # a full disk may only show when the data reach it
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        kept = "the earlier file is kept" if path.exists() else "nothing was written"
        raise OutputError(f"cannot write {path}: {e.strerror or e}; {kept}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_file(path, lambda f: f.write(text.encode("utf-8")))


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_npz(path: Path, arrays: dict) -> None:
    """``np.savez`` of named arrays (NumPy writes to the open file: the name keeps no added .npz)."""
    import numpy as np

    write_file(path, lambda f: np.savez(f, **arrays))


def write_figure(path: Path, fig, **kwargs) -> None:
    """A Matplotlib figure as PNG."""
    write_file(path, lambda f: fig.savefig(f, format="png", **kwargs))


__all__ = ["OutputError", "write_file", "write_text", "write_json", "write_npz", "write_figure"]
