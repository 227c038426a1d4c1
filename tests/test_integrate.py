"""The exact scheme's propagators against a numerical matrix exponential.

Each system is written as ODEs over SymPy symbols; the plan's propagator entries,
evaluated at numbers, must equal exp(M dt) of the augmented matrix M = [[A, B], [0, 0]]
(columns: variables, inputs, the constant 1) computed in floating point.
"""
from __future__ import annotations

import functools
import types
import warnings

import numpy as np
import pytest
import sympy
from scipy.linalg import expm

from snnlang.backends.printer import numpy_code
from snnlang.frontend.functions import symbol
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


def _phi1(z):
    """The NumPy runtime's phi1 (templates/numpy/runtime.py.j2): expm1(z)/z, 1 at 0."""
    z = np.asarray(z, dtype=float)
    return np.divide(np.expm1(z), z, out=np.ones_like(z), where=z != 0)


def compiled(constants: list) -> list:
    """Constants as the NumPy target prints them, compiled: (name, code) in order."""
    return [(const, compile(numpy_code(expr), const, "eval")) for const, expr in constants]


def evaluate(step, values: dict, code: list | None = None) -> dict:
    """The step's constants in float64, as the NumPy target computes them: each printed by its
    printer and evaluated in order (later constants read earlier ones). ``code``: the
    constants already :func:`compiled`."""
    env = {"np": np, "rt": types.SimpleNamespace(phi1=_phi1), **values}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.where computes both branches: neither may divide by zero
        for const, text in code or compiled(step.constants):
            env[const] = float(eval(text, env))  # the printer's own output, not spec text
    return env


def augmented(odes: dict, columns: list[str], values: dict) -> np.ndarray:
    """M = [[A, B], [0, 0]] of dx/dt = A x + B u, numerically (columns: variables, inputs, 1)."""
    n = len(columns)
    M = np.zeros((n, n))
    numbers = {s[k]: v for k, v in values.items()}
    for r, x in enumerate(odes):
        f = sympy.expand(odes[x].xreplace(numbers))
        for c, label in enumerate(columns):
            if label == "1":
                M[r, c] = float(f.xreplace({symbol(y): 0 for y in columns if y != "1"}))
            else:
                M[r, c] = float(f.diff(symbol(label)))
    return M


def assert_propagator(odes: dict, step, values: dict, rel: float = 1e-9) -> None:
    """Every entry of the step's propagator, at these values, against scipy's expm(M dt)."""
    rows, columns = list(step.updates), step.columns
    expected = expm(augmented({x: odes[x] for x in rows}, columns, values) * values["dt"])
    constants = evaluate(step, values)
    for r, x in enumerate(rows):
        for c, label in enumerate(columns):
            got = constants[step.matrix[(x, label)]] if (x, label) in step.matrix else 0.0
            assert np.isfinite(got), (x, label)
            assert got == pytest.approx(expected[r, c], rel=rel, abs=1e-15), (x, label, values)


@functools.cache
def exact_step(name: str):
    """The exact scheme of a system, for symbolic parameters (built once, evaluated at many values)."""
    return integrate(SYSTEMS[name], set(VALUES) - {"dt"}, {"I"}, "exact")


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_exact_propagator_equals_the_matrix_exponential(name):
    odes = SYSTEMS[name]
    step = exact_step(name)
    assert step.method == "exact"
    rows, columns = list(step.updates), step.columns
    assert columns[: len(rows)] == rows and columns[-1] in ("1",) + tuple(columns)
    assert_propagator(odes, step, VALUES)


#: time constants made equal, nearly equal or far at run time: the step is built once, for
#: symbolic parameters, and evaluated at each set of values (no rebuild)
RELATIONS = {"equal": 0.0, "1e-12": 1e-12, "1e-8": 1e-8, "1e-4": 1e-4, "far": None}


@pytest.mark.parametrize("relation", RELATIONS)
def test_cuba_propagator_with_equal_time_constants(relation):
    """tau_m against tau_i (and tau_e): the confluent case t exp(-t/tau), and near it."""
    odes, step = SYSTEMS["cuba"], exact_step("cuba")
    r = RELATIONS[relation]
    for tau_m, tau_e in ((10e-3, 5e-3), (5e-3, 5e-3), (1e-4, 1e-4), (3e-3, 3e-2)):  # dt/tau from 1/300 to 1
        tau_i = tau_m * (1 + r) if r is not None else 2.5 * tau_m
        values = {**VALUES, "tau_m": tau_m, "tau_e": tau_e * (1 - (r or 0)), "tau_i": tau_i}
        assert_propagator(odes, step, values)


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("pattern", ["all", "x=y", "y=z", "x=z"])
def test_chain_propagator_with_equal_time_constants(relation, pattern):
    """A chain z -> y -> x with an input into z: its propagator has divided differences of
    up to four rates (tau_m, tau_e, tau_a and the input's 0), equal in any pattern."""
    odes, step = SYSTEMS["chain"], exact_step("chain")
    r = RELATIONS[relation]
    for tau in (5e-3, 4e-4, 1e-4):
        near = [tau * (1 + r), tau, tau * (1 - r)] if r is not None else [tau, 3 * tau, 7 * tau]
        far = 4.5 * tau
        taus = {"all": near, "x=y": near[:2] + [far], "y=z": [far] + near[1:], "x=z": [near[0], far, near[2]]}[pattern]
        values = {**VALUES, **dict(zip(("tau_m", "tau_e", "tau_a"), taus))}
        assert_propagator(odes, step, values)


