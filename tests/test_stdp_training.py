"""``snnlang train`` with ``method = stdp``: the unsupervised Diehl & Cook style trainer.

The fast tests train specs/diehl_cook.snn's network on a small subset of the digits
(an npz data set) for two epochs; the full run (all digits, three epochs, the 88 %
floor) is marked slow. SNNLANG_CACHE points into tmp_path.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnlang.cli import main
from snnlang.frontend.diagnostics import SpecError
from snnlang.training import train

from helpers import SPECS, build_package


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def small_spec(tmp_path, epochs: int = 2, n_train: int = 150, n_test: int = 60, extra: str = "") -> object:
    """specs/diehl_cook.snn on a stratified subset of the digits (test samples as long as training ones)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, Xt, y, yt = train_test_split(d.data / 16, d.target, train_size=n_train, test_size=n_test,
                                    stratify=d.target, random_state=0)
    np.savez(tmp_path / "small.npz", X=X, y=y, X_test=Xt, y_test=yt)
    text = (SPECS / "diehl_cook.snn").read_text()
    text = text.replace("data = digits(test_fraction = 0.25, seed = 0)", 'data = npz(file = "small.npz")')
    text = text.replace("epochs = 3", f"epochs = {epochs}\n    {extra}")
    text = text.replace("present_test = 350 ms", "present_test = 100 ms")
    path = tmp_path / "small.snn"
    path.write_text(text)
    return path


def test_stdp_training_run_writes_metrics_weights_checkpoints_and_fields(tmp_path, cache):
    spec = small_spec(tmp_path)
    assert main(["train", str(spec), "-o", str(tmp_path / "run")]) == 0
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    for e in metrics["epochs"]:
        assert {"epoch", "test_accuracy", "seconds"} <= set(e) and 0 <= e["test_accuracy"] <= 1
    assert metrics["test_accuracy"] == metrics["epochs"][-1]["test_accuracy"]
    assert metrics["test_accuracy"] > 0.35  # 10 classes, 150 training samples, 2 epochs: well above chance (0.1)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch_001.npz", "epoch_002.npz"]
    assert (run / "receptive_fields.png").stat().st_size > 1000
    labels = json.loads((run / "labels.json").read_text())["labels"]
    assert len(labels) == 100 and len(set(labels)) >= 8  # most classes have neurons
    # weights.npz holds state arrays of the simulator: `snnlang run --weights` loads them
    with np.load(run / "weights.npz") as w:
        assert set(w.files) == {"pixels_exc_w", "exc_theta"}
        assert w["exc_theta"].max() > 0  # the thresholds adapted
        W = w["pixels_exc_w"]
    pkg = build_package(SPECS / "diehl_cook.snn", tmp_path / "pkg")
    net = pkg.Network()
    post = net.state["pixels_exc_post"]
    np.testing.assert_allclose(np.bincount(post, weights=W), 6.4, rtol=1e-9)  # normalised after every sample
    assert main(["run", str(SPECS / "diehl_cook.snn"), "-o", str(tmp_path / "replay"),
                 "--weights", str(run / "weights.npz")]) == 0


def test_resume_continues_exactly(tmp_path, cache):
    spec = small_spec(tmp_path, n_train=80, n_test=30, extra="schedule = step(eta, gamma = 0.5)")
    whole = train(spec, tmp_path / "whole")
    train(spec, tmp_path / "split", stop_after=1)
    assert len(json.loads((tmp_path / "split" / "metrics.json").read_text())["epochs"]) == 1
    resumed = train(spec, tmp_path / "split", resume=True)

    def strip(metrics):
        return [{k: v for k, v in e.items() if "seconds" not in k} for e in metrics["epochs"]]

    assert strip(resumed) == strip(whole)
    with np.load(tmp_path / "whole" / "weights.npz") as a, np.load(tmp_path / "split" / "weights.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    # another seed learns something else
    other = train(spec, tmp_path / "other", seed=5, epochs=1)
    with np.load(tmp_path / "whole" / "weights.npz") as a, np.load(tmp_path / "other" / "weights.npz") as b:
        assert not np.array_equal(a["pixels_exc_w"], b["pixels_exc_w"])
    assert other["epochs"][0]["epoch"] == 1


def test_stdp_training_settings_are_checked(tmp_path, cache):
    spec = small_spec(tmp_path)
    text = spec.read_text()
    bad = tmp_path / "bad.snn"
    bad.write_text(text.replace("keep = theta", "keep = thetta"))
    with pytest.raises(SpecError, match="no population has a state variable 'thetta'"):
        train(bad, tmp_path / "bad")
    bad.write_text(text.replace("    monitor spikes of exc\n", ""))
    with pytest.raises(ValueError, match="monitor spikes of exc"):
        train(bad, tmp_path / "bad")
    bad.write_text(text.replace("freeze = [eta, theta_plus]", "schedule = step(etaa)"))
    with pytest.raises(SpecError, match="no parameter 'etaa'"):
        train(bad, tmp_path / "bad")


@pytest.mark.slow
def test_diehl_cook_digits_accuracy(tmp_path, cache):
    """The issue's measure: 100 excitatory neurons, 3 epochs, >= 88 % on the 450 test digits."""
    metrics = train(SPECS / "diehl_cook.snn", tmp_path / "run")
    assert len(metrics["epochs"]) == 3
    assert metrics["test_accuracy"] >= 0.88
