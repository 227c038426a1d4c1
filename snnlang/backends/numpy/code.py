"""Small printing helpers of the NumPy target, shared by its printers (and the training printer)."""
from __future__ import annotations

import sympy

from ...frontend.functions import symbol
from ...plan.ir import Assign
from ..lines import Lines
from ..printer import numpy_code


def code(expr: sympy.Basic, indexed: dict[str, str] | None = None) -> str:
    return numpy_code(expr, indexed)


def _array(expr: sympy.Basic, size: str, indexed=None) -> str:
    """An expression as a fresh float array of the given size."""
    text = code(expr, indexed)
    if expr == 0:  # the usual default of an input: the cheapest fresh array
        return f"np.zeros({size})"
    if not (expr.free_symbols - {symbol("dt"), symbol("t")}):
        return f"np.full({size}, {text}, dtype=float)"
    return f"np.broadcast_to({text}, ({size},)).astype(float)"


def _assign(out: Lines, a: Assign, indexed=None) -> None:
    if a.where is None:
        out(f"{a.target} = {code(a.expr, indexed)}")
    else:
        out(f"{a.target} = np.where({a.where}, {code(a.expr, indexed)}, {a.target})")


def _bare(text: str) -> str:
    """Printed code without one pair of parentheses around all of it."""
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for k, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                return text[1:-1] if k == len(text) - 1 else text
    return text


def _draws(out: Lines, draws, counter: str, index: str) -> None:
    for d in draws:
        out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, {counter}, {index})")
