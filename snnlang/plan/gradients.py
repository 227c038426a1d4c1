"""Backward statements of one neuron's discretised step, for surrogate-gradient BPTT.

One step of a population, as the plan discretised it, maps the state s of the
previous step (after this step's deliveries) and the inputs I of this step to
the new state:

    u = G(s, I)          integration; while refractory the gated statements are
                         skipped: u = G_held(s, I) (the forward pass's mask picks)
    z = H(c(u))          spike; c is the condition written as c >= 0
    s' = R(u, z)         reset, written z * reset_k(u) + (1 - z) * u_k

The derivatives of G, G_held, c and R are taken here with SymPy from the very
statements the simulator runs; the Heaviside step's derivative is replaced by
the surrogate the spec names (:func:`surrogate`). Backends print these
expressions as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from ..frontend.functions import symbol
from .ir import PopulationPlan

Z = symbol("z")  # the spike of this step (0 or 1; a smooth value in gradient checks)
C = symbol("c")  # the spike condition's margin, c >= 0 <=> spike


class GradientError(Exception):
    pass


# ---- surrogates: d spike / d c ------------------------------------------------------------

#: name -> (parameter, default): the surrogates and their one parameter each.
SURROGATES = {
    "fast_sigmoid": ("slope", 25.0),
    "sigmoid": ("slope", 25.0),
    "atan": ("alpha", 2.0),
    "triangle": ("slope", 1.0),
    "straight_through": (None, None),
}


def surrogate(name: str, params: dict[str, float]) -> tuple[sympy.Basic, sympy.Basic]:
    """(derivative of the spike with respect to the margin c, a smooth spike with that derivative).

    The smooth function stands in for the step only in gradient checks
    (``forward(..., smooth=True)``), where the forward pass must be
    differentiable for finite differences to agree with the surrogate gradient.
    Every expression here is safe for any finite c: no exp of a positive number.
    """
    if name not in SURROGATES:
        raise GradientError(f"unknown surrogate '{name}'; choose {', '.join(SURROGATES)}")
    key, default = SURROGATES[name]
    unknown = set(params) - ({key} if key else set())
    if unknown:
        allowed = f"its parameter is {key}" if key else "it takes no parameter"
        raise GradientError(f"surrogate {name}() has no parameter {', '.join(sorted(unknown))}; {allowed}")
    k = sympy.Float(params.get(key, default)) if key else None
    if k is not None and not k > 0:
        raise GradientError(f"surrogate {name}(): {key} must be positive")
    if name == "fast_sigmoid":  # snnTorch's fast_sigmoid: d/dc = 1 / (k|c| + 1)^2
        return 1 / (k * sympy.Abs(C) + 1) ** 2, C / (1 + k * sympy.Abs(C)) + sympy.Rational(1, 2)
    if name == "sigmoid":  # d/dc sigma(k c) = k e / (1 + e)^2 with e = exp(-k|c|) <= 1: never overflows
        e = sympy.exp(-k * sympy.Abs(C))
        return k * e / (1 + e) ** 2, sympy.Piecewise((1 / (1 + e), C >= 0), (e / (1 + e), True))
    if name == "atan":  # snnTorch's atan: d/dc = (a/2) / (1 + (pi/2 a c)^2)
        return (k / 2) / (1 + (sympy.pi / 2 * k * C) ** 2), sympy.atan(sympy.pi / 2 * k * C) / sympy.pi + sympy.Rational(1, 2)
    if name == "triangle":  # d/dc = k max(0, 1 - k|c|): its integral is a C1 piecewise quadratic
        smooth = sympy.Piecewise((0, k * C <= -1), (1, k * C >= 1),
                                 (sympy.Rational(1, 2) + k * C - k ** 2 * C * sympy.Abs(C) / 2, True))
        return k * sympy.Max(0, 1 - k * sympy.Abs(C)), smooth
    return sympy.Integer(1), C + sympy.Rational(1, 2)  # straight_through


@dataclass
class StepGradient:
    """A population's step and its derivatives, over qualified names.

    ``state`` and ``inputs`` are the variables s and I; ``new`` maps each state
    variable to u_k (its value after integration, before the reset) as a function
    of s and I, ``held`` the same while refractory (None without refractoriness).
    The derivative tables are expressions over s, I, u (named ``u_name(var)``),
    z and parameters; ``*_held`` are those of ``held``.
    """

    population: str
    state: list[str]
    inputs: list[str]
    new: dict[str, sympy.Basic]
    condition: sympy.Basic
    reset: dict[str, sympy.Basic]
    held: Optional[dict[str, sympy.Basic]] = None
    du_ds: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    du_dI: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    du_ds_held: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    du_dI_held: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    dc_du: dict[str, sympy.Basic] = field(default_factory=dict)
    dr_du: dict[tuple[str, str], sympy.Basic] = field(default_factory=dict)
    dr_dz: dict[str, sympy.Basic] = field(default_factory=dict)
    refractory: bool = False


def u_name(var: str) -> str:
    """The name of a state variable's value after integration, before the reset."""
    return f"{var}__u"


