"""Backward statements of one neuron's discretised step, for surrogate-gradient BPTT.

One step of a population, as the plan discretised it, maps the state s of the
previous step and the inputs I of this step to the new state:

    u = G(s, I)                      integration (refractory-gated variables held)
    z = H(c(u))                      spike; c is the condition written as c >= 0
    s' = R(u, z)                     reset, written z * reset_k(u) + (1 - z) * u_k

The derivatives of G, c and R are taken here with SymPy from the very
statements the simulator runs; the Heaviside step's derivative is replaced by
the surrogate the spec names. Backends print these expressions as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..functions import symbol
from .ir import PopulationPlan

Z = symbol("z")  # the spike of this step (0 or 1; a smooth value in gradient checks)
C = symbol("c")  # the spike condition's margin, c >= 0 <=> spike


class GradientError(Exception):
    pass


# ---- surrogates: d spike / d c ------------------------------------------------------------

def surrogate(name: str, params: dict[str, float]) -> tuple[sympy.Basic, sympy.Basic]:
    """(derivative of the spike with respect to c, a smooth spike function with that derivative).

    The smooth function stands in for the step only in gradient checks, where the
    forward pass must be differentiable for finite differences to agree.
    """
    if name == "fast_sigmoid":
        k = sympy.Float(params.get("slope", 25.0))
        return 1 / (k * sympy.Abs(C) + 1) ** 2, C / (1 + k * sympy.Abs(C)) + sympy.Rational(1, 2)
    if name == "sigmoid":
        k = sympy.Float(params.get("slope", 5.0))
        e = sympy.exp(-k * sympy.Abs(C))  # the safe form: no overflow for large |c|
        return k * e / (1 + e) ** 2, sympy.Piecewise((1 / (1 + sympy.exp(-k * C)), C >= 0), (sympy.exp(k * C) / (1 + sympy.exp(k * C)), True))
    if name == "atan":
        a = sympy.Float(params.get("alpha", 2.0))
        return (a / 2) / (1 + (sympy.pi / 2 * a * C) ** 2), sympy.atan(sympy.pi / 2 * a * C) / sympy.pi + sympy.Rational(1, 2)
    if name == "triangle":
        k = sympy.Float(params.get("slope", 1.0))
        return k * sympy.Max(0, 1 - k * sympy.Abs(C)), None
    if name == "straight_through":
        return sympy.Integer(1), C + sympy.Rational(1, 2)
    raise GradientError(f"unknown surrogate '{name}'; choose fast_sigmoid, sigmoid, atan, triangle or straight_through")


SURROGATES = ("fast_sigmoid", "sigmoid", "atan", "triangle", "straight_through")


@dataclass
class StepGradient:
    """A population's step and its derivatives, over qualified names.

    ``state`` and ``inputs`` are the variables s and I; ``new`` maps each state
    variable to u_k (its value after integration, before the reset) as a function
    of s and I; the derivative tables are expressions over s, I, u (named
    ``<var>_u``), z and parameters.
    """

    population: str
    state: list[str]
    inputs: list[str]
    new: dict[str, sympy.Basic]
    condition: sympy.Basic
    reset: dict[str, sympy.Basic]
    du_ds: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    du_dI: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    dc_du: dict[str, sympy.Basic] = field(default_factory=dict)
    dr_du: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    dr_dz: dict[str, sympy.Basic] = field(default_factory=dict)


def u_name(var: str) -> str:
    return f"{var}_u"


def step_gradient(pop: PopulationPlan) -> StepGradient:
    """Derivatives of one population's step, from the plan's own statements."""
    if pop.threshold is None:
        raise GradientError(f"population '{pop.name}' never spikes: training needs a 'spike when' condition")
    state, inputs = pop.state, [a.name for a in pop.inputs]
    # Compose the integration statements into u_k = G_k(s, I): each statement is
    # substituted into the later ones, gating dropped (a held variable is u_k = s_k,
    # which the backward pass applies with the forward pass's mask).
    env: dict[sympy.Symbol, sympy.Basic] = {}
    new: dict[str, sympy.Basic] = {v: symbol(v) for v in state}
    for a in pop.integrate:
        value = a.expr.xreplace(env)
        env[symbol(a.target)] = value
        if a.target in state:
            new[a.target] = value
    u_syms = {symbol(v): symbol(u_name(v)) for v in state}
    condition = _margin(pop.threshold).xreplace(u_syms)
    reset: dict[str, sympy.Basic] = {v: symbol(u_name(v)) for v in state}
    current = dict(u_syms)
    for a in pop.reset:
        value = a.expr.xreplace(current)
        current[symbol(a.target)] = value
        reset[a.target] = value
    grad = StepGradient(population=pop.name, state=state, inputs=inputs, new=new,
                        condition=condition, reset={})
    s_syms = [symbol(v) for v in state]
    i_syms = [symbol(v) for v in inputs]
    for k in state:
        uk = new[k]
        for j, sj in zip(state, s_syms):
            d = sympy.diff(uk, sj)
            if d != 0:
                grad.du_ds[(k, j)] = d
        for m, im in zip(inputs, i_syms):
            d = sympy.diff(uk, im)
            if d != 0:
                grad.du_dI[(k, m)] = d
        d = sympy.diff(condition, symbol(u_name(k)))
        if d != 0:
            grad.dc_du[k] = d
    # s'_k = z * reset_k(u) + (1 - z) * u_k
    for k in state:
        r = reset[k]
        blended = Z * r + (1 - Z) * symbol(u_name(k)) if r != symbol(u_name(k)) else symbol(u_name(k))
        grad.reset[k] = blended
        for j in state:
            d = sympy.diff(blended, symbol(u_name(j)))
            if d != 0:
                grad.dr_du[(k, j)] = d
        d = sympy.diff(blended, Z)
        if d != 0:
            grad.dr_dz[k] = d
    return grad


def _margin(threshold: sympy.Basic) -> sympy.Basic:
    """The spike condition as c >= 0."""
    if isinstance(threshold, (sympy.GreaterThan, sympy.StrictGreaterThan)):
        return threshold.lhs - threshold.rhs
    if isinstance(threshold, (sympy.LessThan, sympy.StrictLessThan)):
        return threshold.rhs - threshold.lhs
    raise GradientError(f"the spike condition {threshold} is not a comparison of the form a >= b; "
                        "surrogate gradients need one")
