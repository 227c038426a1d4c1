"""Plasticity on the NumPy target: the rules of the standard library checked against
their closed forms and published behaviour (docs/plasticity.md).

Spike pairs are made with ``spike_times`` inputs: the presynaptic spike comes from a
source through the plastic connection, the postsynaptic neuron is forced to fire by a
second source (``Forced`` fires in the step a kick arrives). A spike emitted in step n
arrives (its on_pre runs) in step n + delay; the forced neuron fires in the step its kick
arrives. So with both sources at the same time the pair is simultaneous at the synapse.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from helpers import SPECS, build_package

FORCED = """
import "stdp.snn"
import "triplet.snn"
import "rstdp.snn"

# Fires in the step a kick arrives (no dynamics of its own).
neuron Forced {
    state { v = 0 }
    spike when v >= 1
    reset { v = 0 }
}
"""


def _times(values_ms) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values_ms) + "] ms"


def _ints(values) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def pair_spec(rule: str, pre: list[tuple[int, float]], post: list[tuple[int, float]], n: int, duration_ms: float,
              dt_ms: float = 0.1, body: str = "", extra: str = "") -> str:
    """n independent synapses k: pre neuron k -> post neuron k (one_to_one) with the given spikes (index, ms)."""
    pre = sorted(pre, key=lambda p: p[1])
    post = sorted(post, key=lambda p: p[1])
    return FORCED + extra + f"""
network pairs {{
    input pre = spike_times(indices = {_ints(i for i, _ in pre)}, times = {_times(t for _, t in pre)})
    input kick = spike_times(indices = {_ints(i for i, _ in post)}, times = {_times(t for _, t in post)})
    population post = Forced({n})
    connect pre -> post using {rule} {{ one_to_one; w = 0.5{body} }}
    connect kick -> post {{ one_to_one; on_pre: v_post += 2 }}
}}
simulate pairs {{ dt = {dt_ms} ms; duration = {duration_ms} ms; seed = 3 }}
"""


def weights(net, connection: str, variable: str = "w") -> np.ndarray:
    """A connection's per-synapse variable, ordered by (pre, post)."""
    s = net.state
    order = np.lexsort((s[f"{connection}_post"], s[f"{connection}_pre"]))
    return s[f"{connection}_{variable}"][order]


# ---------------------------------------------------------------------------------------
# Pair STDP: the window, nearest-spike against all-to-all, bounds
# ---------------------------------------------------------------------------------------

DELTAS = np.arange(-100, 101)  # ms, t_post - t_pre (pre: when its spike reaches the synapse)


@pytest.mark.parametrize("rule, a_plus, a_minus", [("STDP", 0.01, 0.0105), ("BriefSTDP", 0.01 * 0.1, 0.01 * 0.1)])
def test_stdp_window_matches_the_closed_form(tmp_path, rule, a_plus, a_minus):
    # both sources at the same time -> the pre spike reaches the synapse in the step the post neuron fires
    t_post = 150.0
    pre = [(k, t_post - d) for k, d in enumerate(DELTAS)]
    post = [(k, t_post) for k in range(len(DELTAS))]
    net = build_package(pair_spec(rule, pre, post, len(DELTAS), 300), tmp_path).Network()
    net.run()
    dw = weights(net, "pre_post") - 0.5
    d = DELTAS.astype(float)
    expected = np.where(d >= 0, a_plus * np.exp(-d / 20), -a_minus * np.exp(d / 20))
    np.testing.assert_allclose(dw, expected, rtol=1e-9, atol=0)
    assert dw[DELTAS == 0] > 0  # simultaneous: on_pre (step phase 2) comes before on_post (phase 5)


def test_nearest_spike_differs_from_all_to_all_only_with_several_spikes(tmp_path):
    # synapse 0: one pair; 1: two pre spikes, then post; 2: two post spikes, then pre
    pre = [(0, 40), (1, 30), (1, 35), (2, 60)]
    post = [(0, 50), (1, 40), (2, 50), (2, 55)]
    A_plus, A_minus, tau = 0.01, 0.0105, 20.0
    one = A_plus * math.exp(-10 / tau)
    results = {}
    for rule in ("STDP", "STDPNearest"):
        net = build_package(pair_spec(rule, pre, post, 3, 100), tmp_path / rule).Network()
        net.run()
        results[rule] = weights(net, "pre_post") - 0.5
    a2a, nearest = results["STDP"], results["STDPNearest"]
    assert a2a[0] == pytest.approx(one, rel=1e-12) and nearest[0] == pytest.approx(one, rel=1e-12)
    # two pre spikes before a post: all-to-all sums both pairs, nearest-spike only the last
    assert a2a[1] == pytest.approx(A_plus * (math.exp(-5 / tau) + math.exp(-10 / tau)), rel=1e-12)
    assert nearest[1] == pytest.approx(A_plus * math.exp(-5 / tau), rel=1e-12)
    # two post spikes, then a pre spike (potentiation-free): depression by one or both
    assert a2a[2] == pytest.approx(-A_minus * (math.exp(-5 / tau) + math.exp(-10 / tau)), rel=1e-12)
    assert nearest[2] == pytest.approx(-A_minus * math.exp(-5 / tau), rel=1e-12)


