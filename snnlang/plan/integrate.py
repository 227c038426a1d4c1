"""Integration of continuous state: the scheme of each equation system, discretised.

Given the ODEs of one neuron (or one synapse's per-synapse equations) as SymPy
expressions, choose a scheme and return update statements over one step dt:

* ``exact``: linear systems with constant coefficients. The propagator
  exp(A dt) of a triangular system (the usual case: synaptic currents feed v,
  nothing feeds back) is a sum over the paths of its graph of divided
  differences of exp over the decay rates along each path, in forms that stay
  exact and accurate when rates are equal or nearly equal at run time (time
  constants are parameters); SymPy's matrix exponential otherwise. Inputs and
  constants enter as extra columns, so propagator entries depend on parameters
  and dt only.
* ``exponential_euler``: each equation linear in its own variable with a
  coefficient that may depend on the others (conductance models, HH gates).
* ``euler``, ``rk2`` (midpoint), ``heun``, ``rk4``: any system.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from ..frontend.functions import phi1, symbol

DT = symbol("dt")
T = symbol("t")

AUTO_ORDER = ("exact", "exponential_euler", "rk4")


class IntegrationError(Exception):
    """The chosen method cannot integrate this system; the message says why."""


@dataclass
class Step:
    """Statements that advance the variables by one step.

    ``constants`` depend on parameters, dt and earlier constants only (computed once a
    run, in order);
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
    labels = names + [("1" if k == 1 else str(k)) for k in columns]
    dd = _DividedDifferences(prefix)
    P = _expm_dt(M, labels, dd)
    step = Step(method="exact", reason="linear with constant coefficients: exact propagator exp(A dt)")
    step.constants += dd.constants  # what the entries read
    step.columns = labels
    rhs_terms: dict[str, list] = {x: [] for x in names}
    for r, x in enumerate(names):
        for c, label in enumerate(labels):
            entry = P[r, c]
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


def _expm_dt(M: sympy.Matrix, labels: list[str], dd: "_DividedDifferences") -> sympy.Matrix:
    """exp(M dt), by paths when M can be ordered upper triangular.

    For a triangular T = M dt with diagonal r_1..r_n, exp(T)_ij is the sum over the paths
    i = k_0 -> k_1 -> ... -> k_q = j of the graph of T (T_ab != 0) of
    T_k0k1 ... T_kq-1kq * exp[r_k0, ..., r_kq], the divided difference of exp over the rates
    along the path (the Opitz formula; Parlett's recurrence computes the same sums, divided
    by differences of rates). ``dd`` writes each divided difference in a form that is exact
    and accurate whether the rates are far, nearly equal or equal at run time."""
    order = _triangular_order(M)
    if order is None:
        if M.shape[0] > 4:
            raise IntegrationError("the linear system is coupled both ways and too large for a closed form")
        return _real((M * DT).exp()).applyfunc(_tidy)
    T = sympy.Matrix(M.extract(order, order)) * DT
    n = T.shape[0]
    names = [labels[k] for k in order]
    rates = [sympy.expand(T[i, i]) for i in range(n)]
    out = sympy.zeros(n, n)
    for i in range(n):
        out[order[i], order[i]] = sympy.exp(rates[i])
    for i in range(n):
        for j in range(i + 1, n):
            by_rates: dict[tuple, list] = {}  # paths over one multiset of rates share a divided difference
            for path in _paths(T, i, j):
                if len(path) > MAX_POINTS:
                    raise IntegrationError(
                        f"the chain {' -> '.join(names[k] for k in reversed(path))} is longer than the exact "
                        f"scheme's closed forms (up to {MAX_POINTS - 1} variables and an input, accurate when "
                        "time constants are equal)")
                weight = sympy.Mul(*(T[a, b] for a, b in zip(path, path[1:])))
                by_rates.setdefault(dd.key([rates[k] for k in path]), [path, 0])[1] += weight
            out[order[i], order[j]] = sympy.Add(*(
                sympy.factor_terms(weight) * dd([(names[k], rates[k]) for k in path])
                for path, weight in by_rates.values()))
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


def _paths(T: sympy.Matrix, i: int, j: int):
    """The paths i -> ... -> j of an upper triangular matrix's graph, as lists of indices."""
    if i == j:
        yield [i]
        return
    for k in range(i + 1, j + 1):
        if T[i, k] != 0:
            for rest in _paths(T, k, j):
                yield [i] + rest


