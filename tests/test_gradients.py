"""Surrogate gradients derived from the spec, checked against finite differences and a hand-written BPTT.

Finite-difference checks (float64): the forward pass runs with ``smooth=True``, where the
spike is the smooth function whose derivative is the surrogate, so the BPTT gradient is
the exact gradient of a differentiable function. Each parameter entry w is perturbed by
h = eps * max|W| (eps = 1e-6; 3e-6 for Izhikevich) and the five-point central difference
(8 (L(w + h) - L(w - h)) - (L(w + 2h) - L(w - 2h))) / 12h, exact to O(h^4), compared by
relative error |fd - g| / max(|fd|, |g|), for entries whose gradient exceeds a floor:
1e-6 of the largest gradient of that array, and 1e5 times the rounding noise of the
difference quotient (2.2e-16 |L| / h) -- below that floor the difference quotient
measures rounding, not the gradient. Refractoriness starts at hard threshold crossings
(piecewise constant in the weights), as in the simulator.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from snnlang.training.optim import loss_and_grads, softmax_cross_entropy
from snnlang.training.package import load_block, training_package

NEURONS = {
    # name: (definitions, population's neuron, variable the synapses add to, unit of the weight)
    "betalif": ("""
neuron BetaLIF {
    parameters { beta = 0.9; thr = 1.0 }
    state { v = 0.0 }
    inputs { I = 0.0 }
    update { v = beta * v + I }
    spike when v >= thr
    reset { v -= thr }
}""", "BetaLIF", "I", ""),
    "steplif": ('import "steplif.snn"', "StepLIF", "I", ""),  # refractory 5 steps, reset to 0
    "alif": ("""
neuron ALIF {
    parameters { beta = 0.9; rho = 0.95; thr = 1.0; b = 0.5 }
    state { v = 0.0; a = 0.0 }
    inputs { I = 0.0 }
    update { v = beta * v + I; a = rho * a }
    spike when v >= thr + b * a
    reset { v -= thr + b * a; a += 1 }
}""", "ALIF", "I", ""),
    "izhikevich": ('import "izhikevich.snn"', "Izhikevich", "I", " * mV/ms"),  # method euler
    "lif": ('import "lif.snn"', "LIF", "I_syn", " * nA"),  # exact integration, I_syn, refractory 2 ms
}
#: per model: surrogate for the checks, weight scale that makes both layers spike, eps, steps
SETTINGS = {
    "betalif": ("sigmoid(slope = 5)", 1.0, 1e-6, 16),
    "steplif": ("sigmoid(slope = 5)", 1.0, 1e-6, 16),
    "alif": ("sigmoid(slope = 5)", 1.0, 1e-6, 16),
    "izhikevich": ("sigmoid(slope = 0.2 / mV)", 30.0, 3e-6, 20),
    "lif": ("sigmoid(slope = 1 / mV)", 10.0, 1e-6, 20),
}


def spec_text(kind: str, recurrent: bool = False, surrogate: str = "sigmoid(slope = 5)", detach: bool = False,
              loss: str = "cross_entropy(spike_count(out))", n_in: int = 4, n_hidden: int = 5, n_out: int = 3) -> str:
    definitions, neuron, var, unit = NEURONS[kind]
    rec = (f"connect hidden -> hidden {{ all_to_all; w = uniform(-1, 1); on_pre: {var}_post += w{unit} }}"
           if recurrent else "")
    return f"""{definitions}
