"""Fixtures of the front-end tests: spec text written to a temporary folder and analysed.

The working directory is that folder, so places read ``spec.snn:3:14`` as a user sees them.
"""
from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

# every model the tests build (here and in the commands they run) is checked against its schema,
# and its nodes are frozen (before the model's module loads: snnlang/frontend/model.py)
os.environ.setdefault("SNNLANG_VALIDATE_IR", "1")

from snnlang.frontend.diagnostics import Diagnostics  # noqa: E402
from snnlang.frontend import analyse  # noqa: E402
from snnlang.frontend.model import Model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Analysis:
    """What the front end made of a spec: the model (None on errors) and the diagnostics."""

    model: Optional[Model]
    diags: Diagnostics

    @property
    def errors(self) -> list[str]:
        """Each error as ``file:line:col: message``, in the order of the files' text."""
        return [f"{d.loc}: {d.message}" for d in _in_order(self.diags.errors)]

    @property
    def warnings(self) -> list[str]:
        return [f"{d.loc}: {d.message}" for d in _in_order(self.diags.warnings)]

    def ok(self) -> Model:
        """The model, after asserting the spec has no errors."""
        assert self.model is not None and not self.diags.errors, self.diags.render()
        return self.model


def _in_order(items):
    return sorted(items, key=lambda d: (d.loc.file, d.loc.line, d.loc.column))


class SpecFolder:
    """A temporary folder (the working directory) to write specs into and analyse them."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def analyse(self, text: str | bytes, name: str = "spec.snn") -> Analysis:
        path = self.write(name, text)
        model, diags = analyse(path.relative_to(self.root))
        return Analysis(model, diags)


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpecFolder:
    """Write and analyse specs in a fresh folder, which is the working directory."""
    monkeypatch.chdir(tmp_path)
    return SpecFolder(tmp_path)