def test_hard_and_soft_bounds(tmp_path):
    # 20 causal pairs 5 ms apart for synapses starting at w = 0.2 and 0.8
    pairs = [(k, 20.0 + 30 * n) for k in range(2) for n in range(20)]
    pre = [(k, t) for k, t in pairs]
    post = [(k, t + 5) for k, t in pairs]
    big = "; A_plus = 0.05; A_minus = 0.05"
    hard = build_package(pair_spec("STDP", pre, post, 2, 700, body="; A_plus = 0.1; A_minus = 0.01"),
                         tmp_path / "hard").Network()
    hard.state["pre_post_w"][:] = [0.2, 0.8]
    hard.run()
    np.testing.assert_array_equal(weights(hard, "pre_post"), [1.0, 1.0])  # clipped at w_max exactly
    # soft bounds: one pairing moves w by A_plus * x * (w_max - w): the gap to w_max shrinks geometrically
    soft = build_package(pair_spec("STDPSoft", pre[:1] + pre[20:21], post[:1] + post[20:21], 2, 100, body=big),
                         tmp_path / "soft").Network()
    soft.state["pre_post_w"][:] = [0.2, 0.8]
    soft.run()
    gain = 0.05 * math.exp(-5 / 20)
    np.testing.assert_allclose(weights(soft, "pre_post"), [0.2 + gain * 0.8, 0.8 + gain * 0.2], rtol=1e-12)
    # depression scales with w: anti-causal pairs
    soft = build_package(pair_spec("STDPSoft", post[:1] + post[20:21], pre[:1] + pre[20:21], 2, 100, body=big),
                         tmp_path / "soft2").Network()
    soft.state["pre_post_w"][:] = [0.2, 0.8]
    soft.run()
    np.testing.assert_allclose(weights(soft, "pre_post"), [0.2 * (1 - gain), 0.8 * (1 - gain)], rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Delays: the pre trace sees the spike when it arrives
# ---------------------------------------------------------------------------------------

DELAYED = FORCED + """
network d {
    input pre = spike_times(indices = [0, 0], times = [10, 60] ms)
    input kick = spike_times(indices = [0, 1, 2, 3], times = [30, 30, 30, 30] ms)
    population post = Forced(4)
    connect pre -> post using STDP { w = 0.5; delay = DELAY }
    connect kick -> post { one_to_one; on_pre: v_post += 2 }
}
simulate d { dt = 0.1 ms; duration = 100 ms }
"""


@pytest.mark.parametrize("delay, arrivals", [("(j + 1) * 5 ms", 5.0 * np.arange(1, 5)), ("12 ms", np.full(4, 12.0))])
def test_plastic_connection_with_delays(tmp_path, delay, arrivals):
    """Pre spikes at 10 and 60 ms reach synapse j after its delay; the post neurons fire at 30.1 ms."""
    net = build_package(DELAYED.replace("DELAY", delay), tmp_path).Network()
    net.run()
    t_post = 30.1  # the kick at 30 ms arrives one step later
    first, second = 10 + arrivals, 60 + arrivals
    d = t_post - first
    expected = np.where(d >= 0, 0.01 * np.exp(-d / 20), -0.0105 * np.exp(d / 20))
    expected += -0.0105 * np.exp(-(second - t_post) / 20)
    np.testing.assert_allclose(weights(net, "pre_post") - 0.5, expected, rtol=1e-9)
    if "j" in delay:  # per-synapse delays: the pre trace is kept per synapse
        from snnlang.frontend import load
        from snnlang.plan import make_plan

        spec = tmp_path / "specs" / "net.snn"
        plan = make_plan(load(spec))
        c = plan.connections[0]
        assert c.per_synapse_traces == ["pre_post_x"] and c.indexed["pre_post_x"] == "syn"


def test_per_synapse_pre_traces_cannot_be_scattered_to(specs):
    specs.write("spec.snn", FORCED + """
synapse Odd {
    state { w = 0.5 }
    pre { dx/dt = -x / (20 ms) }
    on_pre { x += 1 }
    on_post { x += 1 }
}
network n {
    input pre = spike_times(indices = [0], times = [1] ms)
    population post = Forced(2)
    connect pre -> post using Odd { delay = (j + 1) * 1 ms }
}
""")
    from snnlang.build import build
    from snnlang.frontend.diagnostics import SpecError

    with pytest.raises(SpecError) as e:
        build("spec.snn", specs.root / "out")
    assert "per synapse" in str(e.value)


# ---------------------------------------------------------------------------------------
# Triplet STDP
# ---------------------------------------------------------------------------------------

TRIPLET = dict(tau_plus=16.8, tau_minus=33.7, tau_x=101.0, tau_y=125.0, A2_plus=5e-10, A3_plus=6.2e-3,
               A2_minus=7e-3, A3_minus=0.0)


def triplet_reference(pre_ms, post_ms, w=0.5, p=TRIPLET):
    """The all-to-all triplet rule event by event (Pfister & Gerstner 2006, eqs. 3-4).

    At equal times the pre spike comes first (it arrives in step phase 2, the post spike
    is in phase 4)."""
    events = sorted([(t, 0) for t in pre_ms] + [(t, 1) for t in post_ms])
    r1 = r2 = o1 = o2 = 0.0
    last = 0.0
    for t, kind in events:
        gap = t - last
        r1 *= math.exp(-gap / p["tau_plus"]); r2 *= math.exp(-gap / p["tau_x"])
        o1 *= math.exp(-gap / p["tau_minus"]); o2 *= math.exp(-gap / p["tau_y"])
        last = t
        if kind == 0:
            w -= o1 * (p["A2_minus"] + p["A3_minus"] * r2)
            r1 += 1; r2 += 1
        else:
            w += r1 * (p["A2_plus"] + p["A3_plus"] * o2)
            o1 += 1; o2 += 1
    return w


def test_triplet_frequency_dependence(tmp_path):
    """60 pairings at 1-50 Hz, t_post - t_pre = +10 or -10 ms (Sjöström et al. 2001 protocol)."""
    freqs, deltas = [1, 10, 20, 40, 50], [10, -10]
    pre, post, cases = [], [], []
    for k, (f, d) in enumerate((f, d) for f in freqs for d in deltas):
        times = 100 + np.arange(60) * 1000.0 / f
        pre += [(k, t - d) for t in times]
        post += [(k, t) for t in times]
        cases.append((f, d, times - d, times))
    duration = 100 + 60 * 1000 + 100
    net = build_package(pair_spec("TripletSTDP", pre, post, len(cases), duration, dt_ms=1.0, body="; w_max = 100"),
                        tmp_path).Network()
    net.run()
    dw = dict(zip([(f, d) for f, d, *_ in cases], weights(net, "pre_post") - 0.5))
    for (f, d, t_pre, t_post), got in zip(cases, weights(net, "pre_post")):
        assert got == pytest.approx(triplet_reference(t_pre, t_post), rel=1e-9)
    # the published sign change: post-before-pre pairs depress at low frequency, potentiate at high
    assert dw[(1, -10)] < 0 and dw[(10, -10)] < 0 and dw[(50, -10)] > 0
    # pre-before-post pairs potentiate, more so at higher frequency
    assert all(dw[(f, 10)] > 0 for f in freqs)
    assert [dw[(f, 10)] for f in freqs] == sorted(dw[(f, 10)] for f in freqs)


# ---------------------------------------------------------------------------------------
# Reward-modulated STDP: synapse inputs
# ---------------------------------------------------------------------------------------

REWARD_AT, TAU_D = 500, 200.0  # ms


def dopamine(step, dt_ms=1.0):
    t = step * dt_ms
    return 0.5 * math.exp(-(t - REWARD_AT) / TAU_D) if t >= REWARD_AT else 0.0


RSTDP_SPEC = FORCED + """
network r {
    input pre = spike_times(indices = [0, 1], times = [20, 40] ms)    # 0: pre 10 ms before post; 1: 10 ms after
    input kick = spike_times(indices = [0, 1], times = [30, 30] ms)
    population post = Forced(2)
    connect pre -> post using RSTDP { one_to_one; reward = where(t >= 500 ms, 0.5 * exp(-(t - 500 ms) / (200 ms)), 0) }
    connect pre -> post using RSTDP { one_to_one }
    connect kick -> post { one_to_one; on_pre: v_post += 2 }
}
simulate r { dt = 1 ms; duration = 2 s }
"""


def test_rstdp_pairing_then_reward(tmp_path):
    pkg = build_package(RSTDP_SPEC, tmp_path)
    net = pkg.Network()
    net.run()
    rewarded, unrewarded = weights(net, "pre_post"), weights(net, "pre_post_2")
    assert rewarded[0] > 1.0 and rewarded[1] < 1.0  # causal pairing + reward grows; anti-causal shrinks
    np.testing.assert_array_equal(unrewarded, [1.0, 1.0])  # no reward: no change, whatever the pairing
    # eligibility: c = A_plus * exp(-10/20) after the post spike (step 31, phase 5), decaying with tau_c = 1 s
    # from step 32 on; exponential Euler for w: w += eta * c * d * dt with c and d of the start of each step
    c0 = 1.0 * math.exp(-10 / 20)
    decay = math.exp(-1e-3 / 1.0)
    expected = 1.0 + sum(1e-3 * c0 * decay ** (n - 32) * dopamine(n) for n in range(32, 2000))
    assert rewarded[0] == pytest.approx(expected, rel=1e-9)
    # the same reward from Python: Network.set_input("<connection>.reward", function of the step)
    other = pkg.Network()
    other.set_input("pre_post_2.reward", dopamine)
    other.run()
    np.testing.assert_allclose(weights(other, "pre_post_2"), rewarded, rtol=1e-12)


def test_synapse_inputs_are_checked(specs):
    base = FORCED + """
network r {
    input pre = spike_times(indices = [0], times = [20] ms)
    population post = Forced(2)
    connect pre -> post using RSTDP { BODY }
}
"""
    bad = specs.analyse(base.replace("BODY", "reward = i * 0.1"))
    assert any("cannot use 'i'" in e for e in bad.errors), bad.errors
    bad = specs.analyse(base.replace("BODY", "reward = w"))
    assert any("cannot use 'w'" in e for e in bad.errors), bad.errors
    ok = specs.analyse(base.replace("BODY", "reward = 0.5 * exp(-t / (1 s))"))
    assert not ok.errors
    writes = specs.analyse(base.replace("using RSTDP { BODY }", "using RSTDP { on_pre: reward += 1 }"))
    assert any("cannot assign to input 'reward'" in e for e in writes.errors), writes.errors


# ---------------------------------------------------------------------------------------
# Determinism, save/load, inputs from Python, winner-take-all wiring
# ---------------------------------------------------------------------------------------

LEARNING = """
import "triplet.snn"
import "stdp.snn"
import "lif.snn"
network learn {
    input drive = poisson(200, rate = 20 Hz)
    population cells = LIF(20) { v = uniform(-65 mV, -50 mV) }
    connect drive -> cells using TripletSTDP { p = 0.3; w = uniform(0, 1); A3_plus = 0.05; delay = uniform(1 ms, 4 ms); on_pre: I_syn_post += w * 2 nA }
    connect cells -> cells using STDPSoft { if i != j; w = 0.1; on_pre: I_syn_post += w * nA }
    monitor spikes of cells
}
simulate learn { dt = 0.1 ms; duration = 150 ms; seed = 7 }
"""


def test_same_seed_same_learning_and_save_load_mid_learning(tmp_path):
    pkg = build_package(LEARNING, tmp_path)
    whole = pkg.Network()
    whole.run()
    assert len(whole.spikes("cells")[0]) > 20
    again = pkg.Network()
    again.run()
    other_seed = pkg.Network(seed=8)
    other_seed.run()
    initial = pkg.Network().state
    for key in ("drive_cells_w", "cells_cells_w"):
        assert not np.array_equal(whole.state[key], initial[key])  # it learned
        np.testing.assert_array_equal(whole.state[key], again.state[key])
        assert not np.array_equal(whole.state[key], other_seed.state[key])
    first = pkg.Network()
    first.run(steps=678)
    first.save(tmp_path / "mid.npz")
    second = pkg.Network.load(tmp_path / "mid.npz")
    second.run(steps=pkg.STEPS - 678)
    for key, value in whole.state.items():
        np.testing.assert_array_equal(second.state[key], value, err_msg=key)
    np.testing.assert_array_equal(second.spikes("cells")[1], whole.spikes("cells")[1])


def test_poisson_rates_from_python(tmp_path):
    pkg = build_package("""
network p {
    input src = poisson(4, rate = 5 Hz)
    monitor spikes of src
}
simulate p { dt = 1 ms; duration = 20 s; seed = 2 }
""", tmp_path)
    net = pkg.Network()
    net.set_input("src.rate", [0.0, 10.0, 50.0, 200.0])
    net.run()
    counts = np.bincount(net.spikes("src")[1], minlength=4) / 20.0
    assert counts[0] == 0
    np.testing.assert_allclose(counts[1:], [10, 50, 200], rtol=0.15)
    default = pkg.Network()  # the spec's rate when nothing is set
    default.run()
    np.testing.assert_allclose(np.bincount(default.spikes("src")[1], minlength=4) / 20.0, 5, rtol=0.3)
    # a rate that changes with the step: a function of the step
    switched = pkg.Network()
    switched.set_input("src.rate", lambda step: 100.0 if step < 10000 else 0.0)
    switched.run()
    times = switched.spikes("src")[0]
    assert times.max() < 10.0 and len(times) > 3000


def test_lateral_inhibition_wiring_after_another_connection(tmp_path):
    pkg = build_package(FORCED + """
network wta {
    input drive = spike_times(indices = [0, 1, 2], times = [1, 1, 1] ms)
    population cells = Forced(5)
    connect drive -> cells using STDP { on_pre: v_post += w }
    connect cells -> cells { if i != j; on_pre: v_post -= 1 }
}
simulate wta { dt = 1 ms; steps = 10 }
""", tmp_path)
    s = pkg.Network().state
    pre, post = s["cells_cells_pre"], s["cells_cells_post"]
    assert pre.size == 20 and not (pre == post).any()
    assert sorted(zip(pre.tolist(), post.tolist())) == [(a, b) for a in range(5) for b in range(5) if a != b]


# ---------------------------------------------------------------------------------------
# Song, Miller & Abbott (2000)
# ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_song_miller_abbott_bimodal_weights(tmp_path):
    """specs/stdp_song.snn: 100 s of model time (~50 s of CPU): uniform weights become bimodal."""
    pkg = build_package(SPECS / "stdp_song.snn", tmp_path)
    net = pkg.Network()
    before = net.state["exc_n_w"] / net.params["exc_n.w_max"]
    net.run()
    w = net.state["exc_n_w"] / net.params["exc_n.w_max"]
    counts = np.histogram(w, bins=10, range=(0, 1))[0]
    middle = counts[2:8].mean()
    near_bounds = ((w < 0.2) | (w > 0.8)).mean()
    assert ((before < 0.2) | (before > 0.8)).mean() < 0.45  # uniform at first
    assert near_bounds > 0.5, counts  # most weights near 0 or w_max
    assert counts[0] > 1.8 * middle and counts[-1] > 1.8 * middle, counts  # two peaks, at the bounds


# ---------------------------------------------------------------------------------------
# Online learning from events (examples/online_learning.py, specs/online_events.snn)
# ---------------------------------------------------------------------------------------


def test_online_learning_from_streamed_events(tmp_path):
    import importlib.util

    from helpers import ROOT

    spec = importlib.util.spec_from_file_location("online_learning", ROOT / "examples" / "online_learning.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    before, after, net = example.learn_online(tmp_path, sweeps=6, report=lambda *a: None)
    W0, W1 = before["sensors_hidden"], after["sensors_hidden"]
    np.testing.assert_array_equal(W1[:16], W0[:16])  # polarity-0 inputs never fired: untouched
    assert np.abs(W1[16:] - W0[16:]).max() > 1e-3  # the sensors that fired changed their weights
    for c in ("hidden_hidden", "hidden_out"):
        assert not np.array_equal(np.nan_to_num(after[c]), np.nan_to_num(before[c]))
    # one event at a time between short runs == every event queued first and one long run
    events = example.sensor_events(6)
    batch = type(net)(seed=0)
    batch.feed_events("sensors", x=[s for s, _ in events], y=[0] * len(events), t=[t for _, t in events],
                      polarity=[1] * len(events))
    batch.run(steps=net.step)
    for key, value in net.state.items():
        np.testing.assert_array_equal(batch.state[key], value, err_msg=key)