def _compose(pop: PopulationPlan, held: bool) -> dict[str, sympy.Basic]:
    """u_k = G_k(s, I): each integration statement substituted into the later ones.

    ``held``: the statements the simulator skips while refractory (those with a
    ``where`` mask) are left out, as they are for a refractory neuron.
    """
    env: dict[sympy.Symbol, sympy.Basic] = {}
    new: dict[str, sympy.Basic] = {v: symbol(v) for v in pop.state}
    for a in pop.integrate:
        if held and a.where is not None:
            continue
        value = a.expr.xreplace(env)
        env[symbol(a.target)] = value
        if a.target in pop.state:
            new[a.target] = value
    return new


def _derivatives(new: dict[str, sympy.Basic], state: list[str], inputs: list[str]):
    du_ds, du_dI = {}, {}
    for k in state:
        for j in state:
            d = sympy.diff(new[k], symbol(j))
            if d != 0:
                du_ds[(k, j)] = d
        for m in inputs:
            d = sympy.diff(new[k], symbol(m))
            if d != 0:
                du_dI[(k, m)] = d
    return du_ds, du_dI


def step_gradient(pop: PopulationPlan) -> StepGradient:
    """Derivatives of one population's step, from the plan's own statements."""
    if pop.threshold is None:
        raise GradientError(f"population '{pop.name}' never spikes: training needs a 'spike when' condition")
    if pop.input_draws or any(a.draws for a in pop.inputs):
        raise GradientError(f"population '{pop.name}' draws random inputs every step; BPTT needs a deterministic step "
                            "(give the input a constant value in the network being trained)")
    state, inputs = pop.state, [a.name for a in pop.inputs]
    new = _compose(pop, held=False)
    u_syms = {symbol(v): symbol(u_name(v)) for v in state}
    condition = _margin(pop.threshold).xreplace(u_syms)
    reset: dict[str, sympy.Basic] = {v: symbol(u_name(v)) for v in state}
    current = dict(u_syms)
    for a in pop.reset:
        value = a.expr.xreplace(current)
        current[symbol(a.target)] = value
        if a.target in reset:
            reset[a.target] = value
    grad = StepGradient(population=pop.name, state=state, inputs=inputs, new=new,
                        condition=condition, reset={}, refractory=pop.refractory is not None)
    grad.du_ds, grad.du_dI = _derivatives(new, state, inputs)
    if pop.refractory is not None:
        grad.held = _compose(pop, held=True)
        grad.du_ds_held, grad.du_dI_held = _derivatives(grad.held, state, inputs)
    for k in state:
        d = sympy.diff(condition, symbol(u_name(k)))
        if d != 0:
            grad.dc_du[k] = d
    # s'_k = z * reset_k(u) + (1 - z) * u_k
    for k in state:
        r = reset[k]
        uk = symbol(u_name(k))
        blended = Z * r + (1 - Z) * uk if r != uk else uk
        grad.reset[k] = blended
        for j in state:
            d = sympy.diff(blended, symbol(u_name(j)))
            if d != 0:
                grad.dr_du[(k, j)] = d
        d = sympy.diff(blended, Z)
        if d != 0:
            grad.dr_dz[k] = d
    return grad


def reset_update(grad: StepGradient, var: str) -> Optional[sympy.Basic]:
    """The forward reset of ``var`` as one expression of u and z, exact for z in {0, 1}.

    An increment (v -= thr, u += d) is printed u + z * delta; any other reset
    z * r + (1 - z) * u. None when the reset leaves ``var`` alone.
    """
    uk = symbol(u_name(var))
    blended = grad.reset[var]
    if blended == uk:
        return None
    r = blended.xreplace({Z: sympy.Integer(1)})
    delta = sympy.expand(r - uk)
    if uk not in delta.free_symbols:
        return uk + Z * delta
    return Z * r + (1 - Z) * uk


def _margin(threshold: sympy.Basic) -> sympy.Basic:
    """The spike condition as c >= 0."""
    if isinstance(threshold, (sympy.GreaterThan, sympy.StrictGreaterThan)):
        return threshold.lhs - threshold.rhs
    if isinstance(threshold, (sympy.LessThan, sympy.StrictLessThan)):
        return threshold.rhs - threshold.lhs
    raise GradientError(f"the spike condition {threshold} is not a comparison of the form a >= b; "
                        "surrogate gradients need one")
