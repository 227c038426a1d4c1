"""ANN-to-SNN conversion (``method = convert``): the SNN approaches the ANN as T grows, and the
converted weights run in the simulator generated from the same spec."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnlang.cli import main

from helpers import SPECS, write_spec

from test_training import feed_spikes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def convert_spec(folder, epochs=15, replace=(), name="convert"):
    text = (SPECS / "digits_convert.snn").read_text().replace("epochs    = 60", f"epochs    = {epochs}")
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    return write_spec(text, folder, name)


def test_snn_accuracy_approaches_the_ann_as_T_grows(tmp_path, cache, capsys):
    spec = convert_spec(tmp_path)
    run = tmp_path / "run"
    assert main(["train", str(spec), "-o", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    ann = metrics["ann_test_accuracy"]
    acc = {r["T"]: r["test_accuracy"] for r in metrics["snn"]}
    assert sorted(acc) == [10, 20, 50, 100]
    assert ann > 0.93
    assert acc[10] < acc[100] and acc[20] <= acc[100] + 0.005
    assert ann - acc[100] < 0.02
    assert ann - acc[10] > ann - acc[100]
    # strict readout: never above the argmax readout
    assert all(r["test_accuracy"] <= r["test_accuracy_argmax"] for r in metrics["snn"])
    # synaptic operations grow with T
    synops = [r["synops_per_sample"] for r in metrics["snn"]]
    assert synops == sorted(synops)
    lam = metrics["normalisation"]["lambda"]
    assert lam[0] == 1.0 and all(v > 0 for v in lam) and len(lam) == 3
    assert metrics["notes"] == []
    with np.load(run / "weights.npz") as w:
        assert set(w.files) == {"x_hidden_w", "hidden_out_w", "input:hidden.I", "input:out.I"}


def test_converted_weights_run_in_the_simulator(tmp_path, cache):
    """With spike input (poisson encoding into an events() source) the simulator reproduces the SNN's spikes."""
    from snnlang.run import built_package, load_weights
    from snnlang.training import evaluate, train
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = convert_spec(tmp_path, epochs=3, replace=[
        ("input x = poisson(64, rate = 0 Hz)          # driven by the encoded data", "input x = events(width = 32, height = 1)"),
        ("encode    = current(steps = 50)", "encode    = poisson(steps = 30)"),
        ("T         = 50", "T         = 30"),
    ])
    run = tmp_path / "run"
    metrics = train(spec, run)
    assert metrics["T"] == 30 and metrics["test_accuracy"] > 0.5
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    trainer.net.load_arrays(run / "weights.npz")
    result = evaluate(spec, run / "weights.npz", steps=30)
    assert result["accuracy"] == pytest.approx(metrics["test_accuracy"])
    x = trainer.encode(trainer.X_test[:4], np.random.default_rng(2), 30)
    spikes = trainer.net.forward(x)["Z"]["out"]
    module, _ = built_package(spec)
    for b in range(4):
        net = module.Network()
        load_weights(net, run / "weights.npz")
        feed_spikes(net, "x", x[:, b], net.dt, 32)
        net.run(steps=30)
        counts = np.bincount(net.spikes("out")[1], minlength=10)
        np.testing.assert_array_equal(counts, spikes[:, b].sum(0))
    assert spikes.sum() > 0


def test_conversion_notes_a_neuron_that_is_not_integrate_and_fire(tmp_path, cache):
    from snnlang.training import train

    spec = convert_spec(tmp_path, epochs=1, replace=[("update { v = v + I }", "update { v = 0.9 * v + I }")])
    metrics = train(spec, tmp_path / "run")
    assert any("not an integrate-and-fire neuron" in n for n in metrics["notes"])


def test_conversion_needs_a_feedforward_chain(tmp_path, cache, capsys):
    spec = convert_spec(tmp_path, epochs=1, replace=[
        ("    monitor spikes of out", "    connect out -> hidden { all_to_all; w = 0.01; on_pre: I_post += w }\n    monitor spikes of out")])
    code = main(["train", str(spec), "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "feedforward" in err
