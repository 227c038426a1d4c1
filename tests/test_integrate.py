"""The exact scheme's propagators against a numerical matrix exponential.

Each system is written as ODEs over SymPy symbols; the plan's propagator entries,
evaluated at numbers, must equal exp(M dt) of the augmented matrix M = [[A, B], [0, 0]]
(columns: variables, inputs, the constant 1) computed in floating point.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from scipy.linalg import expm

from snnlang.functions import symbol
from snnlang.plan.integrate import integrate

VALUES = {"tau_m": 20e-3, "tau_e": 5e-3, "tau_i": 10e-3, "tau_a": 100e-3, "E_l": -65e-3, "R": 1e8, "a": 3.0,
          "dt": 1e-4, "w": 2.0}
s = {name: symbol(name) for name in ["v", "ge", "gi", "x", "y", "z", "I", *VALUES]}

SYSTEMS = {
    # CUBA: two currents into v, a constant
    "cuba": {"v": (s["ge"] + s["gi"] - (s["v"] - s["E_l"])) / s["tau_m"],
             "ge": -s["ge"] / s["tau_e"], "gi": -s["gi"] / s["tau_i"]},
    # a chain of three with an input at its start: z -> y -> x
    "chain": {"x": (-s["x"] + s["y"]) / s["tau_m"], "y": (-s["y"] + s["a"] * s["z"]) / s["tau_e"],
              "z": (-s["z"] + s["R"] * s["I"] * 1e-9) / s["tau_a"]},
    # equal time constants: the confluent case (t e^{-t/tau})
    "alpha": {"x": (-s["x"] + s["y"]) / s["tau_e"], "y": -s["y"] / s["tau_e"]},
    # coupled both ways (not triangular): SymPy's matrix exponential
    "rotation": {"x": -s["x"] / s["tau_m"] + s["y"] * s["w"], "y": -s["x"] * s["w"] - s["y"] / s["tau_m"]},
}


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_exact_propagator_equals_the_matrix_exponential(name):
    odes = SYSTEMS[name]
    params = set(VALUES) - {"dt"}
    step = integrate(odes, params, {"I"}, "exact")
    assert step.method == "exact"
    rows, columns = list(step.updates), step.columns
    assert columns[: len(rows)] == rows and columns[-1] in ("1",) + tuple(columns)
    # the augmented matrix, numerically
    n = len(columns)
    M = np.zeros((n, n))
    numbers = {s[k]: v for k, v in VALUES.items()}
    for r, x in enumerate(rows):
        f = sympy.expand(odes[x].xreplace(numbers))
        for c, label in enumerate(columns):
            if label == "1":
                M[r, c] = float(f.xreplace({symbol(y): 0 for y in columns if y != "1"}))
            else:
                M[r, c] = float(f.diff(symbol(label)))
    expected = expm(M * VALUES["dt"])
    constants = {const: float(expr.xreplace(numbers)) for const, expr in step.constants}
    for r, x in enumerate(rows):
        for c, label in enumerate(columns):
            got = constants.get(step.matrix.get((x, label)), 0.0)
            assert got == pytest.approx(expected[r, c], rel=1e-9, abs=1e-15), (x, label)


def test_oscillator_is_real_and_exact(tmp_path):
    """A damped rotation (coupled both ways): a real propagator, x = exp(-t/tau) cos(w t)."""
    from helpers import build_package

    spec = """
        neuron Res {
            parameters { tau = 20 ms; w = 200 Hz }
            state { x = 1; y = 0 }
            equations {
                dx/dt = -x / tau + w * y
                dy/dt = -w * x - y / tau
            }
        }
        network n {
            population p = Res(2) { w = (i + 1) * 200 Hz }
            monitor x of p
        }
        simulate n { dt = 0.1 ms; duration = 30 ms }
    """
    net = build_package(spec, tmp_path, "res").Network()
    net.run()
    t, x = net.trace("p", "x")
    assert x.dtype == np.float64
    t_end = t + 1e-4  # sample k is taken at the end of step k
    for k in range(2):
        np.testing.assert_allclose(x[:, k], np.exp(-t_end / 20e-3) * np.cos((k + 1) * 200 * t_end),
                                   rtol=0, atol=1e-12)


def test_oscillation_that_depends_on_the_parameters_falls_back():
    """Whether this system oscillates depends on a, b: no one closed form, so auto picks another
    scheme and `method exact` is refused."""
    from snnlang.plan.integrate import IntegrationError

    odes = {"x": -s["x"] / s["tau_m"] + s["a"] * s["y"], "y": -s["w"] * s["x"] - s["y"] / s["tau_e"]}
    assert integrate(odes, {"tau_m", "tau_e", "a", "w"}, set(), None).method != "exact"
    with pytest.raises(IntegrationError, match="oscillates"):
        integrate(odes, {"tau_m", "tau_e", "a", "w"}, set(), "exact")
