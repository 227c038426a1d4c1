"""Dimension analysis of model expressions.

An expression's dimension is read off the SI base-unit symbols it contains
and the dimensions of the names it uses. ``None`` stands for "any": a literal
zero, or a name whose error was already reported.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, Optional

import sympy

from .functions import FUNCTIONS
from .units import DIMENSIONLESS, Dim, BASE_NAMES, dim_add, dim_scale, format_dim, lookup

DimOf = Callable[[str], Optional[Dim]]


class BaseUnit(sympy.Symbol):
    """An SI base unit inside an expression (distinct from a user symbol of the same name)."""


BASE_UNITS = {name: BaseUnit(name, positive=True) for name in BASE_NAMES}


def si_expr(scale: Fraction, d: Dim) -> sympy.Expr:
    """``scale`` times the product of base units with exponents ``d``."""
    out: sympy.Expr = sympy.Rational(scale.numerator, scale.denominator)
    for name, exp in zip(BASE_NAMES, d):
        if exp:
            out = out * BASE_UNITS[name] ** exp
    return out


def unit_expr(name: str) -> sympy.Expr | None:
    found = lookup(name)
    return None if found is None else si_expr(*found)



class DimensionError(Exception):
    pass


class Poison(sympy.Symbol):
    """Stands for a subexpression whose error was already reported."""


def _same(dims: list[Optional[Dim]], what: str) -> Optional[Dim]:
    known = [d for d in dims if d is not None]
    for d in known[1:]:
        if d != known[0]:
            raise DimensionError(f"{what} {format_dim(known[0])} and {format_dim(d)}")
    return known[0] if known else None


def dimension(expr: sympy.Basic, dim_of: DimOf) -> Optional[Dim]:
    """The dimension of ``expr``; raises DimensionError on inconsistent use."""
    if isinstance(expr, Poison):
        return None
    if isinstance(expr, BaseUnit):
        return tuple(int(n == expr.name) for n in BASE_NAMES)  # type: ignore[return-value]
    if isinstance(expr, sympy.Symbol):
        return dim_of(expr.name)
    if expr.is_Number:
        return None if expr == 0 else DIMENSIONLESS
    if isinstance(expr, (sympy.logic.boolalg.BooleanAtom, sympy.core.numbers.NumberSymbol)):
        return DIMENSIONLESS
    if isinstance(expr, sympy.Add):
        return _same([dimension(a, dim_of) for a in expr.args], "cannot add")
    if isinstance(expr, sympy.Mul):
        out = DIMENSIONLESS
        for a in expr.args:
            if a.is_Number:  # a coefficient; also the zero of a zero quantity such as 0 mV
                continue
            d = dimension(a, dim_of)
            if d is None:
                return None
            out = dim_add(out, d)
        return out
    if isinstance(expr, sympy.Pow):
        base, exp = expr.args
        d_exp = dimension(exp, dim_of)
        if d_exp not in (None, DIMENSIONLESS):
            raise DimensionError(f"an exponent must be dimensionless, not {format_dim(d_exp)}")
        d_base = dimension(base, dim_of)
        if d_base is None or d_base == DIMENSIONLESS:
            return d_base
        if not exp.is_Number:
            raise DimensionError(f"a quantity in {format_dim(d_base)} can only be raised to a constant power")
        out = dim_scale(d_base, sympy.Rational(exp))
        if out is None:
            raise DimensionError(f"{format_dim(d_base)} raised to {exp} is not a whole dimension")
        return out
    if isinstance(expr, sympy.core.relational.Relational):
        _same([dimension(a, dim_of) for a in expr.args], "cannot compare")
        return DIMENSIONLESS
    if isinstance(expr, sympy.logic.boolalg.BooleanFunction):
        for a in expr.args:
            dimension(a, dim_of)
        return DIMENSIONLESS
    if isinstance(expr, sympy.Piecewise):
        for _, cond in expr.args:
            dimension(cond, dim_of)
        return _same([dimension(e, dim_of) for e, _ in expr.args], "the branches of where() have")
    if isinstance(expr, (sympy.Function, sympy.Min, sympy.Max)):
        return _function_dimension(expr, dim_of)
    if isinstance(expr, sympy.Tuple):
        return _same([dimension(a, dim_of) for a in expr.args], "a list mixes")
    raise DimensionError(f"cannot find the dimension of {expr}")


def _function_dimension(expr: sympy.Function, dim_of: DimOf) -> Optional[Dim]:
    name = _function_name(expr)
    spec = FUNCTIONS.get(name)
    args = [dimension(a, dim_of) for a in expr.args]
    if name == "log" and len(expr.args) == 2:  # log10 is built as log(x, 10)
        args = args[:1]
    kind = spec.dims if spec else "dimensionless"
    if kind == "dimensionless":
        for d in args:
            if d not in (None, DIMENSIONLESS):
                raise DimensionError(f"the argument of {name}() must be dimensionless, not {format_dim(d)}")
        return DIMENSIONLESS
    if kind == "dimensionless-result":
        return DIMENSIONLESS
    return _same(args, f"the arguments of {name}() mix")


def _function_name(expr: sympy.Function) -> str:
    cls = expr.func
    name = getattr(cls, "__name__", str(cls))
    return {"Abs": "abs", "Min": "min", "Max": "max", "ceiling": "ceil"}.get(name, name)


def constant_value(expr: sympy.Basic) -> tuple[float, Dim] | None:
    """An expression made of numbers and units only, as (SI value, dimension); else None."""
    quick = quantity_value(expr)
    if quick is not None:
        return quick
    if expr.free_symbols - expr.atoms(BaseUnit):
        return None
    d = dimension(expr, lambda _: None) or DIMENSIONLESS
    value = expr.subs({u: 1 for u in expr.atoms(BaseUnit)})
    if not value.is_number:
        return None
    try:
        return float(value), d
    except (TypeError, ValueError):
        return None


def quantity_value(expr: sympy.Basic) -> tuple[float, Dim] | None:
    """:func:`constant_value` of the commonest constants, a number or a number times base units
    (``0.1``, ``20 ms`` = ``s/50``), without SymPy's substitution; None for anything else.
    The value is the ratio of the rational's integers, as correctly rounded as SymPy's float."""
    if expr.is_Rational:
        coeff, units = expr, ()
    elif expr.is_Mul and expr.args[0].is_Rational:
        coeff, units = expr.args[0], expr.args[1:]
        for u in units:
            if not (isinstance(u, BaseUnit) or (u.is_Pow and isinstance(u.args[0], BaseUnit) and u.args[1].is_Integer)):
                return None
    else:
        return None
    try:
        value = int(coeff.p) / int(coeff.q)
    except OverflowError:
        return None
    return value, (dimension(expr, lambda _: None) if units else None) or DIMENSIONLESS
