"""Plasticity on the native CPU target (--target c) against the NumPy target, bit for bit.

Every spec with plasticity (STDP with traces decayed on read, nearest-spike STDP, triplet and
soft-bounded rules, eligibility traces with synapse equations and a reward input, per-synapse
delays with per-synapse pre traces, stepped traces, all-to-all and random connectivity, clipped
weights) runs on both targets from the same seed: the spikes must be identical, and so must
every weight, eligibility, trace and step of a trace's last update (np.array_equal), and the
synaptic event counts. The neurons' own state is compared within rounding only where the NumPy
target integrates a population with one matrix product (BLAS orders its sums its own way: the
LIF networks); the StepLIF networks' state is compared bit for bit too.

One exception is bit-for-bit: Diehl & Cook's rule computes ``(w_max - w)**mu`` per synapse,
which step.c computes with libm's pow and NumPy with its own SIMD pow (they differ in the
last bit on some inputs): weights there agree within a few ulps, spikes exactly.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conformance_helpers import EVENTS, camera_events
from helpers import SPECS, TEST_SPECS, import_package, write_spec
from snnlang.backends.c import compile_package
from snnlang.build import build
from snnlang.driver import plan as plan_of
from snnlang.frontend.diagnostics import SpecError

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="the c target needs a C compiler")

CONFORMANCE = TEST_SPECS / "conformance"
RTOL = 1e-9

#: A spec of this module: stepped traces (an equation that is not a pure decay, integrated with
#: RK4 every step; a post trace that on_pre adds to), per-synapse delays (pre traces kept per
#: synapse, delivered group by group), a scatter into a trace read by the next statement (two
#: passes), and the plan's decay on read for the post trace read by on_post.
STEPPED = """
import "steplif.snn"

synapse Stepped {
    parameters { tau_x = 20 ms; tau_y = 30 ms; A = 0.01; w_max = 1.0 }
    state { w = uniform(0, 0.3) }
    pre  { dx/dt = -x / tau_x + 0.1 / tau_x * x * x }
    post { dy/dt = -y / tau_y }
    on_pre {
        x += 1
        y += 0.25
        w = clip(w - A * y, 0, w_max)
    }
    on_post {
        y += 1
        w = clip(w + A * x, 0, w_max)
    }
}

network stepped {
    input x = poisson(30, rate = 50 Hz)
    population out = StepLIF(6) { decay = 0.9 }
    connect x -> out using Stepped { p = 0.5; delay = uniform(1 ms, 3 ms); on_pre: I_post += w }
    monitor spikes of x, out
}

simulate stepped { dt = 1 ms; steps = 400; seed = 3 }
"""

#: Eligibility traces on 24 000 synapses: the synapse equations run in parallel (above 16 384
#: elements), a reward given as an expression of t (with an exp) and from Python.
ELIGIBILITY = """
import "rstdp.snn"
import "steplif.snn"

network eligibility {
    input x = poisson(400, rate = 40 Hz)
    population out = StepLIF(60)
    connect x -> out using RSTDP {
        all_to_all
        w = uniform(0.0, 0.08)
        reward = where(t >= 50 ms, 0.5 * exp(-(t - 50 ms) / (100 ms)), 0)
        on_pre: I_post += w
    }
    monitor spikes of out
}

