"""The front end: a spec file to a checked Model (parse, lower, check)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .check import check
from .diagnostics import Diagnostics, SpecError
from .lower import lower_file
from .model import Model


def analyse(path: str | Path) -> tuple[Optional[Model], Diagnostics]:
    """The model of a spec and every diagnostic found; the model is None when it has errors."""
    diags = Diagnostics()
    model = lower_file(Path(path), diags)
    if model is not None:
        try:
            check(model, diags)
        except RecursionError:
            diags.error(model.neurons and next(iter(model.neurons.values())).loc or _first(path), "the spec is nested too deeply")
    return (model if not diags.errors else None), diags


def _first(path):
    from .model import Loc

    return Loc(file=str(path), line=1, column=1)


def load(path: str | Path) -> Model:
    """The checked model of a spec; raises SpecError with every diagnostic."""
    model, diags = analyse(path)
    if model is None:
        raise SpecError(diags)
    return model
