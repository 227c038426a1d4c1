"""Where the package's data lives: the grammar, the templates, the standard library.

In an installed wheel ``grammar/`` and ``templates/`` sit inside the package;
in a source checkout they sit beside it, at the top of the repository.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Sequence

_HERE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for base in (_HERE, _HERE.parent):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"snnlang data folder '{name}' is missing from the installation")


def grammar_path() -> Path:
    return data_dir("grammar") / "snn.lark"


def templates_dir() -> Path:
    return data_dir("templates")


def stdlib_dir() -> Path:
    return _HERE / "stdlib"


#: The largest spec file read (a spec is text a person writes; 10 MiB is far beyond any).
MAX_SPEC_BYTES = 10 * 2**20

_included: ContextVar[tuple[Path, ...]] = ContextVar("snnlang_include", default=())


class SpecFileError(Exception):
    """A spec file that is not read: missing, a folder, a device or FIFO, or too large."""


@contextmanager
def include_dirs(folders: Sequence[str | Path]):
    """Allow imports from these folders (``--include DIR``) too, inside the ``with``."""
    token = _included.set(tuple(Path(f).resolve() for f in folders))
    try:
        yield
    finally:
        _included.reset(token)


def import_roots(spec: Path) -> tuple[Path, ...]:
    """The folders the imports of ``spec`` may come from: its own folder (and what is below it),
    then the ``--include`` folders. The standard library is always allowed as well."""
    return (Path(spec).parent.resolve(), *_included.get())


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refusal(mode: int, size: int) -> str | None:
    if not stat.S_ISREG(mode):
        return f"it is {_kind(mode)}, not a spec file"
    if size > MAX_SPEC_BYTES:
        return f"it is {size / 2**20:.1f} MiB; a spec file may be at most {MAX_SPEC_BYTES // 2**20} MiB"
    return None


def _reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    return error.strerror or str(error)


def read_spec(path: Path) -> bytes:
    """The bytes of a spec file; SpecFileError (with the reason) for anything but a regular file
    of at most MAX_SPEC_BYTES. A device or FIFO is refused before it is opened for reading."""
    try:
        info = os.stat(path)
        problem = _refusal(info.st_mode, info.st_size)
        if problem:
            raise SpecFileError(problem)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO swapped in must not block
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            problem = _refusal(info.st_mode, info.st_size)
            if problem:
                raise SpecFileError(problem)
            data = f.read(MAX_SPEC_BYTES + 1)  # a file that grows, or reports no size, stops here
    except OSError as e:
        raise SpecFileError(_reason(e)) from None
    except ValueError as e:  # a NUL in the path
        raise SpecFileError(str(e)) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecFileError(f"it is larger than {MAX_SPEC_BYTES // 2**20} MiB, the most a spec file may be")
    return data


def _inside(path: Path, folders) -> bool:
    return any(path == f or f in path.parents for f in folders)


def resolve_data_file(name: str, importer: Path, roots: Sequence[Path] | None, max_bytes: int) -> tuple[Path | None, str]:
    """Where a data file a spec names (``from_file``, ``spike_times(file = ...)``) is: beside
    ``importer``, else in an ``--include`` folder (``roots[1:]``); after following symbolic links
    inside ``roots`` (None: anywhere), a regular file of at most ``max_bytes``. (path, "") or
    (None, why)."""
    allowed = None if roots is None else [Path(r).resolve() for r in roots]
    outside = False
    for base in [Path(importer).parent, *(roots[1:] if roots else ())]:
        candidate = base / name
        try:
            info = os.stat(candidate)
            real = candidate.resolve()
        except OSError as e:
            if e.errno == errno.ELOOP:
                return None, "it is a loop of symbolic links"
            continue
        except (ValueError, RuntimeError):
            continue
        if allowed is not None and not _inside(real, allowed):
            outside = True
            continue
        if not stat.S_ISREG(info.st_mode):
            return None, f"it is {_kind(info.st_mode)}, not a data file"
        if info.st_size > max_bytes:
            return None, (f"it is {info.st_size / 2**20:.0f} MiB; a data file may be at most "
                          f"{max_bytes // 2**20} MiB")
        return candidate, ""
    if outside:
        return None, "it is outside the spec's folder; allow its folder with --include DIR"
    return None, "no such file beside the spec" + (" or in an --include folder" if roots and len(roots) > 1 else "")


def resolve_import(name: str, importer: Path, roots: Sequence[Path] | None = None) -> tuple[Path | None, str | None]:
    """Where ``import "name"`` in the file ``importer`` leads: beside it, else in an ``--include``
    folder (``roots[1:]``), else the standard library.

    ``roots`` (see :func:`import_roots`): the folders an import may come from; a file outside them
    and the standard library (after following symbolic links) is refused, as is anything but a
    regular file. None: anywhere. Returns (path, None), or (None, why) where ``why`` is None when
    nothing of that name exists, else a sentence.
    """
    library = stdlib_dir().resolve()
    bases = [importer.parent, *(roots[1:] if roots else ()), library]
    allowed = None if roots is None else [Path(r).resolve() for r in roots] + [library]
    try:
        me = importer.resolve()
    except (OSError, RuntimeError):
        me = None
    itself = False
    for base in bases:
        candidate = base / name
        try:
            info = os.stat(candidate)
            real = candidate.resolve()
        except OSError as e:
            if e.errno == errno.ELOOP:
                return None, "it is a loop of symbolic links"
            continue  # missing
        except (ValueError, RuntimeError):  # a name the file system refuses, a loop further down
            continue
        if real == me:
            itself = True
            continue  # a spec named like a library file imports the library file
        if allowed is not None and not _inside(real, allowed):
            return None, ("it is outside the spec's folder and the standard library; "
                          "allow its folder with --include DIR")
        problem = _refusal(info.st_mode, info.st_size)
        if problem:
            return None, problem
        return candidate, None
    return None, ("imports itself" if itself else None)


def find_import(name: str, importer: Path, roots: Sequence[Path] | None = None) -> tuple[Path | None, bool]:
    """Where ``import "name"`` in the file ``importer`` leads (see :func:`resolve_import`).
    Returns (path or None, whether the only match was the importer itself)."""
    found, why = resolve_import(name, importer, roots)
    return found, why == "imports itself"
