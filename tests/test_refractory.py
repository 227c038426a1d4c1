"""Refractoriness (issue 14): synapse code reads the target's refractoriness, and the Brian2
convention of counting the period, per neuron model.

* ``v_post += w * (not refractory_post)`` drops the inputs of a refractory neuron, as NEST's
  delta synapses do: against a hand-written loop of the NEST order (deliver unless refractory,
  integrate unless refractory, threshold, reset), with one period for the population (the ring
  of the NumPy target) and one per neuron, in one run and in two, and on the CuPy kernels
  (through the CPU shim); located errors where the read makes no sense; the Lava target refuses it.
* ``refractory t_ref as brian2``: CUBA against a hand-written loop of Brian2's order (state
  update unless refractory, threshold, synapses, reset; ``not_refractory`` from
  ``timestep(t - lastspike) >= timestep(t_ref)``), spike for spike, on NumPy and CuPy; a small
  deterministic network against Brian2 itself where ``/tmp/b2venv`` has it.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

from helpers import SPECS, build_package, import_package, write_spec
from snnlang.build import build
from snnlang.frontend import analyse
from snnlang.frontend.diagnostics import SpecError

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the CuPy kernels for the CPU")
BRIAN2_PYTHON = Path("/tmp/b2venv/bin/python")


def _has_brian2() -> bool:
    if not BRIAN2_PYTHON.exists():
        return False
    return subprocess.run([str(BRIAN2_PYTHON), "-c", "import brian2"], capture_output=True).returncode == 0


def errors_of(text: str, folder: Path) -> str:
    model, diags = analyse(write_spec(text, folder))
    assert model is None, "the spec should have errors"
    return diags.render()


def shim_network(package, folder: Path, **kwargs):
    from cuda_shim.shim import ShimDevice

    return package.Network(device=ShimDevice(Path(package.__path__[0]) / "kernels.cu", folder / "shim", serial=True),
                           **kwargs)


# ---------------------------------------------------------------------------------------
# 1. refractory_post in on_pre: NEST's dropped inputs
# ---------------------------------------------------------------------------------------

TAU, V_TH, DT = 10e-3, 15e-3, 1e-3
#: input spikes (ms): dense enough that many arrive while a target is refractory
INPUT_MS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 27, 28, 30, 31, 32, 33]
N_CELLS = 4
STEPS = 40

DROP = """
neuron DeltaLIF {
    parameters { tau = 10 ms; v_th = 15 mV; t_ref = 3 ms }
    state { v = 0 mV }
    equations { dv/dt = -v / tau   unless refractory }
    spike when v > v_th
    reset { v = 0 mV }
    refractory t_ref
}
synapse Delta {
    state { w = (6 + 2 * j) * 1 mV }
    on_pre: $effect
}
network drop {
    input x = spike_times(n = 1, times = $times ms, indices = $indices)
    population cells = DeltaLIF($n) $override
    connect x -> cells using Delta { all_to_all }
    monitor spikes of cells
    monitor v of cells
}
simulate drop { dt = 1 ms; steps = $steps; seed = 1 }
"""

EFFECTS = {
    "not": "v_post += w * (not refractory_post)",
    "where": "v_post += where(refractory_post, 0 mV, w)",
    "kept": "v_post += w",  # no read: kicks reach a refractory neuron and are held
}


def drop_spec(effect: str, per_neuron: bool) -> str:
    from string import Template

    return Template(DROP).substitute(
        effect=EFFECTS[effect], times=str(INPUT_MS), indices=str([0] * len(INPUT_MS)), n=N_CELLS, steps=STEPS,
        override="{ t_ref = (1 + i) * 1 ms }" if per_neuron else "")


def nest_loop(steps: int, ref_steps: np.ndarray, drop: bool):
    """The NEST order, written out: input of step n (spikes of step n - 1) added unless the neuron
    is refractory in step n (when ``drop``); v decays unless refractory; spike test on the free
    neurons; reset; a countdown of ref_steps. Returns (step, neuron) spikes and v per step."""
    w = (6 + 2 * np.arange(N_CELLS)) * 1e-3
    arriving = {int(round(t)) + 1 for t in INPUT_MS}  # delivered the step after the input spike
    a = math.exp(-DT / TAU)
    v = np.zeros(N_CELLS)
    countdown = np.zeros(N_CELLS, dtype=int)
    spikes, trace = [], []
    for step in range(steps):
        refractory = countdown > 0
        if step in arriving:
            v = v + (np.where(refractory, 0.0, w) if drop else w)
        v = np.where(refractory, v, v * a)
        countdown[refractory] -= 1
        fired = np.flatnonzero((v > V_TH) & ~refractory)
        v[fired] = 0.0
        countdown[fired] = ref_steps[fired]
        spikes += [(step, k) for k in fired.tolist()]
        trace.append(v.copy())
    return spikes, np.array(trace)


def spike_steps(net, pop, dt=DT):
    t, i = net.spikes(pop)
    return list(zip(np.rint(t / dt).astype(int).tolist(), i.tolist()))


@pytest.mark.parametrize("per_neuron", [False, True], ids=["one-period", "per-neuron"])
@pytest.mark.parametrize("effect", ["not", "where", "kept"])
def test_inputs_of_a_refractory_target_are_dropped_as_in_nest(tmp_path, effect, per_neuron):
    pkg = build_package(drop_spec(effect, per_neuron), tmp_path, "drop")
    ref_steps = np.arange(1, N_CELLS + 1) if per_neuron else np.full(N_CELLS, 3)
    expected, v = nest_loop(STEPS, ref_steps, drop=effect != "kept")
    net = pkg.Network()
    net.run()
    assert spike_steps(net, "cells") == expected
    np.testing.assert_allclose(net.trace("cells", "v")[1], v, rtol=0, atol=1e-15)
    # the read changes what happens: dropping and keeping give other spikes
    other, _ = nest_loop(STEPS, ref_steps, drop=effect == "kept")
    assert other != expected
    # a run in two parts (the refractory state saved between them) is the same run
    split = pkg.Network()
    split.run(steps=17)
    split.run(steps=STEPS - 17)
    assert spike_steps(split, "cells") == expected


def test_refractory_pre_reads_the_source_population(tmp_path):
    """``refractory_pre``: the presynaptic neuron's refractoriness in the arrival step. A driver
    that fires every free step (period 3) with a delay of 2 steps: each spike arrives while the
    driver is refractory again, so `w * refractory_pre` delivers every spike, `not` none."""
    text = """
    neuron Driver {
        parameters { t_ref = 2 }
        state { v = 0.0 }
        inputs { I = 1.0 }
        update { v = v + I }
        spike when v > 0.5
        reset { v = 0.0 }
        refractory t_ref steps
    }
    neuron Counter {
        state { n = 0.0 }
        update { n = n }
    }
    synapse Read {
        on_pre: n_post += $factor
    }
    network readpre {
        population d = Driver(1)
        population c = Counter(1)
        connect d -> c using Read { all_to_all; delay = 2 ms }
        monitor spikes of d
        monitor n of c
    }
    simulate readpre { dt = 1 ms; steps = 30; seed = 1 }
    """
    counts = {}
    for factor in ("1", "(refractory_pre)", "(not refractory_pre)"):
        pkg = build_package(text.replace("$factor", factor), tmp_path / str(len(counts)), "readpre")
        net = pkg.Network()
        net.run()
        steps = [s for s, _ in spike_steps(net, "d")]
        assert steps == list(range(0, 30, 3))
        counts[factor] = net.trace("c", "n")[1][-1, 0]
    arrived = len([s for s in range(0, 30, 3) if s + 2 < 30])
    assert counts["1"] == arrived
    assert counts["(refractory_pre)"] == arrived  # spike at n arrives at n + 2, refractory in n+1 .. n+2
    assert counts["(not refractory_pre)"] == 0


@requires_gxx
def test_cupy_kernels_drop_the_same_inputs(tmp_path):
    # one period for the population: the CuPy target passes ref_steps as one number
    spec = write_spec(drop_spec("not", False), tmp_path / "specs", "drop")
    build(spec, tmp_path / "np_drop", "numpy")
    build(spec, tmp_path / "cu_drop", "cupy")
    kernels = (tmp_path / "cu_drop" / "kernels.cu").read_text()
    assert "spiked_at[post] <=" in kernels  # refractory_post: the target's last spike, in the delivery
    a = import_package(tmp_path / "np_drop").Network()
    cu = import_package(tmp_path / "cu_drop")
    b = shim_network(cu, tmp_path)
    a.run()
    b.run()
    assert spike_steps(a, "cells") == spike_steps(b, "cells")
    assert len(spike_steps(a, "cells")) > 5
    np.testing.assert_allclose(b.trace("cells", "v")[1], a.trace("cells", "v")[1], rtol=0, atol=1e-15)


READ_ERRORS = [
    # (what, synapse body, neuron refractory line, source, message)
    ("no refractory period", "on_pre: v_post += w * (not refractory_post)", "", "cells",
     "'refractory_post': neuron 'N' of population 'cells' has no refractory period"),
    ("on_post", "on_post: w += 1 mV * (not refractory_post)", "refractory 2 ms", "cells",
     "'refractory_post' is read only in on_pre"),
    ("an input's refractoriness", "on_pre: v_post += w * (not refractory_pre)", "refractory 2 ms", "x",
     "'refractory_pre': 'x' is an input, not a population of neurons; it has no refractory period"),
    ("synapse state", "state { k = 1.0 * refractory_post }\n    on_pre: v_post += w", "refractory 2 ms", "cells",
     "'refractory_post' is read only in on_pre"),
    ("assigned", "on_pre: refractory_post += 1", "refractory 2 ms", "cells",
     "cannot assign to built-in name 'refractory_post' in on_pre"),
]


@pytest.mark.parametrize("what, body, refractory, source, message", READ_ERRORS, ids=[e[0] for e in READ_ERRORS])
def test_refractory_reads_where_they_make_no_sense_are_located_errors(tmp_path, what, body, refractory, source, message):
    text = f"""
    neuron N {{
        parameters {{ tau = 10 ms }}
        state {{ v = 0 mV }}
        equations {{ dv/dt = -v / tau }}
        spike when v > 1 mV
        reset {{ v = 0 mV }}
        {refractory}
    }}
    synapse S {{
        parameters {{ w = 1 mV }}
        {body}
    }}
    network net {{
        input x = poisson(2, rate = 10 Hz)
        population cells = N(2)
        connect {source} -> cells using S {{ all_to_all }}
    }}
    simulate net {{ dt = 1 ms; steps = 10 }}
    """
    rendered = errors_of(text, tmp_path)
    assert message in rendered, rendered
    line = next(k for k, ln in enumerate(textwrap.dedent(text).lstrip("\n").splitlines(), 1) if "refractory_p" in ln)
    assert f"spec.snn:{line}:" in rendered, rendered


def test_refractory_read_in_a_connection_condition_is_an_error(tmp_path):
    text = drop_spec("kept", False).replace("{ all_to_all }", "{ all_to_all; if refractory_post }")
    rendered = errors_of(text, tmp_path)
    assert "'refractory_post' is read only in on_pre" in rendered and "a connection's settings" in rendered, rendered


def test_a_read_of_a_neuron_with_a_variable_named_refractory_is_an_error(tmp_path):
    text = drop_spec("not", False).replace("state { v = 0 mV }", "state { v = 0 mV; refractory = 0 }")
    rendered = errors_of(text, tmp_path)
    assert "model also has a variable 'refractory'; rename that variable" in rendered, rendered
    assert "spec.snn:11:" in rendered, rendered
    # without the read, such a variable is allowed
    assert analyse(write_spec(drop_spec("kept", False).replace("state { v = 0 mV }", "state { v = 0 mV; refractory = 0 }"),
                              tmp_path / "kept"))[0] is not None


@pytest.mark.parametrize("weight", ["1", "w"])
def test_refractory_post_is_built_in_even_over_a_neuron_variable_named_refractory(tmp_path, weight):
    """``refractory_post`` is the target's refractoriness, a built-in name, whether or not an
    expression of the connection names anything (the check takes a shorter path when none does)."""
    text = textwrap.dedent(f"""
    neuron R {{
        parameters {{ tau = 10 ms }}
        state {{ v = 0 mV; refractory = 0 }}
        equations {{ dv/dt = -v / tau }}
        spike when v > 10 mV
        reset {{ v = 0 mV }}
        refractory 2 ms
    }}
    network n {{
        population a = R(3)
        connect a -> a {{ w = 1; p = 0.5; on_pre: refractory_post += {weight} }}
    }}
    simulate n {{ dt = 0.1 ms; duration = 10 ms }}
    """)
    rendered = errors_of(text, tmp_path)
    assert "spec.snn:11:" in rendered and "cannot assign to built-in name 'refractory_post' in on_pre" in rendered, rendered


def test_lava_refuses_a_refractory_read_at_the_connection(tmp_path):
    spec = write_spec(drop_spec("not", False), tmp_path / "specs", "drop")
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "lava_drop", "lava")
    text = str(e.value)
    assert "target lava: connection x_cells: its on_pre reads the refractoriness of cells" in text
    assert "drop.snn:16:" in text, text


def test_the_c_target_refuses_a_refractory_read_at_the_connection(tmp_path):
    spec = write_spec(drop_spec("not", False), tmp_path / "specs", "drop")
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "c_drop", "c")
    text = str(e.value)
    assert "target c: connection x_cells: its on_pre reads the refractoriness of cells" in text
    assert "drop.snn:16:" in text, text
    assert not (tmp_path / "c_drop").exists()


# ---------------------------------------------------------------------------------------
# 2. refractory t_ref as brian2
# ---------------------------------------------------------------------------------------

STEPPER = """
neuron Stepper {
    parameters { t_ref = $ref }
    state { v = 0.0 }
    update { v = v + 1.0 }
    spike when v > 0.5
    reset { v = 0.0 }
    refractory t_ref$unit$convention
}
network stepper {
    population p = Stepper(1)
    monitor spikes of p
}
simulate stepper { dt = 1 ms; steps = 40; seed = 1 }
"""


@pytest.mark.parametrize("ref, unit, convention, period", [
    ("3", " steps", "", 4),  # nest: held 3 steps after the spike step
    ("3", " steps", " as nest", 4),
    ("3", " steps", " as brian2", 3),  # brian2: held 2, fires again in step n + 3
    ("1", " steps", " as brian2", 1),  # no held step
    ("0", " steps", " as brian2", 1),
    ("2.5 ms", "", "", 4),  # round(2.5) = 3 held
    ("2.5 ms", "", " as brian2", 2),  # Brian2's timestep(2.5 ms, 1 ms) = 2: held 1
    ("3 ms", "", " as brian2", 3),
])
def test_a_neuron_that_fires_when_free_spikes_every_held_plus_one_steps(tmp_path, ref, unit, convention, period):
    from string import Template

    text = Template(STEPPER).substitute(ref=ref, unit=unit, convention=convention)
    net = build_package(text, tmp_path, "stepper").Network()
    net.run()
    assert [s for s, _ in spike_steps(net, "p")] == list(range(0, 40, period))


def test_an_unknown_convention_is_a_located_error(tmp_path):
    text = STEPPER.replace("$ref", "3").replace("$unit", " steps").replace("$convention", " as brain2")
    rendered = errors_of(text, tmp_path)
    assert "unknown refractory convention 'brain2'" in rendered and "did you mean 'brian2'" in rendered, rendered
    assert "spec.snn:7:31:" in rendered, rendered  # at the convention


def cuba_brian2_loop(s, steps):
    """CUBA in Brian2's order, written out from the state of a fresh package (its connectivity and
    initial v): per step, not_refractory = (step - lastspike) >= timestep(5 ms) = 50; the exact
    update of v (held where refractory), ge, gi; the spike test v > V_t on the free neurons; the
    synapses of this step's spikes add to ge, gi (Brian2's 'synapses' slot, no delay); the reset
    v = V_r and lastspike = step. Returns (step, neuron) of every spike."""
    pre = np.concatenate([s["cells_cells_pre"], s["cells_cells_2_pre"]])
    post = np.concatenate([s["cells_cells_post"], s["cells_cells_2_post"]])
    excitatory = pre < 3200
    order = np.argsort(pre, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=4000))])
    dt, tau_m, tau_e, tau_i, E_l = 1e-4, 20e-3, 5e-3, 10e-3, -49e-3
    a, b_e, b_i = math.exp(-dt / tau_m), math.exp(-dt / tau_e), math.exp(-dt / tau_i)
    c_e, c_i = (tau * (b - a) / (tau - tau_m) for tau, b in ((tau_e, b_e), (tau_i, b_i)))
    R = int((5e-3 + 1e-3 * dt) / dt)  # Brian2's timestep(t_ref, dt)
    v, ge, gi = s["cells_v"].copy(), np.zeros(4000), np.zeros(4000)
    lastspike = np.full(4000, -10**9)
    spikes = []
    for step in range(steps):
        not_refractory = (step - lastspike) >= R
        v = np.where(not_refractory, E_l + (v - E_l) * a + c_e * ge + c_i * gi, v)
        ge, gi = ge * b_e, gi * b_i
        fired = np.flatnonzero((v > -50e-3) & not_refractory)
        if fired.size:
            syn = np.concatenate([order[ptr[k]:ptr[k + 1]] for k in fired])
            np.add.at(ge, post[syn[excitatory[syn]]], 1.62e-3)
            np.add.at(gi, post[syn[~excitatory[syn]]], -9e-3)
        v[fired] = -60e-3
        lastspike[fired] = step
        spikes += [(step, k) for k in fired.tolist()]
    return spikes


@pytest.fixture(scope="module")
def cuba_brian2(tmp_path_factory):
    text = (SPECS / "cuba.snn").read_text().replace("refractory t_ref\n", "refractory t_ref as brian2\n")
    assert "as brian2" in text
    folder = tmp_path_factory.mktemp("cuba_brian2")
    spec = write_spec(text, folder / "specs", "cuba")
    build(spec, folder / "np", "numpy")
    return folder, spec, import_package(folder / "np")


def test_cuba_with_the_brian2_convention_matches_a_loop_of_brians_order(cuba_brian2):
    _, _, pkg = cuba_brian2
    net = pkg.Network(seed=4)
    steps = 2000
    expected = cuba_brian2_loop(net.state, steps)
    net.run(steps=steps)
    assert len(expected) > 1500
    assert spike_steps(net, "cells", dt=1e-4) == expected


@requires_gxx
def test_cuba_with_the_brian2_convention_on_the_cupy_kernels(cuba_brian2):
    folder, spec, pkg = cuba_brian2
    build(spec, folder / "cu", "cupy")
    a = pkg.Network(seed=2)
    b = shim_network(import_package(folder / "cu"), folder, seed=2)
    a.run(steps=600)
    b.run(steps=600)
    assert len(spike_steps(a, "cells", 1e-4)) > 100
    assert spike_steps(a, "cells", 1e-4) == spike_steps(b, "cells", 1e-4)


# A small network without random numbers: three LIF neurons under constant drives and a spike
# train of kicks to v, which Brian2 drops while a neuron is refractory (its synapse code adds
# only where not_refractory, v being marked unless refractory); Brian2's default schedule
# (synapses after the threshold of the spike's step, before the reset). t_ref = 2.55 ms with
# dt = 0.1 ms: Brian2 counts timestep(2.55 ms) = 25 steps (not round's 26).
BRIAN2_NET = """
neuron LIF {
    parameters { tau = 10 ms; v_th = 10 mV; t_ref = 2.55 ms }
    state { v = 0 mV }
    inputs { I = 0 mV }
    equations { dv/dt = (I - v) / tau   unless refractory }
    spike when v > v_th
    reset { v = 0 mV }
    refractory t_ref as brian2
}
synapse Kick {
    parameters { w = 3 mV }
    on_pre: v_post += w
}
network small {
    input x = spike_times(n = 1, times = $times ms, indices = $indices)
    population cells = LIF(3) { I = (12 + 6 * i) * 1 mV; v = 2 * i * 1 mV }
    connect x -> cells using Kick { all_to_all }
    monitor spikes of cells
}
simulate small { dt = 0.1 ms; duration = 100 ms; seed = 1 }
"""
KICKS_MS = [round(0.1 * k, 1) for k in range(7, 1000, 13)]

BRIAN2_SCRIPT = """
import json, sys
import numpy as np
from brian2 import NeuronGroup, SpikeGeneratorGroup, Synapses, SpikeMonitor, Network, ms, mV, prefs, defaultclock
prefs.codegen.target = "numpy"
defaultclock.dt = 0.1 * ms
times = json.loads(sys.argv[1])
G = NeuronGroup(3, '''dv/dt = (I - v) / (10*ms) : volt (unless refractory)
                      I : volt''', threshold="v > 10*mV", reset="v = 0*mV", refractory=2.55 * ms, method="exact")
