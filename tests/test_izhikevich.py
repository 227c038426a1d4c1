"""Izhikevich (2003) firing patterns: the stdlib model with ``method euler`` against a
hand-written forward-Euler loop in the paper's units, and the signature of each class.

Parameters (Izhikevich 2003, Fig. 2), a and b in 1/ms, c in mV, d in mV/ms:
RS (0.02, 0.2, -65, 8), IB (0.02, 0.2, -55, 4), CH (0.02, 0.2, -50, 2),
FS (0.1, 0.2, -65, 2), LTS (0.02, 0.25, -65, 2), TC (0.02, 0.25, -65, 0.05),
RZ (0.1, 0.26, -65, 2). The spec is tests/specs/izhikevich_fig2.snn.
"""
from __future__ import annotations

import numpy as np
import pytest

from helpers import TEST_SPECS, build_package

DT_MS = 0.25
STEPS = 1200  # 300 ms


def step_input(t):
    return 10.0 if t >= 10 else 0.0


CELLS = {
    # name: (a, b, c, d, I(t in ms) in mV/ms, v0 in mV)
    "rs": (0.02, 0.2, -65.0, 8.0, step_input, -65.0),
    "ib": (0.02, 0.2, -55.0, 4.0, step_input, -65.0),
    "ch": (0.02, 0.2, -50.0, 2.0, step_input, -65.0),
    "fs": (0.1, 0.2, -65.0, 2.0, step_input, -65.0),
    "lts": (0.02, 0.25, -65.0, 2.0, step_input, -65.0),
    "tc": (0.02, 0.25, -65.0, 0.05, lambda t: -10.0 if 10 <= t < 110 else 0.0, -65.0),
    "rz": (0.1, 0.26, -65.0, 2.0, lambda t: 10.0 if 50 <= t < 52 else 0.0, -62.5),
    "rz_sub": (0.1, 0.26, -65.0, 2.0, lambda t: 2.0 if 50 <= t < 51 else 0.0, -62.5),
}


def reference(a, b, c, d, current, v0, dt=DT_MS, steps=STEPS):
    """Forward Euler in mV and ms, in the step order of docs/semantics.md:
    the input for t = n dt, v and u advanced together from their old values,
    then the spike test v >= 30 mV with reset v = c, u += d.
    Returns the spike steps and v, u after each step."""
    v, u = v0, b * v0
    spikes, vs, us = [], [], []
    for n in range(steps):
        I = current(n * dt)
        v, u = v + dt * (0.04 * v * v + 5 * v + 140 - u + I), u + dt * a * (b * v - u)
        if v >= 30:
            spikes.append(n)
            v, u = c, u + d
        vs.append(v)
        us.append(u)
    return spikes, np.array(vs), np.array(us)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pkg = build_package(TEST_SPECS / "izhikevich_fig2.snn", tmp_path_factory.mktemp("izh"), "fig2")
    assert pkg.DT == DT_MS * 1e-3 and pkg.STEPS == STEPS
    net = pkg.Network()
    net.run()
    return net


def steps_of(net, pop):
    t, i = net.spikes(pop)
    assert np.all(i == 0)
    return np.rint(t / net.dt).astype(int).tolist()


@pytest.mark.parametrize("cell", list(CELLS))
def test_spikes_identical_to_euler_reference(run, cell):
    expected, _, _ = reference(*CELLS[cell])
    assert steps_of(run, cell) == expected
    if cell != "rz_sub":
        assert expected  # every cell but the subthreshold one fires


@pytest.mark.parametrize("cell", ["rs", "rz_sub"])
def test_state_identical_to_euler_reference(run, cell):
    _, v, u = reference(*CELLS[cell])
    t, v_si = run.trace(cell, "v")
    _, u_si = run.trace(cell, "u")
    np.testing.assert_allclose(v_si[:, 0] * 1e3, v, rtol=1e-9, atol=1e-9)  # V -> mV
    np.testing.assert_allclose(u_si[:, 0], u, rtol=1e-9, atol=1e-9)  # V/s == mV/ms


def isis_ms(run, cell):
    return np.diff(steps_of(run, cell)) * DT_MS


def bursts(steps, gap_ms=20.0):
    """Spike steps split where an interval exceeds gap_ms."""
    steps = np.asarray(steps)
    cut = np.flatnonzero(np.diff(steps) * DT_MS > gap_ms) + 1
    return np.split(steps, cut)


def test_rs_adapts(run):
    isi = isis_ms(run, "rs")
    assert len(isi) >= 4
    assert np.all(np.diff(isi) >= 0)  # intervals never shrink
    assert isi[-1] > 1.5 * isi[0]  # and grow


def test_ch_bursts_repeatedly(run):
    groups = bursts(steps_of(run, "ch"))
    assert len(groups) >= 4
    assert all(len(g) >= 2 for g in groups)
    assert all(np.all(np.diff(g) * DT_MS < 10) for g in groups)  # fast within a burst
    starts = [g[0] for g in groups]
    assert np.all(np.diff(starts) * DT_MS > 40)  # separated by long gaps


def test_ib_bursts_then_fires_single_spikes(run):
    groups = bursts(steps_of(run, "ib"))
    assert len(groups[0]) >= 2 and np.all(np.diff(groups[0]) * DT_MS < 10)  # initial burst
    assert len(groups) >= 5
    assert all(len(g) == 1 for g in groups[1:])  # then single spikes


def test_fs_fast_without_adaptation(run):
    isi_fs, isi_rs = isis_ms(run, "fs"), isis_ms(run, "rs")
    assert len(isi_fs) + 1 > 3 * (len(isi_rs) + 1)  # a much higher rate
    steady = isi_fs[3:]
    assert len(steady) >= 20 and steady.max() < 1.1 * steady.min()  # no adaptation
    assert steady.max() < 10  # > 100 Hz


def test_lts_fires_fast_then_adapts(run):
    isi_lts, isi_rs = isis_ms(run, "lts"), isis_ms(run, "rs")
    assert isi_lts[0] < 0.5 * isi_rs[0]
    assert isi_lts[-1] > 2 * isi_lts[0]


def test_tc_rebound_burst(run):
    t = np.asarray(steps_of(run, "tc")) * DT_MS
    assert np.all(t >= 110)  # silent while hyperpolarised
    rebound = t[t < 150]
    assert len(rebound) >= 2  # a burst on release
    assert np.all(t < 200)  # then back to rest


def test_rz_pulse_and_subthreshold_oscillation(run):
    t = np.asarray(steps_of(run, "rz")) * DT_MS
    assert len(t) >= 1 and np.all(t >= 50) and t[0] < 60  # silent at rest, fires on the pulse
    assert steps_of(run, "rz_sub") == []
    times, v = run.trace("rz_sub", "v")
    v = v[:, 0] * 1e3 + 62.5  # mV from rest
    assert np.all(np.abs(v[times < 0.05]) < 1e-9)  # at rest before the pulse
    after = v[times >= 0.052]
    up = np.flatnonzero((after[:-1] < 0) & (after[1:] >= 0))
    assert len(up) >= 3  # a subthreshold oscillation: a resonator
    peaks = [after[a:b].max() for a, b in zip(up[:-1], up[1:])]
    assert np.all(np.diff(peaks) < 0)  # damped
