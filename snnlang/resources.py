"""Where the package's data lives: the grammar, the templates, the standard library.

In an installed wheel ``grammar/`` and ``templates/`` sit inside the package;
in a source checkout they sit beside it, at the top of the repository.
"""
from __future__ import annotations

from pathlib import Path

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


def find_import(name: str, importer: Path) -> tuple[Path | None, bool]:
    """Where ``import "name"`` in the file ``importer`` leads: beside it, else the standard
    library. Returns (path or None, whether the only match was the importer itself)."""
    itself = False
    for base in (importer.parent, stdlib_dir()):
        candidate = base / name
        try:
            found = candidate.is_file()
        except (OSError, ValueError):  # a name the file system refuses
            found = False
        if found and candidate.resolve() == importer.resolve():
            itself = True  # a spec named like a library file imports the library file
        elif found:
            return candidate, False
    return None, itself