G.I = "(12 + 6 * i) * mV"
G.v = "2 * i * mV"
X = SpikeGeneratorGroup(1, np.zeros(len(times), dtype=int), np.array(times) * ms)
S = Synapses(X, G, on_pre="v_post += 3*mV")
S.connect()
M = SpikeMonitor(G)
net = Network(G, X, S, M)
net.run(100 * ms)
print(json.dumps([[int(round(float(t / ms) * 10)), int(k)] for t, k in zip(M.t, M.i)]))
"""


@pytest.mark.skipif(not _has_brian2(), reason="Brian2 is not installed in /tmp/b2venv")
def test_a_small_network_spikes_as_in_brian2(tmp_path):
    from string import Template

    script = tmp_path / "brian2_small.py"
    script.write_text(BRIAN2_SCRIPT)
    done = subprocess.run([str(BRIAN2_PYTHON), str(script), json.dumps(KICKS_MS)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = sorted(tuple(p) for p in json.loads(done.stdout.strip().splitlines()[-1]))
    text = Template(BRIAN2_NET).substitute(times=str(KICKS_MS), indices=str([0] * len(KICKS_MS)))
    net = build_package(text, tmp_path, "small").Network()
    net.run()
    ours = sorted(spike_steps(net, "cells", dt=1e-4))
    assert len(ours) > 30
    assert ours == theirs
    # today's (NEST) count holds one step longer and gives other spikes
    nest = build_package(text.replace(" as brian2", ""), tmp_path / "nest", "small").Network()
    nest.run()
    assert sorted(spike_steps(nest, "cells", dt=1e-4)) != theirs


@requires_gxx
def test_brian2_dropped_kicks_on_the_cupy_kernels(tmp_path):
    """The kicks to v that ``as brian2`` drops (Brian2's timing: refractory in the last step or
    spiked in it) are dropped alike by the CuPy kernels."""
    from string import Template

    text = Template(BRIAN2_NET).substitute(times=str(KICKS_MS), indices=str([0] * len(KICKS_MS)))
    spec = write_spec(text, tmp_path / "specs", "small")
    build(spec, tmp_path / "np", "numpy")
    build(spec, tmp_path / "cu", "cupy")
    assert "<= cells_ref_steps + 1)" in (tmp_path / "cu" / "kernels.cu").read_text()
    a = import_package(tmp_path / "np").Network()
    b = shim_network(import_package(tmp_path / "cu"), tmp_path)
    a.run()
    b.run()
    assert len(spike_steps(a, "cells", 1e-4)) > 30
    assert spike_steps(a, "cells", 1e-4) == spike_steps(b, "cells", 1e-4)


def test_brian2_dropped_kicks_in_a_run_in_parts_are_those_of_one_run(tmp_path):
    from string import Template

    text = Template(BRIAN2_NET).substitute(times=str(KICKS_MS), indices=str([0] * len(KICKS_MS)))
    pkg = build_package(text, tmp_path, "small")
    whole, split = pkg.Network(), pkg.Network()
    whole.run()
    for steps in (171, 229, 600):  # cuts inside refractory periods
        split.run(steps=steps)
    assert len(spike_steps(whole, "cells", 1e-4)) > 30
    assert spike_steps(split, "cells", 1e-4) == spike_steps(whole, "cells", 1e-4)


def test_cupy_refuses_a_refractory_period_per_neuron(tmp_path):
    """The CUDA kernels hold one period a population: a period per neuron is refused, located."""
    spec = write_spec("""
import "lif.snn"
network n {
    population cells = LIF(20) { t_ref = 1 ms + 3 ms * uniform(0, 1); I_ext = 3 nA }
    monitor spikes of cells
}
simulate n { dt = 0.1 ms; duration = 50 ms }
""", tmp_path / "specs", "per_neuron")
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "cupy_pkg", "cupy")
    assert "per_neuron.snn:3:16: error: target cupy: population cells: a refractory period of its own for each " \
           "neuron has no CUDA kernel yet" in str(e.value), str(e.value)