def test_divided_differences_are_accurate_in_every_pattern_of_closeness():
    """exp[x_0, ..., x_p] of three and four points, as the NumPy target computes it, against
    mpmath at 40 digits: points far apart, in pairs, in a cluster (nearly equal down to
    1e-14 apart) and equal, around the recurrence's switch to the Taylor series."""
    import mpmath

    from snnlang.plan.integrate import CLUSTER, _DividedDifferences

    rng = np.random.default_rng(7)
    for n in (3, 4):
        points = [(f"x{k}", symbol(f"x{k}")) for k in range(n)]
        dd = _DividedDifferences("")
        code = compiled(dd.constants + [("D", dd(points))])
        worst = 0.0
        for _ in range(400):
            base = -10 ** rng.uniform(-3, 0.5)
            offsets = rng.choice([0.0, 1e-14, 1e-8, 1e-3, 0.3, 1, 3], size=n) * rng.uniform(-2, 2, size=n)
            x = base + CLUSTER * offsets
            if rng.random() < 0.3:
                x[rng.integers(n)] = 0.0  # an input's column
            got = evaluate(None, {f"x{k}": float(v) for k, v in enumerate(x)}, code)["D"]
            with mpmath.workdps(40):  # exp of the bidiagonal matrix: the divided difference, confluent or not
                J = mpmath.diag([mpmath.mpf(float(v)) for v in x])
                for k in range(n - 1):
                    J[k, k + 1] = 1
                expected = mpmath.expm(J)[0, n - 1]
                worst = max(worst, float(abs((got - expected) / expected)))
        assert worst < 2e-12, (n, worst)


CHAIN_SPEC = """
    # CUBA's neuron, a chain z -> y -> x with a constant drive of z and the standard
    # library's LIF: their exact propagators, time constants made equal only at run time
    import "lif.snn"

    neuron Cuba {
        parameters { tau_m = 20 ms; tau_e = 5 ms; tau_i = 10 ms; E_l = -49 mV }
        state { v = -60 mV; ge = 2 mV; gi = -3 mV }
        equations {
            dv/dt  = (ge + gi - (v - E_l)) / tau_m
            dge/dt = -ge / tau_e
            dgi/dt = -gi / tau_i
        }
    }
    neuron Chain {
        parameters { tau_m = 20 ms; tau_e = 5 ms; tau_a = 100 ms; a = 3; E_l = 0.5 }
        state { x = 0.1; y = -0.2; z = 0.3 }
        equations {
            dx/dt = (y - x) / tau_m
            dy/dt = (a * z - y) / tau_e
            dz/dt = (E_l - z) / tau_a
        }
    }
    network n {
        population c = Cuba(1)
        population ch = Chain(1)
        population l = LIF(1) { I_syn = 1 nA }
    }
    simulate n { dt = 0.1 ms; duration = 5 ms }
"""


def test_generated_package_handles_equal_time_constants_set_at_run_time(tmp_path):
    """Built once; time constants set equal, nearly equal (1e-12, 1e-8 relative) and far at
    run time; 50 steps of each population against expm(M dt)**50 of its system."""
    from helpers import build_package

    pkg = build_package(CHAIN_SPEC, tmp_path, "confluent")
    cuba, chain = SYSTEMS["cuba"], SYSTEMS["chain"]
    steps, dt = 50, 1e-4
    for r in (0.0, 1e-12, 1e-8, None):
        for tau in (10e-3, 1e-4):
            near = [tau * (1 + (r or 0)), tau, tau * (1 - (r or 0))] if r is not None else [tau, 3 * tau, 7 * tau]
            values = {"E_l": -49e-3, "tau_m": near[0], "tau_e": near[1], "tau_i": near[2]}
            chained = {"E_l": 0.5, "a": 3.0, "tau_m": near[0], "tau_e": near[1], "tau_a": near[2]}
            net = pkg.Network(params={**{f"c.{k}": v for k, v in values.items()},
                                      **{f"ch.{k}": v for k, v in chained.items()}})
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no 0/0 in a branch np.where discards
                net.run(steps=steps)
            for pop, odes, vals, start in (("c", cuba, values, [-60e-3, 2e-3, -3e-3]),
                                           ("ch", chain, chained, [0.1, -0.2, 0.3])):
                columns = list(odes) + ["1"]
                odes_here = {x: odes[x].xreplace({s["R"]: 0}) if pop == "ch" else odes[x] for x in odes}
                if pop == "ch":  # the spec's chain: a constant E_l in place of the input R I
                    odes_here["z"] = (s["E_l"] - s["z"]) / s["tau_a"]
                M = augmented(odes_here, columns, {**VALUES, **vals})
                expected = np.linalg.matrix_power(expm(M * dt), steps) @ np.array(start + [1.0])
                got = [float(net.state[f"{pop}_{x}"][0]) for x in odes]
                np.testing.assert_allclose(got, expected[:-1], rtol=1e-9, atol=1e-15, err_msg=f"{pop} {near}")


