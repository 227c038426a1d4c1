"""Training in single precision (precision = float32): the same computation, in float32."""
from __future__ import annotations

import json

import numpy as np
import pytest

from snnlang.frontend import analyse
from snnlang.training import train
from snnlang.training.bptt import Network

from test_training import small_spec


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))


def _gradients(spec, precision):
    model, _ = analyse(spec)
    block = model.trainings["digits"]
    net = Network(model, block, seed=0)
    tr = net.training
    assert tr.REAL == precision
    rng = np.random.default_rng(1)
    x = (rng.random((8, 5, 64)) < 0.4).astype(precision)
    W = {k: (v * 3).astype(precision) for k, v in net.W.items()}  # large enough weights for spikes
    cache = tr.forward(net.params, net.dt, net.init, W, net.b, x)
    counts = cache["Z"]["out"].sum(axis=0)
    grads = tr.backward(net.params, net.dt, net.init, W, net.b, cache,
                        grad_z={"out": np.broadcast_to(counts - counts.mean(), (8, 5, 10))})
    return cache, grads


def test_float32_training_computes_in_float32_and_agrees_with_float64(tmp_path, cache):
    c32, g32 = _gradients(small_spec(tmp_path, extra="precision = float32", name="f32b"), np.float32)
    c64, g64 = _gradients(small_spec(tmp_path, name="f64b"), np.float64)
    assert all(a.dtype == np.float32 for a in g32.values())
    assert all(a.dtype == np.float32 for group in ("U", "Z") for a in c32[group].values())
    for key in g64:
        scale = np.abs(g64[key]).max()
        assert np.abs(g32[key] - g64[key]).max() <= 1e-3 * scale + 1e-6


def test_float32_training_run_learns(tmp_path, cache):
    spec = small_spec(tmp_path, extra="precision = float32")
    metrics = train(spec, tmp_path / "run", epochs=3)
    assert metrics["test_accuracy"] > 0.5
    weights = np.load(tmp_path / "run" / "weights.npz")
    assert all(weights[k].dtype == np.float32 for k in weights.files if not k.startswith("input:"))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"][-1]["epoch"] == 3


def test_precision_values_are_checked(tmp_path):
    _, diags = analyse(small_spec(tmp_path, extra="precision = float16"))
    assert any("unknown precision 'float16'; choose float64 or float32" in d.message for d in diags.errors)