network net {{
    input x = poisson({n_in}, rate = 0 Hz)
    population hidden = {neuron}({n_hidden})
    population out = {neuron}({n_out})
    connect x -> hidden {{ all_to_all; w = uniform(-1, 1); on_pre: {var}_post += w{unit} }}
    connect hidden -> out {{ all_to_all; w = uniform(-1, 1); on_pre: {var}_post += w{unit} }}
    {rec}
    monitor spikes of out
}}
simulate net {{ dt = 0.5 ms; steps = 10 }}
train t {{
    network = net
    method = bptt
    surrogate = {surrogate}
    detach_reset = {'true' if detach else 'false'}
    loss = {loss}
}}
"""


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grad_specs")
    old = os.environ.get("SNNLANG_CACHE")
    os.environ["SNNLANG_CACHE"] = str(folder / "cache")
    count = [0]

    def make(text: str):
        count[0] += 1
        path = folder / f"spec_{count[0]}.snn"
        path.write_text(text)
        model, block = load_block(path)
        return training_package(model, block)

    yield make
    if old is None:
        os.environ.pop("SNNLANG_CACHE", None)
    else:
        os.environ["SNNLANG_CACHE"] = old


class Problem:
    """A tiny network with random weights and inputs, and a loss on its output."""

    def __init__(self, pk, weight_scale=1.0, T=16, B=3, seed=0, loss=("cross_entropy", "spike_count", {})):
        self.pk, self.tr = pk, pk.training
        net = pk.package.Network(seed=seed)
        self.params, self.dt = net.params, net.dt
        self.init, self.W, self.b = self.tr.initial(net)
        rng = np.random.default_rng(seed)
        scale = self.tr.CONNECTIONS[0][7]
        for k in self.W:
            self.W[k] *= weight_scale
        for k in self.b:
            self.b[k][...] = rng.normal(0, 0.1, self.b[k].shape) * weight_scale * scale
        self.x = (rng.random((T, B, self.tr.N_IN)) < 0.5).astype(float)
        self.y = rng.integers(0, self.tr.SIZES[self.tr.OUTPUT], B)
        self.loss_spec = loss

    mask = None

    def run(self, smooth=True, frozen=None):
        cache = self.tr.forward(self.params, self.dt, self.init, self.W, self.b, self.x, smooth=smooth,
                                frozen_reset=frozen, mask=self.mask)
        out = self.tr.OUTPUT
        U = cache["U"][self.tr.STATE[out][0]]
        loss, gz, gu, _ = loss_and_grads(*self.loss_spec[:2], cache["Z"][out], U, self.y, self.loss_spec[2])
        return loss, gz, gu, cache

    def gradients(self, smooth=True):
        loss, gz, gu, cache = self.run(smooth)
        out = self.tr.OUTPUT
        grads = self.tr.backward(self.params, self.dt, self.init, self.W, self.b, cache,
                                 grad_z={out: gz} if gz is not None else None,
                                 grad_u={self.tr.STATE[out][0]: gu} if gu is not None else None)
        return loss, grads, cache

    def check(self, eps=1e-6, frozen=False) -> tuple[float, int]:
        """(largest relative error, entries compared) of the BPTT gradient against central differences."""
        loss, grads, cache = self.gradients()
        fixed = {k: v.copy() for k, v in cache["Z"].items()} if frozen else None
        worst, compared = 0.0, 0
        for key, P in (self.W | self.b).items():
            h = eps * float(np.abs(P).max())
            floor = max(1e-6 * float(np.abs(grads[key]).max()), 1e5 * 2.2e-16 * max(abs(loss), 1.0) / h)
            for i in np.ndindex(P.shape):
                old = P[i]
                f = {}
                for k in (-2, -1, 1, 2):
                    P[i] = old + k * h
                    f[k] = self.run(frozen=fixed)[0]
                P[i] = old
                fd, g = (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * h), grads[key][i]
                if max(abs(fd), abs(g)) > floor:
                    worst = max(worst, abs(fd - g) / max(abs(fd), abs(g)))
                    compared += 1
        return worst, compared

    def rates(self, smooth=False) -> list[float]:
        cache = self.run(smooth=smooth)[3]
        return [float(cache["Z"][layer].mean()) for layer in self.tr.LAYERS]


@pytest.mark.parametrize("recurrent", [False, True], ids=["feedforward", "recurrent"])
@pytest.mark.parametrize("kind", list(NEURONS))
def test_gradients_match_finite_differences(build, kind, recurrent):
    surrogate, scale, eps, T = SETTINGS[kind]
    pk = build(spec_text(kind, recurrent, surrogate))
    problem = Problem(pk, scale, T=T)
    assert all(r > 0.005 for r in problem.rates()), "both layers must spike for the check to mean something"
    worst, compared = problem.check(eps)
    assert compared >= 20
    assert worst < 1e-4, f"{kind}: max relative error {worst:.2e}"


@pytest.mark.parametrize("recurrent", [False, True], ids=["feedforward", "recurrent"])
@pytest.mark.parametrize("kind", ["betalif", "steplif", "alif"], ids=["subtract", "zero", "alif_subtract"])
def test_detached_reset_is_the_gradient_with_the_reset_spikes_held_constant(build, kind, recurrent):
    detached = Problem(build(spec_text(kind, recurrent, detach=True)))
    worst, compared = detached.check(frozen=True)
    assert compared >= 20
    assert worst < 1e-4
    # and it is not the full gradient: the same comparison against the reset-through forward fails
    attached = Problem(build(spec_text(kind, recurrent, detach=False)))
    _, g_detached, _ = detached.gradients()
    _, g_attached, _ = attached.gradients()
    differs = max(float(np.abs(g_detached[k] - g_attached[k]).max() / np.abs(g_attached[k]).max()) for k in g_attached)
    assert differs > 1e-3


@pytest.mark.parametrize("surrogate", ["fast_sigmoid(slope = 2)", "sigmoid(slope = 4)", "atan(alpha = 2)",
                                       "triangle(slope = 0.5)", "straight_through"])
def test_every_surrogate_is_the_derivative_of_its_smooth_spike(build, surrogate):
    problem = Problem(build(spec_text("betalif", True, surrogate)))
    worst, compared = problem.check()
    assert compared >= 20
    assert worst < 1e-4


@pytest.mark.parametrize("loss", [
    "cross_entropy(max_membrane(out))", "cross_entropy(rate(out))", "mse(rate(out))",
    "mse(spike_count(out), correct = 0.9, incorrect = 0.1)", "mse(spike_train(out), correct = 0.5, incorrect = 0.1)",
    "mse(max_membrane(out))",
])
def test_losses_backpropagate_through_the_network(build, loss):
    pk = build(spec_text("alif", True, loss=loss))
    kind, readout, params = pk.tp.loss, pk.tp.readout, pk.tp.loss_params
    problem = Problem(pk, loss=(kind, readout, params))
    worst, compared = problem.check()
    assert compared >= 15
    assert worst < 1e-4


def test_dropout_masks_are_part_of_the_gradient(build):
    """A fixed dropout mask on the hidden layer's spikes (feedforward and recurrent delivery)."""
    problem = Problem(build(spec_text("betalif", True)))
    rng = np.random.default_rng(4)
    problem.mask = {"hidden": (rng.random((3, 5)) >= 0.4) / 0.6}
    worst, compared = problem.check()
    assert compared >= 20 and worst < 1e-4
    masked = problem.gradients()[1]
    problem.mask = None
    plain = problem.gradients()[1]
    assert not np.allclose(masked["hidden_out_w"], plain["hidden_out_w"])


