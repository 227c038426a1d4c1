"""The cache of built packages: its folder, its key, and how an entry is published.

``snnlang run`` and ``snnlang train`` reuse a package built from the very same
spec by the very same compiler. The key covers

* the spec and every file it imports, found as the compiler finds them: each
  file is parsed with the grammar (Lark) and its ``import`` statements are
  resolved with :func:`snnlang.resources.find_import`, in the order
  :mod:`snnlang.lower` reads them. The key is on the exact text of each file
  (comments and white space included; they reach the package through the spec
  hash it records) and on the path each file is shown by;
* the whole compiler: every file under the ``snnlang`` package (all modules of
  every sub-package, the standard library), the grammar and the templates.

It is computed without SymPy, so a cached run starts fast. A spec
that cannot be read or parsed gets no key: the compiler then reports the
error with its place.

An entry appears all at once: it is written into a temporary folder beside it
and renamed onto its final name. When another process published the same key
first, its entry is used and ours is discarded; an entry is never renamed away
or deleted, because another process may be importing it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .frontend.diagnostics import display_path
from .resources import SpecFileError, find_import, grammar_path, import_roots, read_spec, templates_dir

_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    base = os.environ.get("SNNLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "snnlang")
    return Path(base)


# ---- the compiler's own files ----------------------------------------------------------

def compiler_roots() -> list[Path]:
    """The folders whose every file is part of the compiler: the package, the grammar, the templates."""
    return [_PACKAGE, grammar_path().parent, templates_dir()]


def compiler_files() -> list[tuple[str, Path]]:
    """(name, path) of every file of the compiler, sorted, byte-code caches aside.

    The name is the file's path below its root, prefixed by the root's index, so
    that a moved or renamed file changes the key too.
    """
    files: dict[Path, str] = {}
    for index, root in enumerate(compiler_roots()):
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in names:
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = Path(folder) / name
                # in an installed wheel the grammar and templates sit inside the package: hash them once
                files.setdefault(path, f"{index}/{path.relative_to(root).as_posix()}")
    return sorted(((name, path) for path, name in files.items()), key=lambda item: item[0])


_HASHES: dict[tuple, str] = {}


def compiler_hash() -> str:
    """A hash of every byte of the compiler. The bytes are read once per process and
    read again only when a file's size or modification time changes (or one comes or goes)."""
    signature = []
    for name, path in compiler_files():
        try:
            st = path.stat()
        except OSError:  # went away while we looked: the next call sees the new state
            continue
        signature.append((name, str(path), st.st_mtime_ns, st.st_size))
    signature = tuple(signature)
    if signature not in _HASHES:
        digest = hashlib.sha256()
        for name, path, *_ in signature:
            _update(digest, name.encode())
            try:
                _update(digest, Path(path).read_bytes())
            except OSError:
                _update(digest, b"\0unreadable")
        _HASHES.clear()
        _HASHES[signature] = digest.hexdigest()
    return _HASHES[signature]


def generator_hash() -> str:
    """Short form of :func:`compiler_hash` (kept for callers that name packages with it)."""
    return compiler_hash()[:12]


# ---- the spec as the compiler reads it -------------------------------------------------

@lru_cache(maxsize=1)
def _parser():
    """The grammar's parser, built as :func:`snnlang.frontend.parse.parser` builds it (same options, so
    Lark's on-disk cache of the tables is shared). parse.py cannot be imported here: it loads
    the model (SymPy) for its locations."""
    import lark

    return lark.Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", propagate_positions=True,
                     maybe_placeholders=True, cache=True)


def spec_files(path: Path) -> Optional[list[tuple[str, str]]]:
    """(shown path, text) of a spec and of every file it imports, read as :mod:`snnlang.lower`
    reads them: the same file checks, the same import folders, the same order (depth first,
    each file once). None when a file cannot be read, decoded or parsed, or an import does not
    resolve: then only the compiler can say what is wrong, and where."""
    import lark

    files: list[tuple[str, str]] = []
    seen: set[Path] = set()
    roots = import_roots(path)  # the spec's folder and --include folders bound its imports

    def visit(p: Path) -> bool:
        resolved = p.resolve()
        if resolved in seen:
            return True
        seen.add(resolved)
        text = read_spec(p).decode("utf-8-sig")  # a regular file of sane size, never a FIFO
        files.append((display_path(p), text))
        tree = _parser().parse(text)
        for item in tree.children:
            if item.data == "import_stmt":
                found, _ = find_import(str(item.children[0])[1:-1], p, roots)
                if found is None or not visit(found):
                    return False
            else:  # the data files it names (connectivity, spike trains): their contents are part of the key
                for token in item.scan_values(lambda v: isinstance(v, lark.Token) and v.type == "STRING"):
                    data = _data_file(str(token)[1:-1], p, roots)
                    if data is not None:
                        files.append(data)
        return True

    try:
        return files if visit(Path(path)) else None
    except (SpecFileError, OSError, ValueError, RuntimeError, RecursionError, lark.exceptions.LarkError):
        # unreadable, not UTF-8, a symlink loop, nested too deeply, a syntax error
        return None


