"""Shared test helpers: build a spec into a folder and import the generated package.

The generated package is imported from the folder it was built into (with
importlib, under a unique module name), never through snnlang's source tree, so
each test sees exactly what ``snnlang build`` wrote.
"""
from __future__ import annotations

import hashlib
import itertools
import textwrap
from pathlib import Path

from snnlang.build import build
from snnlang.run import _import

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TEST_SPECS = Path(__file__).resolve().parent / "specs"

_counter = itertools.count()


def write_spec(text: str, folder: Path, name: str = "spec") -> Path:
    """Write spec text (dedented) to ``folder/<name>.snn``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.snn"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def import_package(package_dir: Path):
    """Import a generated package from its folder under a fresh, unique module name."""
    package_dir = Path(package_dir)
    return _import(package_dir, f"_snn_test_{package_dir.name}_{next(_counter)}")


def build_package(spec: str | Path, folder: Path, name: str = "net"):
    """Build a spec file (a path) or spec text into ``folder/<name>`` and import it.

    Returns the imported package module; ``module.__path__[0]`` is the folder.
    """
    folder = Path(folder)
    if isinstance(spec, str) and "\n" in spec:
        spec = write_spec(spec, folder / "specs", name)
    out = folder / name
    build(Path(spec), out)
    return import_package(out)


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below a folder (to prove it unchanged)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}
