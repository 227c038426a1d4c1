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
    # a chain of three with one time constant: the confluent case beyond a chain of two
    "chain_equal": {"x": (-s["x"] + s["y"]) / s["tau_e"], "y": (-s["y"] + s["z"]) / s["tau_e"],
                    "z": (-s["z"] + s["E_l"]) / s["tau_e"]},
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


LOGISTIC_SPEC = """
    # dx/dt = x (1 - x) / tau: nonlinear, with the closed form x(t) = 1 / (1 + (1/x0 - 1) exp(-t/tau))
    neuron Logistic {
        parameters { tau = 10 ms }
        state { x = 0.01 }
        equations { dx/dt = x * (1 - x) / tau }
        method METHOD
    }
    network n {
        population p = Logistic(1)
    }
    simulate n { dt = 1 ms; duration = 50 ms }
"""


@pytest.mark.parametrize("method, order", [("euler", 1), ("rk2", 2), ("heun", 2), ("rk4", 4)])
def test_schemes_converge_at_their_order(tmp_path, method, order):
    """Each scheme's global error on the logistic equation shrinks as dt**order."""
    from helpers import build_package

    pkg = build_package(LOGISTIC_SPEC.replace("METHOD", method), tmp_path, f"logistic_{method}")
    exact = 1 / (1 + (1 / 0.01 - 1) * np.exp(-50e-3 / 10e-3))
    errors = []
    for dt in (1e-3, 0.5e-3, 0.25e-3):
        net = pkg.Network(dt=dt)
        net.run(duration=50e-3)
        errors.append(abs(float(net.state["p_x"][0]) - exact))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - order) < 0.25), (method, errors, rates)


DECAYING_RATE_SPEC = """
    # dx/dt = -y x / tau with y decaying: linear in x, its rate changing within a step.
    # x(t) = x0 exp(-(y0 tau_y / tau) (1 - exp(-t / tau_y)))
    neuron Gate {
        parameters { tau = 10 ms; tau_y = 5 ms }
        state { x = 1; y = 2 }
        equations {
            dx/dt = -y * x / tau
            dy/dt = -y / tau_y
        }
        method exponential_euler
    }
    network n {
        population p = Gate(1)
    }
    simulate n { dt = 1 ms; duration = 20 ms }
"""


def test_exponential_euler_converges_at_first_order_and_is_exact_for_linear_parts(tmp_path):
    from helpers import build_package

    pkg = build_package(DECAYING_RATE_SPEC, tmp_path, "gate")
    T, tau, tau_y = 20e-3, 10e-3, 5e-3
    errors = []
    for dt in (1e-3, 0.5e-3, 0.25e-3):
        net = pkg.Network(dt=dt)
        net.run(duration=T)
        np.testing.assert_allclose(net.state["p_y"][0], 2 * np.exp(-T / tau_y), rtol=1e-12)  # linear: exact
        errors.append(abs(float(net.state["p_x"][0]) - np.exp(-(2 * tau_y / tau) * (1 - np.exp(-T / tau_y)))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 1) < 0.25), (errors, rates)