#: Rates x dt closer than this (to the first of a divided difference's points) are summed
#: as a Taylor series; farther ones by the recurrence. With TAYLOR_DEGREE, both err by less
#: than about 1e-12 relative for up to four points (tests/test_integrate.py).
CLUSTER = 0.05
TAYLOR_DEGREE = 6
#: The most rates in one divided difference: a chain of three variables fed by an input.
#: Longer chains would need many more constants (every subset of the rates); the exact
#: scheme refuses them, so ``auto`` picks exponential Euler.
MAX_POINTS = 4


class _DividedDifferences:
    """exp[x_0, ..., x_p], the divided differences of exp over rates x dt, as SymPy.

    * one point: exp(x_0);
    * two: exp(x_1) phi1(x_0 - x_1), with phi1(z) = expm1(z)/z: exact when the rates are
      equal (phi1(0) = 1) and accurate however close they are;
    * three or more: a named constant (in ``constants``, a ``Piecewise`` on the run's
      values): the recurrence (exp[S - x_0] - exp[S - x_i]) / (x_i - x_0) over the first
      point x_i farther than CLUSTER from x_0, or, when all are that close, the Taylor
      series about their mean c, exp(c) sum_k h_k(x - c) / (p + k)! (h_k: the complete
      homogeneous polynomials, here from power sums).

    Equal rates (the same parameter) simplify symbolically: their branch is dropped.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.constants: list[tuple[str, sympy.Basic]] = []
        self.known: dict[tuple, sympy.Symbol] = {}

    @staticmethod
    def key(rates: list) -> tuple:
        return tuple(sorted(rates, key=sympy.default_sort_key))

    def __call__(self, points: list[tuple[str, sympy.Basic]]) -> sympy.Basic:
        rates = [x for _, x in points]
        if len(points) == 1:
            return sympy.exp(rates[0])
        if len(points) == 2:
            a, b = rates
            return phi1(a) if b == 0 else phi1(b) if a == 0 else sympy.exp(b) * phi1(a - b)
        key = self.key(rates)
        if key not in self.known:
            expr = self._piecewise(points)
            if not expr.has(sympy.Piecewise):  # equal rates: a closed form, no branches
                return expr
            name = f"{self.prefix}D_" + "_".join(label for label, _ in points)
            self.constants.append((name, expr))
            self.known[key] = symbol(name)
        return self.known[key]

    def _piecewise(self, points):
        rates = [x for _, x in points]
        x0 = rates[0]
        branches = []
        for i in range(1, len(points)):
            d = sympy.expand(rates[i] - x0)
            far = sympy.Abs(d) > CLUSTER
            if far == sympy.false:
                continue
            without_first, without_i = self(points[1:]), self(points[:i] + points[i + 1:])
            # / d written so that no branch divides by zero (NumPy evaluates every branch)
            guarded = (without_first - without_i) * sympy.sign(d) / sympy.Max(sympy.Abs(d), CLUSTER)
            branches.append((guarded, far))
            if far == sympy.true:
                break
        if not branches or branches[-1][1] != sympy.true:
            branches.append((_taylor(rates), True))
        return sympy.Piecewise(*branches)


def _taylor(rates: list) -> sympy.Basic:
    """exp[x_0, ..., x_p] about the mean c of the n = p + 1 points: exp(c) sum_k h_k(x - c) / (p + k)!,
    to degree TAYLOR_DEGREE; h_k by Newton's identities from the power sums P_m of the x - c
    (P_1 = 0): k h_k = sum_m P_m h_(k-m). The deviations are written n (x - c), whole multiples
    of the rates, and the n**-m go into the coefficients."""
    n, p = len(rates), len(rates) - 1
    total = sympy.Add(*rates)
    P = [sympy.Dummy(f"P{m}") for m in range(TAYLOR_DEGREE + 1)]
    h = [sympy.Integer(1)]
    for k in range(1, TAYLOR_DEGREE + 1):
        h.append(sympy.expand(sum(P[m] * h[k - m] / sympy.Integer(n) ** m for m in range(2, k + 1)) / k))
    series = sympy.Add(*(h[k] / sympy.factorial(p + k) for k in range(TAYLOR_DEGREE + 1)))
    scaled = [sympy.expand(n * x - total) for x in rates]
    return sympy.exp(total / n) * series.xreplace({P[m]: sympy.Add(*(e ** m for e in scaled))
                                                   for m in range(2, TAYLOR_DEGREE + 1)})


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
            step.statements.append((x + "_new", xs + f * DT * phi1(rate * DT)))
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
