"""The front end: a spec file to a checked Model (parse, lower, check).

Its modules: ``parse`` (Lark), ``lower`` (names, imports, units, SymPy expressions),
``check`` (every error at once), ``settings`` (the typed simulate/train settings), ``units``,
``dims``, ``functions``, ``diagnostics``, ``model`` (the IR). The package itself
imports none of them, so a light one (``diagnostics``) loads without SymPy.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .diagnostics import Diagnostics, SpecError

if TYPE_CHECKING:
    from .model import Model


def analyse(path: str | Path) -> tuple[Optional["Model"], Diagnostics]:
    """The model of a spec and every diagnostic found; the model is None when it has errors."""
    from .check import check as check_model
    from .lower import lower_file
    from .model import Loc

    diags = Diagnostics()
    model = lower_file(Path(path), diags)
    if model is not None and os.environ.get("SNNLANG_VALIDATE_IR"):  # (the tests set it)
        from .model import validate

        validate(model)  # every node against the schema: a mistake of lowering's raises here
    if model is not None:
        try:
            check_model(model, diags)
        except RecursionError:
            first = Loc(file=str(path), line=1, column=1)
            diags.error(model.neurons and next(iter(model.neurons.values())).loc or first, "the spec is nested too deeply")
    return (model if not diags.errors else None), diags


def load(path: str | Path) -> "Model":
    """The checked model of a spec; raises SpecError with every diagnostic."""
    model, diags = analyse(path)
    if model is None:
        raise SpecError(diags)
    return model