def test_stdlib_lif_with_equal_synaptic_and_membrane_time_constants(tmp_path):
    """The standard library's LIF with tau_syn = tau_m (set at run time): v - E_l is the
    alpha function R I_0 (t / tau) exp(-t / tau), exactly; and continuous in tau_syn."""
    from helpers import build_package

    pkg = build_package(CHAIN_SPEC, tmp_path, "lif_alpha")
    t, finals = 50 * 1e-4, []
    for tau_syn in (20e-3, 20e-3 * (1 + 1e-12), 20e-3 * (1 + 1e-8)):
        net = pkg.Network(params={"l.tau_syn": tau_syn})
        net.run(steps=50)
        finals.append(float(net.state["l_v"][0]))
    alpha = -65e-3 + 10e6 * 1e-9 * (t / 20e-3) * np.exp(-t / 20e-3)
    assert finals[0] == pytest.approx(alpha, rel=1e-13, abs=1e-16)
    np.testing.assert_allclose(finals[1:], alpha, rtol=1e-10)


def test_run_cuba_with_tau_m_equal_to_tau_i(tmp_path, monkeypatch):
    """`snnlang run specs/cuba.snn --set tau_m=10ms` (tau_i is 10 ms): no NaN, and rates
    close to those of a tau_m a hair away (the network is chaotic: spike trains differ)."""
    import json

    from helpers import SPECS
    from snnlang.cli import main

    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    rates = {}
    for value in ("10ms", "10.01ms"):
        out = tmp_path / value
        assert main(["run", str(SPECS / "cuba.snn"), "--set", f"tau_m={value}", "-o", str(out), "--no-plots"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        rates[value] = summary["populations"]["cells"]["rate_hz"]
    assert 1 < rates["10ms"] < 50 and abs(rates["10ms"] - rates["10.01ms"]) < 0.1 * rates["10.01ms"], rates


def test_chains_longer_than_three_and_an_input_are_not_exact():
    """Four variables fed by an input: five rates in one divided difference, more than the
    closed forms cover. `method exact` says so; the automatic choice is exponential Euler."""
    from snnlang.plan.integrate import IntegrationError

    xs = [symbol(f"u{k}") for k in range(4)]
    odes = {f"u{k}": (-xs[k] + (xs[k + 1] if k < 3 else s["I"])) / s["tau_m"] for k in range(4)}
    assert integrate(odes, {"tau_m"}, {"I"}, None).method == "exponential_euler"
    with pytest.raises(IntegrationError, match="the chain I -> u3 -> u2 -> u1 -> u0 is longer"):
        integrate(odes, {"tau_m"}, {"I"}, "exact")
    del odes["u3"]
    odes["u2"] = (-xs[2] + s["I"]) / s["tau_m"]
    assert integrate(odes, {"tau_m"}, {"I"}, None).method == "exact"  # three and an input: exact


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

    exact = 1 / (1 + (1 / 0.01 - 1) * np.exp(-50e-3 / 10e-3))
    errors = []
    for dt in (1e-3, 0.5e-3, 0.25e-3):  # dt is fixed when a package is built: one package each
        spec = LOGISTIC_SPEC.replace("METHOD", method).replace("dt = 1 ms", f"dt = {dt * 1e3:g} ms")
        net = build_package(spec, tmp_path, f"logistic_{method}_{round(dt * 1e6)}").Network()
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

    T, tau, tau_y = 20e-3, 10e-3, 5e-3
    errors = []
    for dt in (1e-3, 0.5e-3, 0.25e-3):
        spec = DECAYING_RATE_SPEC.replace("dt = 1 ms", f"dt = {dt * 1e3:g} ms")  # one package per dt
        net = build_package(spec, tmp_path, f"gate_{round(dt * 1e6)}").Network()
        net.run(duration=T)
        np.testing.assert_allclose(net.state["p_y"][0], 2 * np.exp(-T / tau_y), rtol=1e-12)  # linear: exact
        errors.append(abs(float(net.state["p_x"][0]) - np.exp(-(2 * tau_y / tau) * (1 - np.exp(-T / tau_y)))))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 1) < 0.25), (errors, rates)