def test_the_sigmoid_surrogate_never_overflows(build):
    """A steep sigmoid (slope 1e4 per unit) on margins of +-1e3: no overflow, no NaN, no warning."""
    problem = Problem(build(spec_text("betalif", True, "sigmoid(slope = 10000)")), weight_scale=1e3)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss, grads, cache = problem.gradients(smooth=True)
        loss2, grads2, _ = problem.gradients(smooth=False)
    assert all(np.isfinite(g).all() for g in list(grads.values()) + list(grads2.values()))
    z = cache["Z"]["hidden"]
    assert ((z >= 0) & (z <= 1)).all()


def test_surrogate_formulas():
    """The exact derivatives documented in docs/training.md, at a few margins."""
    import sympy

    from snnlang.plan.gradients import C, surrogate

    c = np.array([-2.0, -0.3, 0.0, 0.1, 1.5])
    expected = {
        ("fast_sigmoid", 25.0): 1 / (25 * np.abs(c) + 1) ** 2,
        ("sigmoid", 5.0): 5 * np.exp(-5 * c) / (1 + np.exp(-5 * c)) ** 2,
        ("atan", 2.0): 1 / (1 + (np.pi * c) ** 2),
        ("triangle", 1.0): np.maximum(0, 1 - np.abs(c)),
        ("straight_through", None): np.ones_like(c),
    }
    for (name, k), want in expected.items():
        key = {"fast_sigmoid": "slope", "sigmoid": "slope", "atan": "alpha", "triangle": "slope"}.get(name)
        d, smooth = surrogate(name, {key: k} if key else {})
        f = sympy.lambdify(C, d, "numpy")
        np.testing.assert_allclose(np.broadcast_to(f(c), c.shape), want, rtol=1e-12)
        # the smooth spike rises from 0 to 1 around c = 0 (straight-through: the identity shifted)
        s = sympy.lambdify(C, smooth, "numpy")
        assert abs(float(s(0.0)) - 0.5) < 1e-12


def test_unknown_surrogate_parameters_are_errors(build):
    from snnlang.frontend.diagnostics import SpecError

    with pytest.raises(SpecError, match="has no parameter"):
        build(spec_text("betalif", surrogate="fast_sigmoid(alpha = 2)"))
    with pytest.raises(SpecError, match="unknown surrogate"):
        build(spec_text("betalif", surrogate="relu"))


# ---------------------------------------------------------------------------------------
# The generated BPTT against a direct NumPy BPTT of the brief's discrete LIF, our semantics
# ---------------------------------------------------------------------------------------