simulate eligibility { dt = 1 ms; steps = 300; seed = 6 }
"""

#: (spec, steps, text or None): the plastic specs of the suite; text replaces a silent input
#: (rate = 0 Hz, driven by a trainer) with 150 Hz as the conformance suite runs them.
CASES = [
    (CONFORMANCE / "stdp_all_to_all.snn", 500),
    (CONFORMANCE / "stdp_nearest.snn", 500),
    (CONFORMANCE / "stdp_sparse.snn", 500),
    (CONFORMANCE / "rstdp.snn", 600),
    (CONFORMANCE / "traces.snn", 1000),
    (TEST_SPECS / "lava_stdp.snn", 300),
    (TEST_SPECS / "lava_stdp_delays.snn", 300),
    (TEST_SPECS / "lava_stdp_sparse.snn", 300),
    (TEST_SPECS / "lava_stdp_zero.snn", 300),
    (SPECS / "brief_stdp.snn", 400),
    (SPECS / "stdp_window.snn", None),
    (SPECS / "stdp_rstdp.snn", 1000),
    (SPECS / "stdp_song.snn", 3000),
    (SPECS / "diehl_cook.snn", 600),
    (SPECS / "online_events.snn", 400),
]
#: Specs whose per-synapse arithmetic calls libm where NumPy calls its SIMD functions (see the top).
LIBM = {"diehl_cook"}


def derived(spec: Path, folder: Path) -> Path:
    """The spec as the conformance suite runs it: silent Poisson inputs at 150 Hz."""
    text = spec.read_text(encoding="utf-8")
    if "rate = 0 Hz" not in text:
        return spec
    return write_spec(text.replace("rate = 0 Hz", "rate = 150 Hz"), folder, spec.stem)


def packages(spec: Path, folder: Path):
    build(spec, folder / "np_net", "numpy")
    build(spec, folder / "c_net", "c")
    compile_package(folder / "c_net")
    return import_package(folder / "np_net"), import_package(folder / "c_net")


def plastic_keys(spec: Path) -> list[str]:
    """The state arrays of connections: per-synapse state (weights, eligibility), traces and the
    steps of their last updates, per-synapse delays."""
    plan = plan_of(spec, None)
    return [a.name for c in plan.connections for a in c.arrays + c.traces]


def feed(net, spec: Path) -> None:
    """Camera events for events() inputs (online_events), as the conformance suite makes them."""
    for k, (source, width, height) in enumerate(EVENTS.findall(spec.read_text(encoding="utf-8"))):
        x, y, t, polarity = camera_events(int(width), int(height), 0.4, seed=k, n=800)
        net.feed_events(source, x=x, y=y, t=t, polarity=polarity)


def compare(a, b, monitors, keys, label: str, exact: bool = True) -> int:
    """Spikes identical; connection state bit for bit (exact) or within a few ulps; the rest of the
    state within rounding; synaptic events equal. Returns the spikes compared."""
    spikes = 0
    for kind, pop, *_ in monitors:
        if kind == "spikes":
            ta, ia = a.spikes(pop)
            tb, ib = b.spikes(pop)
            assert np.array_equal(ta, tb) and np.array_equal(ia, ib), \
                f"{label}: spikes of {pop} differ ({len(ta)} NumPy, {len(tb)} c)"
            spikes += len(ta)
    for key in keys:
        ours, theirs = np.asarray(a.state[key]), np.asarray(b.state[key])
        if exact or ours.dtype.kind != "f":
            assert np.array_equal(ours, theirs), \
                f"{label}: {key} differs in {np.count_nonzero(ours != theirs)} of {ours.size} elements"
        else:
            ulps = np.abs(theirs - ours) / np.spacing(np.maximum(np.abs(ours), np.abs(theirs)))
            assert ulps.max(initial=0) <= 16, f"{label}: {key} differs by {ulps.max():.0f} ulps"
    for key, value in a.state.items():
        if key not in keys and np.asarray(value).dtype.kind == "f":
            np.testing.assert_allclose(b.state[key], value, rtol=RTOL,
                                       atol=RTOL * max(float(np.abs(value).max(initial=0)), 1e-300),
                                       err_msg=f"{label}: state {key}")
    assert b.synops == a.synops, f"{label}: {b.synops} synaptic events, NumPy {a.synops}"
    return spikes


@pytest.mark.parametrize("spec, steps", CASES, ids=lambda x: x.stem if isinstance(x, Path) else str(x))
def test_the_same_spikes_and_weights_as_the_numpy_target(tmp_path, spec, steps):
    if not spec.exists():
        pytest.skip(f"{spec} is not in this tree")
    spec = derived(spec, tmp_path)
    np_pkg, c_pkg = packages(spec, tmp_path)
    keys = plastic_keys(spec)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    before = {k: np.array(a.state[k]) for k in keys}
    for net in (a, b):
        feed(net, spec)
        net.run(steps=steps)
    assert a.step == b.step > 0
    spikes = compare(a, b, np_pkg.MONITORS, keys, spec.stem, exact=spec.stem not in LIBM)
    assert spikes > 0, f"{spec.stem}: no spikes to compare"
    assert b.synops > 0 and any(not np.array_equal(before[k], a.state[k]) for k in keys), \
        f"{spec.stem}: nothing learned, so nothing compared"


def test_stepped_traces_delays_and_passes(tmp_path):
    spec = write_spec(STEPPED, tmp_path, "stepped")
    np_pkg, c_pkg = packages(spec, tmp_path)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    a.run()
    b.run()
    assert compare(a, b, np_pkg.MONITORS, plastic_keys(spec), "stepped") > 100
    step_c = (tmp_path / "c_net" / "step.c").read_text()
    assert "stepped traces advance by dt" in step_c and "pass 2 of 2" in step_c  # what this spec is for


def test_all_pairs_through_the_spike_history(tmp_path):
    """All pairs with a delay of 3 steps: on_pre reads the spikes of 3 steps ago from the history."""
    text = (CONFORMANCE / "stdp_all_to_all.snn").read_text(encoding="utf-8")
    spec = write_spec(text.replace("all_to_all; w =", "all_to_all; delay = 3 ms; w ="), tmp_path, "delayed")
    np_pkg, c_pkg = packages(spec, tmp_path)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    a.run(steps=600)
    b.run(steps=600)
    assert compare(a, b, np_pkg.MONITORS, plastic_keys(spec), "all pairs, delayed") > 500
    assert "(all_pairs)" in (tmp_path / "c_net" / "step.c").read_text()  # not one step of delay


def test_eligibility_in_parallel_and_rewards_from_python(tmp_path):
    """1 and 2 threads bit for bit (the synapse equations run in parallel), the NumPy target's
    results; then the reward set from Python, as a sequence and as a function of the step."""
    spec = write_spec(ELIGIBILITY, tmp_path, "eligibility")
    np_pkg, c_pkg = packages(spec, tmp_path)
    keys = plastic_keys(spec)
    a = np_pkg.Network()
    a.run(steps=150)
    runs = []
    for threads in (1, 2):
        b = c_pkg.Network(threads=threads)
        b.run(steps=150)
        runs.append(b)
    assert compare(a, runs[0], np_pkg.MONITORS, keys, "eligibility, 1 thread") > 50
    compare(runs[0], runs[1], np_pkg.MONITORS, list(runs[0].state), "eligibility, 1 and 2 threads")
    b = runs[1]
    for value in (np.linspace(0, 1, 200), lambda step: 0.3 * np.sin(step / 20.0)):
        for net in (a, b):
            net.set_input("x_out.reward", value)
            net.run(steps=75)
    compare(a, b, np_pkg.MONITORS, keys, "eligibility, reward from Python")
    assert not np.array_equal(a.state["x_out_w"], runs[0].state["x_out_w"])


def test_a_run_split_by_save_and_load_is_one_run(tmp_path):
    """Traces, their steps of last update, eligibility and the reward's table continue across the split."""
    _, c_pkg = packages(CONFORMANCE / "rstdp.snn", tmp_path)
    whole = c_pkg.Network(threads=1)
    whole.run(steps=500)
    first = c_pkg.Network(threads=1)
    first.run(steps=237)
    first.save(tmp_path / "half.npz")
    second = c_pkg.Network.load(tmp_path / "half.npz", threads=1)
    second.run(steps=263)
    assert second.step == whole.step == 500
    for key, value in whole.state.items():
        assert np.array_equal(value, second.state[key]), key
    assert all(np.array_equal(x, y) for x, y in zip(whole.spikes("out"), second.spikes("out")))


