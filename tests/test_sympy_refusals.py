"""Expressions the grammar accepts but SymPy cannot build: a located error, never a traceback.
(Found by tests/test_fuzz.py: a condition on a random number inside a function, compared again
and used as a number, makes SymPy's Piecewise raise KeyError.)"""
from __future__ import annotations

import pytest

from snnlang.frontend import analyse


@pytest.mark.parametrize("line, column", [
    ("    state { v = 0; w = 1 + (v < exp(pi < rand())) }", 24),  # arithmetic on the condition
    ("    state { v = 0; w = 0 }\n    reset { v = v < exp(pi < rand()); w += 1 }", 17),  # a statement's value
])
def test_a_condition_sympy_cannot_build_is_an_error_at_its_place(tmp_path, line, column):
    spec = tmp_path / "spec.snn"
    spec.write_text("neuron A {\n" + line + "\n}\n", encoding="utf-8")
    model, diags = analyse(spec)
    assert model is None
    (error,) = [d for d in diags.errors if "SymPy cannot turn" in d.message]
    assert (error.loc.line, error.loc.column) == (line.count("\n") + 2, column)
