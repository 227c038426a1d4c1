"""Training: losses, optimisers, schedules, dropout, quantisation, encoders, data, the CLI,
checkpoints and resume, and trained weights running in the generated simulator."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnlang.cli import main
from snnlang.training import data as datasets
from snnlang.training.optim import (
    Optimizer, dropout_mask, loss_and_grads, quantize, schedule, softmax_cross_entropy, target_trains,
)

from helpers import SPECS, write_spec


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# A small version of specs/digits_bptt.snn (64-16-10, 8 steps) whose input is an events()
# source of 2 x 32 x 1 = 64 channels, so that the simulator can be fed the very spikes the
# trainer encodes.
SMALL = """
neuron BetaLIF {{
    parameters {{ beta = 0.9; thr = 1.0 }}
    state {{ v = 0.0 }}
    inputs {{ I = 0.0 }}
    update {{ v = beta * v + I }}
    spike when v >= thr
    reset {{ v -= thr }}
}}
network mlp {{
    input x = events(width = 32, height = 1)
    population hidden = BetaLIF(16)
    population out = BetaLIF(10)
    connect x -> hidden {{ all_to_all; w = uniform(-0.3, 0.3); on_pre: I_post += w }}
    connect hidden -> out {{ all_to_all; w = uniform(-0.25, 0.25); on_pre: I_post += w }}
    monitor spikes of out, hidden
}}
simulate mlp {{ dt = 1 ms; steps = 8; seed = 0 }}
train digits {{
    network   = mlp
    method    = bptt
    data      = digits(test_fraction = 0.25, seed = 0)
    encode    = poisson(steps = 8)
    surrogate = fast_sigmoid(slope = 25)
    loss      = cross_entropy(spike_count(out))
    optimizer = {optimizer}
    epochs    = 4
    batch     = 32
    seed      = 0
    {extra}
}}
"""


def small_spec(folder, optimizer="adam(lr = 1e-2)", extra="", name="small"):
    return write_spec(SMALL.format(optimizer=optimizer, extra=extra), folder, name)


# ---------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------

def _fd_logits(f, logits, eps=1e-6):
    g = np.zeros_like(logits)
    for i in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def test_softmax_cross_entropy_value_gradient_and_safety():
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(4, 5)), np.array([0, 3, 4, 1])
    loss, g = softmax_cross_entropy(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(4), labels]).mean(), rel=1e-12)
    np.testing.assert_allclose(g, _fd_logits(lambda z: softmax_cross_entropy(z, labels)[0], logits), atol=1e-8)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        big, _ = softmax_cross_entropy(np.array([[1e4, -1e4, 0.0]]), np.array([1]))
    assert big == pytest.approx(2e4)


@pytest.mark.parametrize("kind,readout,params", [
    ("cross_entropy", "spike_count", {}), ("cross_entropy", "rate", {}), ("cross_entropy", "max_membrane", {"scale": 2.0}),
    ("mse", "spike_count", {}), ("mse", "rate", {"correct": 1.0, "incorrect": 0.0}), ("mse", "max_membrane", {}),
    ("mse", "spike_train", {"correct": 0.5, "incorrect": 0.25}),
])
def test_loss_gradients_match_finite_differences(kind, readout, params):
    rng = np.random.default_rng(1)
    T, B, N = 6, 3, 4
    Z, U, y = rng.random((T, B, N)), rng.normal(size=(T, B, N)), np.array([0, 2, 3])
    loss, gz, gu, scores = loss_and_grads(kind, readout, Z, U, y, params)
    if readout == "max_membrane":
        assert gz is None
        # dL/du is nonzero only at the step of each maximum
        assert (np.count_nonzero(gu, axis=0) <= 1).all()
        fd = _fd_logits(lambda u: loss_and_grads(kind, readout, Z, u, y, params)[0], U)
        np.testing.assert_allclose(gu, fd, atol=1e-7)
    else:
        fd = _fd_logits(lambda z: loss_and_grads(kind, readout, z, U, y, params)[0], Z)
        np.testing.assert_allclose(gz, fd, atol=1e-7)
    assert scores.shape == (B, N)


def test_mse_targets_are_snntorch_rates():
    Z = np.zeros((10, 1, 3))
    loss, _, _, _ = loss_and_grads("mse", "spike_count", Z, None, np.array([1]), {})
    assert loss == pytest.approx(((8.0 ** 2) + 2 * 2.0 ** 2) / 3)  # targets 0.8 T and 0.2 T
    trains = target_trains(np.array([1]), 10, 3, 0.5, 0.2)
    np.testing.assert_array_equal(trains.sum(0)[0], [2, 5, 2])
    np.testing.assert_array_equal(trains[:, 0, 1], [0, 1] * 5)


def test_unknown_loss_settings_are_errors():
    with pytest.raises(ValueError, match="no setting"):
        loss_and_grads("mse", "rate", np.zeros((2, 1, 2)), None, np.array([0]), {"target": 1})


# ---------------------------------------------------------------------------------------
# optimisers, schedules, weight decay, clipping, dropout, quantisation
# ---------------------------------------------------------------------------------------

def test_sgd_and_momentum_steps():
    w = {"a": np.array([1.0, -2.0])}
    g = {"a": np.array([0.5, 1.0])}
    opt = Optimizer("sgd", 0.1)
    opt.step(w, g)
    np.testing.assert_allclose(w["a"], [0.95, -2.1])
    w = {"a": np.array([1.0])}
    opt = Optimizer("momentum", 0.1, momentum=0.9)
    for _ in range(3):
        opt.step(w, {"a": np.array([1.0])})
    # m = 1, 1.9, 2.71: w = 1 - 0.1 (1 + 1.9 + 2.71)
    np.testing.assert_allclose(w["a"], [1 - 0.561])


def test_adam_matches_the_pytorch_formula():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(4)]
    w = {"a": w0.copy()}
    opt = Optimizer("adam", 1e-2, weight_decay=0.1)
    m = v = np.zeros(5)
    ref = w0.copy()
    for k, g in enumerate(grads, start=1):
        opt.step(w, {"a": g})
        g = g + 0.1 * ref  # torch.optim.Adam's (coupled) weight decay
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref = ref - 1e-2 * (m / (1 - 0.9 ** k)) / (np.sqrt(v / (1 - 0.999 ** k)) + 1e-8)
    np.testing.assert_allclose(w["a"], ref, rtol=1e-12)


def test_gradient_clipping_scales_the_global_norm():
    w = {"a": np.zeros(2), "b": np.zeros(1)}
    opt = Optimizer("sgd", 1.0, clip=1.0)
    norm = opt.step(w, {"a": np.array([3.0, 0.0]), "b": np.array([4.0])})
    assert norm == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([w["a"], w["b"]]), [-0.6, 0.0, -0.8])
    w = {"a": np.zeros(1)}
    Optimizer("sgd", 1.0, clip=10.0).step(w, {"a": np.array([3.0])})
    np.testing.assert_allclose(w["a"], [-3.0])  # below the limit: unchanged


def test_schedules():
    assert schedule("", 0.1, 5, 10) == 0.1
    assert [schedule("step", 1.0, e, 30, step_size=10, gamma=0.5) for e in (0, 9, 10, 25)] == [1, 1, 0.5, 0.25]
    assert schedule("cosine", 1.0, 0, 10) == 1.0
    assert schedule("cosine", 1.0, 5, 10) == pytest.approx(0.5)
    assert schedule("cosine", 1.0, 10, 10, min_lr=0.1) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown schedule"):
        schedule("linear", 1.0, 0, 1)


def test_dropout_mask_and_quantisation():
    mask = dropout_mask(np.random.default_rng(0), (200, 100), 0.3)
    assert abs((mask == 0).mean() - 0.3) < 0.02
    assert np.allclose(mask[mask > 0], 1 / 0.7)
    w = np.random.default_rng(1).normal(size=(64, 32))
    q = quantize(w, 8)
    step = np.abs(w).max() / 127
    assert len(np.unique(np.round(q / step))) <= 255
    assert np.abs(q - w).max() <= step / 2 + 1e-12
    assert np.abs(q).max() == pytest.approx(np.abs(w).max())


# ---------------------------------------------------------------------------------------
# encoders and data
# ---------------------------------------------------------------------------------------

def test_encoders():
    rng = np.random.default_rng(0)
    X = np.array([[0.0, 0.25, 0.5, 1.0]])
    spikes = datasets.encode("poisson", np.repeat(X, 500, axis=0), 40, rng, {})
    np.testing.assert_allclose(spikes.mean(axis=(0, 1)), X[0], atol=0.01)
    assert set(np.unique(spikes)) <= {0.0, 1.0}
    lat = datasets.encode("latency", X, 10, rng, {})
    assert lat.sum(axis=0).tolist() == [[0, 1, 1, 1]]  # one spike per nonzero feature
    first = lat[:, 0].argmax(axis=0)
    assert first[3] == 0 and first[3] < first[2] < first[1]  # brighter fires earlier
    cur = datasets.encode("current", X, 5, rng, {"gain": 2.0})
    assert cur.shape == (5, 1, 4) and (cur == 2 * X).all()
    with pytest.raises(ValueError, match="no setting"):
        datasets.encode("poisson", X, 5, rng, {"rate": 3})
    with pytest.raises(ValueError, match="unknown encoder"):
        datasets.encode("delta", X, 5, rng, {})


def test_event_binning_uses_the_simulator_rule_and_two_polarity_channels():
    ev = datasets.EventSet(x=np.array([1, 2, 0, 3, 1]), y=np.array([0, 1, 1, 0, 0]), t=np.array([0.0, 0.0114, 0.0126, 0.02, 0.5]),
                           p=np.array([1, 0, 1, 1, 0]), ptr=np.array([0, 3, 5]), width=4, height=2)
    spikes = datasets.encode("events", ev, 10, None, {"duration": 0.04})  # steps of 4 ms
    assert spikes.shape == (10, 2, 16)
    # sample 0: (1, 0, +) at step 0 -> index 8 + 1; (2, 1, -) at 11.4 ms -> step 3, index 4 + 2;
    # (0, 1, +) at 12.6 ms -> step 3, index 8 + 4
    assert spikes[0, 0, 9] == 1 and spikes[3, 0, 6] == 1 and spikes[3, 0, 12] == 1
    # sample 1: (3, 0, +) at 20 ms -> step 5 (round(20 / 4)), index 11; the event at 0.5 s is after the end
    assert spikes[5, 1, 11] == 1 and spikes[:, 1].sum() == 1
    assert spikes.sum() == 4
    with pytest.raises(ValueError, match=r"an input of 16 neurons \(two polarities\) or 8 takes them; the network.s input has 12"):
        datasets.bin_events(ev, 10, 0.04, n_in=12)


def test_digits_split_and_npz_data(tmp_path):
    X, y, Xt, yt = datasets.digits()
    assert X.shape == (1347, 64) and Xt.shape == (450, 64)
    assert X.min() == 0 and X.max() == 1
    counts = np.bincount(yt) / len(yt)
    np.testing.assert_allclose(counts, np.bincount(np.concatenate([y, yt])) / 1797, atol=0.005)  # stratified
    X2, y2, Xt2, yt2 = datasets.digits()
    assert (X2 == X).all() and (yt2 == yt).all()
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.random((40, 2, 3)), y=np.repeat(np.arange(4), 10))
    Xa, ya, Xb, yb = datasets.load("npz", {"file": "d.npz"}, tmp_path)
    assert Xa.shape == (30, 6) and Xb.shape == (10, 6)
    assert sorted(np.bincount(yb, minlength=4)) == [2, 2, 3, 3]  # stratified: every class in the test set
    np.savez(path, X=rng.random((8, 3)), y=np.arange(8) % 2, X_test=rng.random((4, 3)), y_test=np.arange(4) % 2)
    Xa, ya, Xb, yb = datasets.load("npz", {"file": str(path)}, tmp_path)
    assert len(ya) == 8 and len(yb) == 4
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load("mnist", {}, tmp_path)
    # event streams in an npz: compressed rows, a fixed test set
    ev = datasets.EventSet(x=np.array([0, 1, 2]), y=np.array([0, 0, 1]), t=np.array([0.0, 0.01, 0.02]),
                           p=np.array([1, 0, 1]), ptr=np.array([0, 2, 3]), width=3, height=2)
    np.savez(path, **ev.arrays(), **ev[[1]].arrays("_test"), y=np.array([4, 5]), y_test=np.array([5]), width=3, height=2)
    train, ya, test, yb = datasets.load("npz", {"file": str(path)}, tmp_path)
    assert len(train) == 2 and len(test) == 1 and yb.tolist() == [5]
    assert np.array_equal(test.x, [2]) and np.array_equal(train.sample(0)[3], [1, 0])


# ---------------------------------------------------------------------------------------
# the CLI, checkpoints, resume, evaluation
# ---------------------------------------------------------------------------------------

def _strip_seconds(metrics):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in metrics["epochs"]]


def test_train_cli_writes_metrics_weights_checkpoints_and_a_plot(tmp_path, cache, capsys):
    spec = small_spec(tmp_path)
    run = tmp_path / "run"
    code, out, err = cli(capsys, "train", spec, "-o", run, "--epochs", 2)
    assert code == 0, err
    assert "trained 2 epochs" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    for e in metrics["epochs"]:
        assert set(e) >= {"epoch", "loss", "train_accuracy", "test_accuracy", "seconds"}
    assert metrics["test_accuracy"] == metrics["epochs"][-1]["test_accuracy"] > 0.3
    assert metrics["synops_per_sample"] > 0 and metrics["spikes_per_sample"] > 0
    assert abs(metrics["accuracy_drop_8bit"]) < 0.05
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_001.npz", "epoch_002.npz"]
    with np.load(run / "weights.npz") as w:
        assert w["x_hidden_w"].shape == (64 * 16,) and w["input:hidden.I"].shape == (16,)
    if (run / "training.png").exists() is False:
        pytest.importorskip("matplotlib")
        raise AssertionError("training.png missing")


def test_resume_continues_bit_for_bit(tmp_path, cache, capsys):
    """2 epochs, then --resume to 4, equals 4 epochs in one go: weights and metrics, bit for bit."""
    spec = small_spec(tmp_path, extra="dropout = 0.2")
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli(capsys, "train", spec, "-o", one, "--epochs", 4)[0] == 0
    assert cli(capsys, "train", spec, "-o", two, "--epochs", 2)[0] == 0
    assert cli(capsys, "train", spec, "-o", two, "--epochs", 4, "--resume")[0] == 0
    a, b = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert _strip_seconds(a) == _strip_seconds(b)
    with np.load(one / "weights.npz") as wa, np.load(two / "weights.npz") as wb:
        assert set(wa.files) == set(wb.files)
        for k in wa.files:
            assert np.array_equal(wa[k], wb[k]), k
    with np.load(one / "checkpoints" / "epoch_004.npz") as ca, np.load(two / "checkpoints" / "epoch_004.npz") as cb:
        for k in ca.files:
            if k != "history":
                assert np.array_equal(ca[k], cb[k]), k


def test_resume_after_an_interruption_with_a_cosine_schedule(tmp_path, cache):
    from snnlang.training import train

    spec = small_spec(tmp_path, optimizer="momentum(lr = 0.05, momentum = 0.8)",
                      extra="schedule = cosine(min_lr = 0.001)\n    clip_grad = 1.0\n    weight_decay = 1e-4")
    full = train(spec, tmp_path / "full", epochs=3)
    train(spec, tmp_path / "cut", epochs=3, stop_after=1)
    resumed = train(spec, tmp_path / "cut", epochs=3, resume=True)
    assert _strip_seconds(full) == _strip_seconds(resumed)
    assert [e["lr"] for e in full["epochs"]] == pytest.approx([0.05, 0.001 + 0.049 * 0.75, 0.001 + 0.049 * 0.25])


def test_evaluate_fewer_steps_higher_threshold_and_8_bit_weights(tmp_path, cache, capsys):
    spec = small_spec(tmp_path)
    run = tmp_path / "run"
    assert cli(capsys, "train", spec, "-o", run, "--epochs", 2)[0] == 0
    trained = json.loads((run / "metrics.json").read_text())
    code, out, err = cli(capsys, "train", spec, "-o", run, "--evaluate")
    assert code == 0, err
    code, out, err = cli(capsys, "train", spec, "-o", run, "--evaluate", "--quantize", 8)
    assert code == 0, err
    assert "8-bit" in out
    assert cli(capsys, "train", spec, "-o", run, "--evaluate", "--steps", 4)[0] == 0
    assert cli(capsys, "train", spec, "-o", run, "--evaluate", "--set", "thr=1.5")[0] == 0
    full, q8, short, high = json.loads((run / "evaluation.json").read_text())
    assert full["accuracy"] == pytest.approx(trained["test_accuracy"])  # the same test spikes as training's last epoch
    assert full["synops_per_sample"] == pytest.approx(trained["synops_per_sample"])
    assert q8["bits"] == 8 and abs(q8["accuracy"] - full["accuracy"]) < 0.05
    assert q8["accuracy"] == pytest.approx(trained["test_accuracy_8bit"])
    with np.load(run / "weights_8bit.npz") as w:  # for snnlang run --weights
        levels = np.unique(np.round(w["x_hidden_w"] / (np.abs(w["x_hidden_w"]).max() / 127)))
        assert len(levels) <= 255
    assert short["steps"] == 4 and short["synops_per_sample"] < full["synops_per_sample"]
    assert high["params"] == {"thr": 1.5} and high["spikes_per_sample"] < full["spikes_per_sample"]
    code, _, err = cli(capsys, "train", spec, "-o", run, "--evaluate", "--set", "tau=3")
    assert code == 2 and "no parameter" in err


SURROGATE = "surrogate = fast_sigmoid(slope = 25)"


@pytest.mark.parametrize("old,new,message", [
    (SURROGATE, SURROGATE + "\n    reset = zero", "the reset is the neuron's own"),
    (SURROGATE, "surrogate = relu(slope = 1)", "unknown surrogate"),
    (SURROGATE, SURROGATE + "\n    detach_reset = maybe", "true or false"),
    ("cross_entropy(spike_count(out))", "cross_entropy(spike_train(out))", "cannot read spike_train"),
    ("cross_entropy(spike_count(out))", "hinge(spike_count(out))", "unknown loss"),
    ("connect hidden -> out { all_to_all;", "connect hidden -> out { p = 0.5;", "cannot be trained"),
])
def test_train_block_errors_are_reported_with_their_place(tmp_path, cache, capsys, old, new, message):
    text = SMALL.format(optimizer="adam(lr = 1e-3)", extra="")
    assert old in text
    spec = write_spec(text.replace(old, new), tmp_path, "bad")
    code, out, err = cli(capsys, "train", spec, "-o", tmp_path / "bad")
    assert code == 1, err
    assert message in err and "bad.snn:" in err, err


def test_bias_false_trains_weights_only(tmp_path, cache):
    from snnlang.training import train

    spec = small_spec(tmp_path, extra="bias = false")
    train(spec, tmp_path / "run", epochs=1)
    with np.load(tmp_path / "run" / "weights.npz") as w:
        assert sorted(w.files) == ["hidden_out_w", "x_hidden_w"]


# ---------------------------------------------------------------------------------------
# trained weights in the generated simulator
# ---------------------------------------------------------------------------------------

def feed_spikes(net, source, spikes, dt, width):
    """Feed (steps, inputs) spikes to an events() source of width x 1: index = p * width + x."""
    step, index = np.nonzero(spikes)
    net.feed_events(source, x=index % width, y=np.zeros_like(index), t=step * dt, polarity=index // width)


def test_trained_weights_give_the_trainers_spikes_in_the_simulator(tmp_path, cache, capsys):
    from snnlang.run import built_package, load_weights
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = small_spec(tmp_path)
    run = tmp_path / "run"
    assert cli(capsys, "train", spec, "-o", run, "--epochs", 1)[0] == 0
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    trainer.net.load_arrays(run / "weights.npz")
    x = trainer.encode(trainer.X_test[:6], np.random.default_rng(5))
    cache_ = trainer.net.forward(x)
    module, _ = built_package(spec)
    total = 0
    for b in range(6):
        net = module.Network()
        load_weights(net, run / "weights.npz")
        feed_spikes(net, "x", x[:, b], net.dt, 32)
        net.run(steps=x.shape[0])
        for layer in ("out", "hidden"):
            _, index = net.spikes(layer)
            counts = np.bincount(index, minlength=trainer.net.sizes[layer])
            np.testing.assert_array_equal(counts, cache_["Z"][layer][:, b].sum(0), err_msg=f"{layer}, sample {b}")
        synops = sum(np.count_nonzero((x if c.source == "x" else cache_["Z"][c.source])[:-1, b]) * c.n_post
                     for c in trainer.tp.connections)
        assert net.synops == synops
        total += int(cache_["Z"]["out"][:, b].sum())
    assert total > 0  # the comparison saw output spikes


def test_snnlang_run_loads_trained_weights_and_biases(tmp_path, cache, capsys):
    """``snnlang run --weights``: with strong biases and no input, the simulator spikes as the trainer's pass."""
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = small_spec(tmp_path)
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    rng = np.random.default_rng(0)
    trainer.net.b["hidden_I"][...] = rng.uniform(0, 0.6, 16)
    trainer.net.b["out_I"][...] = rng.uniform(-0.2, 0.4, 10)
    np.savez(tmp_path / "w.npz", **trainer.net.weight_arrays())
    code, out, err = cli(capsys, "run", spec, "-o", tmp_path / "sim", "--weights", tmp_path / "w.npz")
    assert code == 0, err
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    cache_ = trainer.net.forward(np.zeros((8, 1, 64)))
    assert summary["populations"]["out"]["spikes"] == int(cache_["Z"]["out"].sum()) > 0
    assert summary["populations"]["hidden"]["spikes"] == int(cache_["Z"]["hidden"].sum())


@pytest.mark.parametrize("spec_name", ["digits_bptt", "digits_alif", "digits_izhikevich", "digits_lif",
                                       "digits_convert", "events_digits"])
def test_shipped_training_specs_check_and_plan(spec_name, cache):
    from snnlang.training.package import load_block, training_package

    model, block = load_block(SPECS / f"{spec_name}.snn")
    pk = training_package(model, block)
    assert pk.training.OUTPUT == "out"