def test_parameters_of_a_rule_change_without_a_rebuild(tmp_path):
    """Other time constants: other decay factors and their tables of powers (one that reaches 0
    within 40 steps: libm's pow past the table's end gives 0 as well)."""
    np_pkg, c_pkg = packages(CONFORMANCE / "stdp_sparse.snn", tmp_path)
    keys = plastic_keys(CONFORMANCE / "stdp_sparse.snn")
    for params in ({"x_out.tau_plus": 0.035, "x_out.A_plus": 0.03}, {"x_out.tau_minus": 5e-5}):
        a, b = np_pkg.Network(params=params), c_pkg.Network(params=params, threads=1)
        for net in (a, b):
            net.run(steps=200)
            net.set_params({"x_out.tau_plus": 0.01})  # between chunks
            net.run(steps=200)
        assert compare(a, b, np_pkg.MONITORS, keys, f"stdp_sparse with {params}") > 100


def test_what_step_c_does_not_print_is_refused_at_its_place(tmp_path):
    """A statement run once per spiking neuron that reads a per-synapse value: refused, located."""
    spec = write_spec("""
        import "steplif.snn"

        synapse Odd {
            parameters { tau_x = 20 ms; A = 0.01 }
            state { w = 0.5 }
            pre  { dx/dt = -x / tau_x }
            on_pre {
                x += w
                w = w + A * x
            }
        }

        network odd {
            input x = poisson(10, rate = 50 Hz)
            population out = StepLIF(3)
            connect x -> out using Odd { all_to_all; on_pre: I_post += w }
            monitor spikes of out
        }

        simulate odd { dt = 1 ms; steps = 100; seed = 3 }
        """, tmp_path, "odd")
    with pytest.raises(SpecError) as err:
        build(spec, tmp_path / "net", "c")
    text = err.value.diagnostics.render()
    assert "odd.snn:16:" in text and "target c:" in text and "x_out" in text and "--target numpy" in text
    assert "once per spiking neuron" in text and "w" in text
    assert not (tmp_path / "net").exists()
