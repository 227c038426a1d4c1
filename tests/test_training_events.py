"""Event-camera classification: the DVS emulator, event binning, and a spec that trains on events
and whose trained weights give the same spikes in the simulator fed with the raw events."""
from __future__ import annotations

import numpy as np
import pytest

from snnlang.training import dvs
from snnlang.training.data import EventSet, encode

from helpers import SPECS, write_spec


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def digit(k=0):
    from sklearn.datasets import load_digits

    return load_digits().images[k] / 16.0


def test_a_static_scene_gives_no_events_and_a_brighter_pixel_gives_on_events():
    frames = np.full((5, 4, 6), 0.5)
    x, y, t, p = dvs.events_of(frames, np.linspace(0, 0.01, 5))
    assert len(x) == 0
    frames[2:, 1, 3] = 0.5 * np.exp(0.55)  # log intensity up by 0.55: two events of C = 0.25
    x, y, t, p = dvs.events_of(frames, np.linspace(0, 0.01, 5), threshold=0.25, eps=0.0)
    assert list(zip(x, y, p)) == [(3, 1, 1), (3, 1, 1)]
    assert ((t > 0.0025) & (t <= 0.005)).all()  # within the frame interval of the change
    frames[4, 1, 3] = 0.5  # back down by 0.55: the reference moved by 0.5, so two OFF events
    x, y, t, p = dvs.events_of(frames, np.linspace(0, 0.01, 5), threshold=0.25, eps=0.0)
    assert list(p) == [1, 1, 0, 0]


def test_a_digit_moving_right_gives_on_events_ahead_of_off_events():
    x, y, t, p = dvs.digit_events(digit(0), np.random.default_rng(0), width=16, height=12, duration=0.1, jitter=0)
    assert len(x) > 200
    assert ((x >= 0) & (x < 16) & (y >= 0) & (y < 12)).all()
    assert (t >= 0).all() and (t <= 0.1).all() and (np.diff(t) >= 0).all()
    # bright digit on a dark ground moving right: its leading (right) edge brightens pixels
    early = t < 0.05
    assert x[early & (p == 1)].mean() > x[early & (p == 0)].mean()
    # a lower contrast threshold gives more events; the same seed the same events
    more = dvs.digit_events(digit(0), np.random.default_rng(0), threshold=0.125, jitter=0)[0]
    assert len(more) > 1.5 * len(x)
    again = dvs.digit_events(digit(0), np.random.default_rng(0), width=16, height=12, duration=0.1, jitter=0)
    assert all(np.array_equal(a, b) for a, b in zip((x, y, t, p), again))
    noisy = dvs.digit_events(digit(0), np.random.default_rng(0), jitter=0, noise=100.0)[0]
    assert len(noisy) > len(x)


def test_dvs_digits_split_and_event_set_indexing():
    train, y, test, y_test = dvs.dvs_digits(limit=12, width=12, height=10, frames=20)
    assert len(train) == len(y) == 12 and len(test) == 12
    sub = train[[3, 1]]
    for k, j in enumerate([3, 1]):
        assert all(np.array_equal(a, b) for a, b in zip(sub.sample(k), train.sample(j)))
    spikes = encode("events", train, 20, None, {"duration": 0.1})
    assert spikes.shape == (20, 12, 2 * 12 * 10)
    assert set(np.unique(spikes)) == {0.0, 1.0}


def events_spec(folder):
    text = (SPECS / "events_digits.snn").read_text()
    for old, new in [("width = 16, height = 12)\n", "width = 12, height = 10)\n"),
                     ("BetaLIF(128)", "BetaLIF(24)"),
                     ("dvs_digits(width = 16, height = 12,", "dvs_digits(limit = 150, frames = 25, width = 12, height = 10,"),
                     ("epochs    = 30", "epochs    = 6"), ("batch     = 64", "batch     = 16"),
                     ("adam(lr = 2e-3)", "adam(lr = 5e-3)")]:
        assert old in text, old
        text = text.replace(old, new)
    return write_spec(text, folder, "events")


def test_the_events_spec_trains_and_the_simulator_fed_with_raw_events_agrees(tmp_path, cache):
    from snnlang.run import built_package, load_weights
    from snnlang.training import train
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = events_spec(tmp_path)
    metrics = train(spec, tmp_path / "run")
    assert metrics["test_accuracy"] > 0.25  # ten classes: chance is 0.1
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    trainer.net.load_arrays(tmp_path / "run" / "weights.npz")
    events: EventSet = trainer.X_test.events
    x = trainer.encode(trainer.X_test[:5], None)
    z = trainer.net.forward(x)["Z"]
    module, _ = built_package(spec)
    for b in range(5):
        net = module.Network()
        load_weights(net, tmp_path / "run" / "weights.npz")
        ex, ey, et, ep = events.sample(b)
        net.feed_events("cam", x=ex, y=ey, t=et, polarity=ep)  # the raw events, binned by the simulator
        net.run(steps=25)
        counts = np.bincount(net.spikes("out")[1], minlength=10)
        np.testing.assert_array_equal(counts, z["out"][:, b].sum(0))
    assert z["out"][:, :5].sum() > 0
