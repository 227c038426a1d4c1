"""The generated trainer's fast paths: in-place array expressions, kept work arrays, and the
backward pass of a one-variable layer as one linear recurrence (snnlang/backends/numpy/train.py).

Each is checked against what it replaces: direct NumPy evaluation, calls without kept arrays,
the general step-by-step backward pass, and central finite differences.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy

from snnlang.backends.lines import Lines
from snnlang.backends.numpy import train as emitter
from snnlang.backends.numpy.train import InPlace, code
from snnlang.training.optim import loss_and_grads
from snnlang.training.package import load_block, training_package

from test_gradients import Problem, spec_text

a, b, c, k = sympy.symbols("a b c k")
EXPRESSIONS = [
    a + b, a - b, -a - b, a * b, a / b, 1 / (a * b), -a, 2 - a, 1 / (a + 1), a ** 3 - 2, -(a + 1) * b,
    1 / (25.0 * sympy.Abs(k - a) + 1) ** 2,                                   # fast_sigmoid
    k * sympy.exp(-k * sympy.Abs(a)) / (1 + sympy.exp(-k * sympy.Abs(a))) ** 2,  # sigmoid
    k * sympy.Max(0, 1 - k * sympy.Abs(a)),                                    # triangle
    (k / 2) / (1 + (sympy.pi / 2 * k * a) ** 2),                               # atan
    b * (1 - k / (25 * sympy.Abs(a - 1) + 1) ** 2),
    (a - b) * (b - c) + a * b * c - c / (a * a + 1),
    sympy.sqrt(a * a + 1) - sympy.tanh(b),
    sympy.Piecewise((a, a > 1), (b, True)) * c,                                # printed as is
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("expr", EXPRESSIONS, ids=str)
def test_in_place_expressions_equal_numpy_evaluation(expr, dtype):
    rng = np.random.default_rng(0)
    env = {"np": np, "a": (rng.random((3, 4, 5)) + 0.5).astype(dtype), "b": (rng.random((3, 4, 5)) - 0.5).astype(dtype),
           "c": (rng.random((4, 5)) + 0.5).astype(dtype), "k": 1.7}
    out = Lines()
    InPlace(out, lambda depth: f"np.empty((3, 4, 5), dtype=np.{dtype.__name__})").into(expr, "target")
    ns = dict(env, target=np.full((3, 4, 5), np.nan, dtype=dtype))
    exec("\n".join(out.lines), ns)
    want = np.broadcast_to(eval(code(expr), dict(env)), (3, 4, 5))
    assert ns["target"].dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ns["target"], want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))


def package(tmp_path, text: str, name: str = "spec"):
    path = tmp_path / f"{name}.snn"
    path.write_text(text)
    return training_package(*load_block(path))


def source(pk) -> str:
    return (pk.folder / "training.py").read_text()


CASES = [
    ("fast_sigmoid(slope = 2)", False, "cross_entropy(spike_count(out))", None),
    ("sigmoid(slope = 5)", True, "cross_entropy(spike_count(out))", None),
    ("atan(alpha = 2)", False, "mse(spike_train(out), correct = 0.5, incorrect = 0.1)", None),
    ("triangle(slope = 0.5)", False, "cross_entropy(rate(out))", "mask"),
    ("sigmoid(slope = 5)", False, "cross_entropy(max_membrane(out))", None),  # grad_u
]


@pytest.mark.parametrize("surrogate, detach, loss, mask", CASES)
def test_linear_recurrence_matches_finite_differences(tmp_path, cache, surrogate, detach, loss, mask):
    pk = package(tmp_path, spec_text("betalif", surrogate=surrogate, detach=detach, loss=loss))
    assert "M_hidden" in source(pk) and "M_out" in source(pk), "both layers take the linear recurrence"
    problem = Problem(pk, loss=(pk.tp.loss, pk.tp.readout, pk.tp.loss_params))
    if mask:
        problem.mask = {"hidden": (np.random.default_rng(4).random((3, 5)) >= 0.4) / 0.6}
    assert min(problem.rates()) > 0.005
    worst, compared = problem.check(frozen=detach)
    assert compared >= 15
    assert worst < 1e-4


@pytest.mark.parametrize("surrogate, detach, loss, mask", CASES)
def test_linear_recurrence_equals_the_step_by_step_backward(tmp_path, monkeypatch, surrogate, detach, loss, mask):
    text = spec_text("betalif", surrogate=surrogate, detach=detach, loss=loss, n_in=6, n_hidden=9, n_out=4)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "fast"))
    fast = package(tmp_path, text)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "general"))
    monkeypatch.setattr(emitter.TrainingEmitter, "linear", lambda self, group: None)
    general = package(tmp_path, text + "# general\n", "general")  # another spec text: another module name
    assert "M_hidden" in source(fast) and "M_hidden" not in source(general)
    assert fast.training is not general.training
    results = []
    for pk in (fast, general):
        problem = Problem(pk, 1.5, T=20, B=4, seed=2, loss=(pk.tp.loss, pk.tp.readout, pk.tp.loss_params))
        if mask:
            problem.mask = {"hidden": (np.random.default_rng(4).random((4, 9)) >= 0.4) / 0.6}
        assert min(problem.rates(smooth=False)) > 0.01
        results.append(problem.gradients(smooth=False)[1])
    for key, want in results[1].items():
        scale = float(np.abs(want).max())
        assert scale > 0
        np.testing.assert_allclose(results[0][key], want, rtol=0, atol=1e-12 * scale, err_msg=key)


def test_kept_work_arrays_give_the_same_results_and_fresh_gradients(tmp_path, cache):
    """Calls with a kept buffers dict equal calls without, across batch shapes; the gradients
    returned are new arrays (a later call does not overwrite them)."""
    pk = package(tmp_path, spec_text("alif", recurrent=True))  # the general backward pass
    pk2 = package(tmp_path, spec_text("betalif"), "ff")  # the linear recurrence
    for pk in (pk, pk2):
        tr = pk.training
        net = pk.package.Network(seed=0)
        init, W, bias = tr.initial(net)
        W = {key: w * 2 for key, w in W.items()}
        buffers, kept = {}, []
        for B, seed in [(3, 0), (5, 1), (3, 2)]:
            rng = np.random.default_rng(seed)
            x = (rng.random((12, B, tr.N_IN)) < 0.5).astype(float)
            y = rng.integers(0, tr.SIZES[tr.OUTPUT], B)
            results = []
            for buf in (None, buffers):
                cache_ = tr.forward(net.params, net.dt, init, W, bias, x, buffers=buf)
                _, gz, _, _ = loss_and_grads("cross_entropy", "spike_count", cache_["Z"][tr.OUTPUT], None, y)
                grads = tr.backward(net.params, net.dt, init, W, bias, cache_, grad_z={tr.OUTPUT: gz}, buffers=buf)
                results.append((cache_["Z"][tr.OUTPUT].copy(), grads))
            (z0, g0), (z1, g1) = results
            np.testing.assert_array_equal(z0, z1)
            for key in g0:
                np.testing.assert_array_equal(g0[key], g1[key])
            kept.append(({key: g.copy() for key, g in g1.items()}, g1))
        assert len(buffers) > 0
        for copy, grads in kept:  # earlier gradients untouched by later calls
            for key in copy:
                np.testing.assert_array_equal(copy[key], grads[key])