def direct_bptt(x, W, b, y, decay, thr, ref_steps, slope, recurrent=None):
    """Hand-written BPTT of x -> hidden [-> hidden] -> out, StepLIF neurons, one step per connection.

    I_l[n] = b_l + z_{l-1}[n-1] W_l (+ z_l[n-1] W_rec);  active = ref == 0;
    u = decay v + I if active else v;  z = H(u - thr) active;  v = u (1 - z);
    ref = R if z else max(ref - 1, 0).  dH/du -> 1 / (slope |u - thr| + 1)^2.
    """
    T, B, _ = x.shape
    names = ["hidden", "out"]
    sizes = [W["x_hidden_w"].shape[1], W["hidden_out_w"].shape[1]]
    z = {k: np.zeros((T, B, n)) for k, n in zip(names, sizes)}
    u = {k: np.zeros((T, B, n)) for k, n in zip(names, sizes)}
    act = {k: np.zeros((T, B, n), dtype=bool) for k, n in zip(names, sizes)}
    v = {k: np.zeros((B, n)) for k, n in zip(names, sizes)}
    ref = {k: np.zeros((B, n), dtype=int) for k, n in zip(names, sizes)}
    for n in range(T):
        inputs = {"hidden": b["hidden_I"] + (x[n - 1] @ W["x_hidden_w"] if n else 0),
                  "out": b["out_I"] + (z["hidden"][n - 1] @ W["hidden_out_w"] if n else 0)}
        if recurrent and n:
            inputs["hidden"] = inputs["hidden"] + z["hidden"][n - 1] @ W[recurrent]
        for k in names:
            a = ref[k] == 0
            un = np.where(a, decay * v[k] + inputs[k], v[k])
            zn = ((un >= thr) & a).astype(float)
            u[k][n], z[k][n], act[k][n] = un, zn, a
            v[k] = un * (1 - zn)
            ref[k] = np.where(zn > 0, ref_steps, np.maximum(ref[k] - 1, 0))
    counts = z["out"].sum(0)
    loss, g = softmax_cross_entropy(counts, y)
    grads = {k: np.zeros_like(w) for k, w in W.items()} | {k: np.zeros_like(v_) for k, v_ in b.items()}
    gI = {k: np.zeros((T, B, n)) for k, n in zip(names, sizes)}
    gv = {k: np.zeros((B, n)) for k, n in zip(names, sizes)}
    for n in range(T - 1, -1, -1):
        for k in names:
            ez = g.copy() if k == "out" else np.zeros((B, sizes[0]))
            if k == "hidden" and n + 1 < T:
                ez += gI["out"][n + 1] @ W["hidden_out_w"].T
                if recurrent:
                    ez += gI["hidden"][n + 1] @ W[recurrent].T
            un, zn, a = u[k][n], z[k][n], act[k][n]
            ez = ez + (-un) * gv[k]                      # v = u (1 - z): dv/dz = -u
            sg = 1 / (slope * np.abs(un - thr) + 1) ** 2
            gu = (1 - zn) * gv[k] + ez * sg * a          # dv/du = 1 - z; dz/du = sg (active only)
            gI[k][n] = np.where(a, gu, 0.0)
            gv[k] = np.where(a, decay * gu, gu)          # held: u = v
    for n in range(1, T):
        grads["x_hidden_w"] += x[n - 1].T @ gI["hidden"][n]
        grads["hidden_out_w"] += z["hidden"][n - 1].T @ gI["out"][n]
        if recurrent:
            grads[recurrent] += z["hidden"][n - 1].T @ gI["hidden"][n]
    grads["hidden_I"] = gI["hidden"].sum((0, 1))
    grads["out_I"] = gI["out"].sum((0, 1))
    return loss, grads, z


@pytest.mark.parametrize("recurrent", [False, True], ids=["feedforward", "recurrent"])
def test_generated_bptt_equals_a_direct_numpy_bptt(build, recurrent):
    pk = build(spec_text("steplif", recurrent, "fast_sigmoid(slope = 5)", n_in=12, n_hidden=20, n_out=4))
    problem = Problem(pk, weight_scale=1.5, T=30, B=8, seed=3)
    assert min(problem.rates()) > 0.01
    loss, grads, cache = problem.gradients(smooth=False)
    rec = "hidden_hidden_w" if recurrent else None
    p = problem.params
    want_loss, want, z = direct_bptt(problem.x, problem.W, problem.b, problem.y, p["hidden.decay"], p["hidden.v_th"],
                                     int(p["hidden.t_ref"]), 5.0, rec)
    np.testing.assert_array_equal(cache["Z"]["out"], z["out"])
    assert loss == pytest.approx(want_loss, abs=1e-12)
    for k in want:
        scale = float(np.abs(want[k]).max())
        assert scale > 0
        np.testing.assert_allclose(grads[k], want[k], rtol=0, atol=1e-10 * max(scale, 1.0), err_msg=k)
