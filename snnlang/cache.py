"""The cache of built packages, keyed without running the compiler.

``snnlang run`` and ``snnlang train`` reuse a package built from the very same
spec texts (the file and everything it imports) by the very same code
generators. The key is computed from the texts alone, so a cached run starts
without importing SymPy or pydantic.
"""
from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

from . import __version__
from .resources import find_import, grammar_path, templates_dir

_IMPORT = re.compile(r'\bimport\s+"([^"\n]*)"')
_COMMENT = re.compile(r'#[^\n]*')


def cache_dir() -> Path:
    base = os.environ.get("SNNLANG_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "snnlang")
    return Path(base)


@lru_cache(maxsize=1)
def generator_hash() -> str:
    """A hash of the code that turns a model into a package: a changed generator is a new key."""
    here = Path(__file__).resolve().parent
    files = sorted((here / "plan").glob("*.py")) + sorted((here / "backends").glob("*.py"))
    files += sorted(templates_dir().rglob("*.j2")) + [here / "lower.py", grammar_path()]
    digest = hashlib.sha256(__version__.encode())
    for f in files:
        if f.exists():
            digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def spec_texts(path: Path) -> list[bytes]:
    """The bytes of a spec and of every file it imports, depth first (cycles once)."""
    texts, seen = [], set()

    def visit(p: Path) -> None:
        resolved = p.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        data = p.read_bytes()
        texts.append(data)
        for name in _IMPORT.findall(_COMMENT.sub("", data.decode("utf-8", "replace"))):
            found, _ = find_import(name, p)
            if found is not None:
                visit(found)

    visit(path)
    return texts


def spec_key(path: Path, *parts: str) -> str:
    """The cache key of what is built from a spec (and its imports) for ``parts`` (target, block, ...)."""
    digest = hashlib.sha256(generator_hash().encode())
    for text in spec_texts(path):
        digest.update(hashlib.sha256(text).digest())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:20]