@dataclass(frozen=True)
class SpecKey:
    key: str  # the name of the cache entry (without its kind)
    spec_hash: str  # the spec hash the compiler gives these texts (Model.spec_hash)


def _data_file(name: str, importer: Path, roots) -> Optional[tuple[str, str]]:
    """(shown, digest) of a data file a spec names (``.npz``/``.npy`` beside it or in an
    --include folder), read as the front end reads it; None for other strings."""
    if not name.endswith((".npz", ".npy")):
        return None
    for base in [importer.parent, *list(roots)[1:]]:
        candidate = Path(base) / name
        try:
            if not candidate.is_file():
                continue
            digest = hashlib.sha256()
            with open(candidate, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            continue
        return f"data {display_path(candidate)}", digest.hexdigest()
    return None


def spec_key(path: Path, *parts: str) -> Optional[SpecKey]:
    """The cache key of what is built from a spec for ``parts`` (target, train block, ...);
    None when the spec cannot be read or parsed."""
    files = spec_files(Path(path))
    if files is None:
        return None
    digest = hashlib.sha256(b"snnlang package\0")
    _update(digest, compiler_hash().encode())
    for shown, text in files:
        _update(digest, shown.encode("utf-8", "surrogateescape"))
        _update(digest, text.encode("utf-8", "surrogateescape"))
    _update(digest, b"parts")
    for part in parts:
        _update(digest, part.encode("utf-8", "surrogateescape"))
    spec_hash = hashlib.sha256("\0".join(text for _, text in files).encode("utf-8", "surrogateescape"))
    return SpecKey(key=digest.hexdigest()[:24], spec_hash=spec_hash.hexdigest()[:16])


def _update(digest, data: bytes) -> None:
    """Length-prefixed, so that no two different sequences of parts hash alike."""
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


# ---- entries -----------------------------------------------------------------------------

def is_complete(entry: Path) -> bool:
    """Whether a cache entry holds a package (entries appear whole, so its ``__init__.py`` suffices)."""
    return (entry / "net" / "__init__.py").is_file()


def write_files(files: dict[str, str], folder: Path) -> None:
    """Write a package's files (and flush them to disk) into ``folder``, which exists."""
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)  # the lava target has a subpackage
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def publish(files: dict[str, str], entry: Path) -> Path:
    """Make ``entry/net`` a package of ``files``, atomically; returns the folder of the package.

    The files are written into a temporary folder beside ``entry`` and renamed onto it.
    If another process published ``entry`` first, its package is used and ours is
    discarded. If something incomplete is in the way (not written by this function), it
    is left alone and our copy is used by this process only (removed when it exits).
    """
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        (tmp / "net").mkdir()
        write_files(files, tmp / "net")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, entry)  # atomic; fails when entry exists (and is not an empty folder)
        return entry / "net"
    except OSError:
        pass
    if is_complete(entry):  # another process published it first: use theirs, discard ours
        shutil.rmtree(tmp, ignore_errors=True)
        return entry / "net"
    _remove_at_exit(tmp)
    return tmp / "net"


def private_folder(files: dict[str, str]) -> Path:
    """A package of ``files`` for this process only (a spec that changed while it was built):
    written into a temporary folder that is removed when the process exits."""
    tmp = Path(tempfile.mkdtemp(prefix="snnlang-"))
    _remove_at_exit(tmp)
    (tmp / "net").mkdir()
    write_files(files, tmp / "net")
    return tmp / "net"


def _remove_at_exit(folder: Path) -> None:
    import atexit

    atexit.register(shutil.rmtree, folder, True)
