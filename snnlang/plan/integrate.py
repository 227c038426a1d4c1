"""Integration of continuous state: the scheme of each equation system, discretised.

Given the ODEs of one neuron (or one synapse's per-synapse equations) as SymPy
expressions, choose a scheme and return update statements over one step dt:

* ``exact``: linear systems with constant coefficients. The propagator
  exp(A dt) is built symbolically with Parlett's recurrence for triangular
  systems (the usual case: synaptic currents feed v, nothing feeds back), or
  SymPy's matrix exponential otherwise. Inputs and constants enter as extra
  columns, so propagator entries depend on parameters and dt only.
* ``exponential_euler``: each equation linear in its own variable with a
  coefficient that may depend on the others (conductance models, HH gates).
* ``euler``, ``rk2`` (midpoint), ``heun``, ``rk4``: any system.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from ..functions import symbol

DT = symbol("dt")
T = symbol("t")

AUTO_ORDER = ("exact", "exponential_euler", "rk4")


class IntegrationError(Exception):
    """The chosen method cannot integrate this system; the message says why."""


@dataclass
class Step:
    """Statements that advance the variables by one step.

    ``constants`` depend on parameters and dt only (computed once a run);
    ``statements`` run every step, in order, as ``target = expr``; targets
    ending in a prime are new values written back together at the end:
    ``updates`` maps each variable to the temporary holding its new value.
    ``matrix`` (exact scheme only) is the same update as a matrix: for each
    variable, the constant multiplying each column, the columns being the
    variables, then the inputs, then ``1`` (absent entries are zero).
    """

    method: str
    reason: str
    constants: list[tuple[str, sympy.Basic]] = field(default_factory=list)
    statements: list[tuple[str, sympy.Basic]] = field(default_factory=list)
    updates: dict[str, str] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    matrix: dict[tuple[str, str], str] = field(default_factory=dict)


def integrate(odes: dict[str, sympy.Basic], params: set[str], inputs: set[str],
              method: Optional[str], prefix: str = "") -> Step:
    """Discretise ``dx/dt = f`` for every x in ``odes`` (aliases already substituted).

    ``params`` are constant over a run; ``inputs`` (and non-integrated state)
    are constant over one step; anything else that is free is an error of the
    caller. ``prefix`` names the constants (``P_v_v``), to keep them unique.
    """
    if not odes:
        return Step(method="none", reason="no equations")
    if method is None:
        for candidate in AUTO_ORDER:
            try:
                step = _SCHEMES[candidate](odes, params, inputs, prefix)
            except IntegrationError:
                continue
            step.reason = f"chosen automatically: {step.reason}"
            return step
        raise AssertionError("rk4 integrates any system")
    return _SCHEMES[method](odes, params, inputs, prefix)


# ---- exact ---------------------------------------------------------------------

def _exact(odes, params, inputs, prefix) -> Step:
    names = list(odes)
    xs = [symbol(n) for n in names]
    constant = set(params) | {"dt"}
    columns: list[sympy.Basic] = []  # inputs, then the constant 1
    A = sympy.zeros(len(xs), len(xs))
    B: list[dict] = []
    for r, x in enumerate(names):
        f = sympy.expand(odes[x])
        row_b: dict = {}
        for c, y in enumerate(xs):
            coeff = f.coeff(y)
            if coeff.free_symbols - {symbol(p) for p in constant}:
                raise IntegrationError(f"d{x}/dt has a coefficient of {y} that is not constant")
            A[r, c] = coeff
        rest = sympy.expand(f - sum(A[r, c] * xs[c] for c in range(len(xs))))
        if rest.free_symbols & set(xs) or rest.has(sympy.Piecewise):
            raise IntegrationError(f"d{x}/dt is not linear")
        for term in sympy.Add.make_args(rest):
            factors = [s for s in term.free_symbols if s.name not in constant]
            if not factors:
                key = sympy.Integer(1)
            elif len(factors) == 1 and sympy.Poly(term, factors[0]).degree() == 1:
                key = factors[0]
            else:
                raise IntegrationError(f"d{x}/dt depends non-linearly on {factors}")
            if key == T:
                raise IntegrationError(f"d{x}/dt depends on time t")
            row_b[key] = row_b.get(key, 0) + term / key
        B.append(row_b)
    for row in B:
        for key in row:
            if key not in columns:
                columns.append(key)
    columns.sort(key=lambda k: (k == 1, str(k)))
    n, m = len(xs), len(columns)
    M = sympy.zeros(n + m, n + m)
    M[:n, :n] = A
    for r, row in enumerate(B):
        for key, value in row.items():
            M[r, n + columns.index(key)] = value
    P = _expm_dt(M)
    step = Step(method="exact", reason="linear with constant coefficients: exact propagator exp(A dt)")
    labels = names + [("1" if k == 1 else str(k)) for k in columns]
    step.columns = labels
    rhs_terms: dict[str, list] = {x: [] for x in names}
    for r, x in enumerate(names):
        for c, label in enumerate(labels):
            entry = _tidy(P[r, c])
            if entry == 0:
                continue
            const = f"{prefix}P_{x}_{label}"
            step.constants.append((const, entry))
            step.matrix[(x, label)] = const
            factor = 1 if c >= n and columns[c - n] == 1 else (xs[c] if c < n else columns[c - n])
            rhs_terms[x].append(symbol(const) * factor)
    for x in names:
        step.statements.append((x + "_new", sympy.Add(*rhs_terms[x])))
        step.updates[x] = x + "_new"
    return step


def _tidy(expr: sympy.Basic) -> sympy.Basic:
    """A propagator entry in a short form, cheaply (full simplify costs seconds)."""
    return sympy.factor_terms(sympy.expand(expr))


def _expm_dt(M: sympy.Matrix) -> sympy.Matrix:
    """exp(M dt), by Parlett's recurrence when M can be ordered upper triangular."""
    order = _triangular_order(M)
    if order is None:
        if M.shape[0] > 4:
            raise IntegrationError("the linear system is coupled both ways and too large for a closed form")
        return _real((M * DT).exp())
    perm = sympy.Matrix(M.extract(order, order)) * DT
    n = perm.shape[0]
    F = sympy.zeros(n, n)
    for i in range(n):
        F[i, i] = sympy.exp(perm[i, i])
    for d in range(1, n):
        for i in range(n - d):
            j = i + d
            den = sympy.cancel(perm[j, j] - perm[i, i])
            if den == 0:
                # Equal decay rates: the confluent case, exact for a chain of two.
                if any(perm[i, k] != 0 and perm[k, j] != 0 for k in range(i + 1, j)):
                    return (M * DT).exp()
                F[i, j] = perm[i, j] * F[i, i]
                continue

            def over(a):  # a / den for an entry of M dt: a rational function of the parameters
                return sympy.together(a / den) if a != 0 else sympy.Integer(0)

            # F T = T F at (i, j): F_ij (T_jj - T_ii) = T_ij (F_jj - F_ii) + sum_k (T_ik F_kj - F_ik T_kj)
            F[i, j] = over(perm[i, j]) * (F[j, j] - F[i, i]) + sum(
                (over(perm[i, k]) * F[k, j] - F[i, k] * over(perm[k, j]) for k in range(i + 1, j)), sympy.Integer(0))
    out = sympy.zeros(n, n)
    for a, ra in enumerate(order):
        for b, rb in enumerate(order):
            out[ra, rb] = F[a, b]
    return out


def _real(E: sympy.Matrix) -> sympy.Matrix:
    """A matrix exponential in real functions of the (real) parameters: exp(i w dt) pairs
    become cos and sin. Where that needs the sign of an expression of the parameters
    (oscillating or not), there is no one closed form: an IntegrationError."""
    out = E.applyfunc(sympy.expand_complex)  # spec symbols are real
    if any(e.has(sympy.I, sympy.re, sympy.im) for e in out):
        raise IntegrationError("the linear system is coupled both ways and whether it oscillates depends on "
                               "the parameters")
    return out.applyfunc(sympy.simplify)


def _triangular_order(M: sympy.Matrix) -> Optional[list[int]]:
    """An order of rows making M upper triangular (each row depends only on later ones), or None."""
    n = M.shape[0]
    deps = {r: {c for c in range(n) if c != r and M[r, c] != 0} for r in range(n)}
    result: list[int] = []
    remaining = set(range(n))
    while remaining:
        ready = sorted(r for r in remaining if not deps[r] & remaining)
        if not ready:
            return None
        remaining -= set(ready)
        result = ready + result
    return result


# ---- exponential Euler -----------------------------------------------------------

def _exponential_euler(odes, params, inputs, prefix) -> Step:
    step = Step(method="exponential_euler",
                reason="each equation is linear in its own variable: exponential Euler")
    for x, f in odes.items():
        xs = symbol(x)
        a = sympy.diff(f, xs)  # f as written, for readable code: linear in x when a is free of x
        if xs in a.free_symbols or a.has(sympy.Piecewise):
            raise IntegrationError(f"d{x}/dt is not linear in {x}")
        if a == 0:
            step.statements.append((x + "_new", xs + DT * f))
        else:
            step.statements.append((f"{x}_rate", a))
            rate = symbol(f"{x}_rate")
            # x + f(x) * dt * phi1(a dt), phi1(z) = (exp(z) - 1)/z: exact for linear f, safe at a = 0.
            step.statements.append((x + "_new", xs + f * DT * sympy.Function("phi1")(rate * DT)))
        step.updates[x] = x + "_new"
    return step


# ---- explicit Runge-Kutta family -----------------------------------------------------

def _runge_kutta(name: str, tableau: list[tuple[float, list]], weights: list):
    def scheme(odes, params, inputs, prefix) -> Step:
        step = Step(method=name, reason=f"explicit {name}")
        names = list(odes)
        xs = {x: symbol(x) for x in names}
        ks: list[dict] = []
        for s, (c, a_row) in enumerate(tableau):
            subs = {xs[x]: xs[x] + DT * sum((a * symbol(f"k{j + 1}_{x}") for j, a in enumerate(a_row) if a), sympy.Integer(0))
                    for x in names} if s else {}
            t_sub = {T: T + c * DT} if c else {}
            k = {}
            for x in names:
                expr = odes[x].xreplace({**subs, **t_sub}) if (subs or t_sub) else odes[x]
                step.statements.append((f"k{s + 1}_{x}", expr))
                k[x] = symbol(f"k{s + 1}_{x}")
            ks.append(k)
        for x in names:
            incr = sum((w * ks[s][x] for s, w in enumerate(weights) if w), sympy.Integer(0))
            step.statements.append((x + "_new", xs[x] + DT * incr))
            step.updates[x] = x + "_new"
        return step

    return scheme


def _euler(odes, params, inputs, prefix) -> Step:
    step = Step(method="euler", reason="forward Euler")
    for x, f in odes.items():
        step.statements.append((x + "_new", symbol(x) + DT * f))
        step.updates[x] = x + "_new"
    return step


_HALF = sympy.Rational(1, 2)
_SCHEMES = {
    "exact": _exact,
    "exponential_euler": _exponential_euler,
    "euler": _euler,
    "rk2": _runge_kutta("rk2", [(0, []), (_HALF, [_HALF])], [0, 1]),
    "heun": _runge_kutta("heun", [(0, []), (1, [1])], [_HALF, _HALF]),
    "rk4": _runge_kutta("rk4", [(0, []), (_HALF, [_HALF]), (_HALF, [0, _HALF]), (1, [0, 0, 1])],
                        [sympy.Rational(1, 6), sympy.Rational(1, 3), sympy.Rational(1, 3), sympy.Rational(1, 6)]),
}
