"""Correctness items of issue 12 on the NumPy and CuPy targets (the CuPy package runs its own
kernels.cu on the CPU through tests/cuda_shim, as in tests/test_cupy_kernels.py):

* connections that draw no synapse build and run, whatever their pattern and synapse;
* a state monitor records parameters (per neuron, or one value broadcast) and definitions;
* an event statement reads a parameter that is one number for the whole population;
* a monitor of several selections records every one of them (and ``snnlang run`` saves them);
* spike_times: two spikes of one neuron in one step are one spike, and ``check`` says how many;
* ``Network.save`` / ``load`` keep the values given with ``set_input``;
* ``feed_events`` says how many events it dropped for being in the past;
* a value that becomes infinite and is reset within a chunk stops the run at its step.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from cuda_shim.shim import ShimDevice
from helpers import import_package, write_spec
from snnlang.build import build
from snnlang.frontend import analyse

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the kernels for the CPU")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("correctness")


_built: dict = {}


def packages(name: str, text: str, workdir: Path):
    """The NumPy and CuPy packages of a spec text (built once per test module)."""
    if name not in _built:
        spec = write_spec(text, workdir / "specs" / name, name)
        build(spec, workdir / f"np_{name}", "numpy")
        build(spec, workdir / f"cu_{name}", "cupy")
        _built[name] = (import_package(workdir / f"np_{name}"), import_package(workdir / f"cu_{name}"))
    return _built[name]


def cpu_device(cu_pkg, workdir: Path) -> ShimDevice:
    return ShimDevice(Path(cu_pkg.__path__[0]) / "kernels.cu", workdir / "shim", serial=True)


def same_records(a, b, monitors):
    """The same spikes and the same samples (to float64 rounding) on two networks."""
    for kind, pop, variables, *_ in monitors:
        if kind == "spikes":
            for x, y in zip(a.spikes(pop), b.spikes(pop)):
                np.testing.assert_array_equal(x, y, err_msg=pop)
        else:
            for v in variables:
                (ta, xa), (tb, xb) = a.trace(pop, v), b.trace(pop, v)
                np.testing.assert_array_equal(ta, tb)
                np.testing.assert_allclose(xb, xa, rtol=1e-12, atol=1e-300, err_msg=f"{pop}.{v}")
    assert a.synops == b.synops


# ---------------------------------------------------------------------------------------
# Connections without synapses
# ---------------------------------------------------------------------------------------

#: Patterns that draw no synapse between 4 and 8 neurons (p = 0.001: 32 pairs, none for this seed).
EMPTY_PATTERNS = ["p = 0", "p = 0.001", "p = 0.5 * (i > 10)", "all_to_all; if i > 10", "one_to_one; if j > 10",
                  "indegree = 2; if i > 10"]
#: Synapses: per-synapse state with traces and on_post (STDP); a weight per synapse (dense or
#: compressed rows); delays per synapse; one constant effect with a delay of two steps, and of
#: one step (delivered from each neuron's list of targets).
EMPTY_SYNAPSES = {
    "stdp": ("using STDP", "on_pre: I_syn_post += w * nA"),
    "weights": ("", "w = uniform(0.5, 1); on_pre: I_syn_post += w * nA"),
    "delays": ("", "w = 1; delay = uniform(1 ms, 3 ms); on_pre: I_syn_post += w * nA"),
    "constant": ("", "delay = 0.2 ms; on_pre: I_syn_post += 0.5 nA"),
    "gathered": ("", "on_pre: I_syn_post += 0.5 nA"),
}


def empty_spec(kind: str) -> str:
    using, body = EMPTY_SYNAPSES[kind]
    connections = "\n".join(f"        connect a -> b {using} {{ {p}; {body} }}" for p in EMPTY_PATTERNS)
    return f"""
        import "lif.snn"
        import "stdp.snn"

        network empty {{
            population a = LIF(4) {{ I_ext = 2 nA }}
            population b = LIF(8) {{ I_ext = 1.6 nA }}
            population ref = LIF(8) {{ I_ext = 1.6 nA }}
{connections}
            monitor spikes of a, b, ref
            monitor v, I_syn of b
        }}

        simulate empty {{ dt = 0.1 ms; duration = 60 ms; seed = 3 }}
    """


@pytest.mark.parametrize("kind", sorted(EMPTY_SYNAPSES))
def test_connections_without_synapses_run_on_numpy(kind, workdir):
    """Every pattern that happens to draw no synapse: b runs as its unconnected twin ref."""
    np_pkg, _ = packages(f"empty_{kind}", empty_spec(kind), workdir)
    net = np_pkg.Network().run()
    names = ["a_b"] + [f"a_b_{k}" for k in range(2, len(EMPTY_PATTERNS) + 1)]
    assert all(net.state[f"{c}_pre"].size == 0 for c in names)
    assert len(net.spikes("a")[0]) > 5 and len(net.spikes("ref")[0]) > 2
    for x, y in zip(net.spikes("b"), net.spikes("ref")):
        np.testing.assert_array_equal(x, y)
    if kind != "weights":  # (all_to_all with weights is a dense matrix, which counts n_post events a spike)
        assert net.synops == 0


@requires_gxx
@pytest.mark.parametrize("kind", sorted(EMPTY_SYNAPSES))
def test_connections_without_synapses_run_on_cupy(kind, workdir):
    np_pkg, cu_pkg = packages(f"empty_{kind}", empty_spec(kind), workdir)
    a = np_pkg.Network().run()
    b = cu_pkg.Network(device=cpu_device(cu_pkg, workdir)).run()
    same_records(a, b, np_pkg.MONITORS)


# ---------------------------------------------------------------------------------------
# Monitors of parameters and definitions
# ---------------------------------------------------------------------------------------

PARAMS_SPEC = """
    neuron Leaky {
        parameters { tau = 10 ms; gain = 2; E = -60 mV }
        state { v = E }
        inputs { I = 1 mV }
        equations {
            drive = gain * I
            level = E + 0.5 mV * i + 1 mV * t / (1 ms)
            dv/dt = (E + drive - v) / tau
        }
    }

    network params {
        population cells = Leaky(6) { tau = 10 ms + 2 ms * i }
        monitor tau, gain, drive, v, level of cells[1:6:2]
    }

    simulate params { dt = 0.1 ms; steps = 50; seed = 1 }
"""


def test_monitors_record_parameters_and_definitions(workdir):
    """A parameter per neuron is recorded as it is, one for the population broadcast to the
    selected neurons (its value of the run), a definition evaluated at every sample."""
    np_pkg, _ = packages("params", PARAMS_SPEC, workdir)
    net = np_pkg.Network(params={"gain": 3.0})
    net.set_input("cells.I", np.arange(6) * 1e-3)
    net.run()
    t, tau = net.trace("cells", "tau")
    assert tau.shape == (50, 3)
    np.testing.assert_allclose(tau, np.broadcast_to([12e-3, 16e-3, 20e-3], (50, 3)))
    np.testing.assert_array_equal(net.trace("cells", "gain")[1], np.full((50, 3), 3.0))
    np.testing.assert_allclose(net.trace("cells", "drive")[1], np.broadcast_to(3.0 * np.array([1, 3, 5]) * 1e-3, (50, 3)))
    level = -60e-3 + 0.5e-3 * np.array([1, 3, 5]) + 1e-3 * t[:, None] / 1e-3  # sampled at t = n dt
    np.testing.assert_allclose(net.trace("cells", "level")[1], level, rtol=1e-12)
    # and v follows the recorded drive: v(t) = E + drive (1 - exp(-(n + 1) dt / tau))
    _, v = net.trace("cells", "v")
    n = np.arange(50)[:, None] + 1
    expected = -60e-3 + 3e-3 * np.array([1, 3, 5]) * (1 - np.exp(-n * 1e-4 / np.array([12e-3, 16e-3, 20e-3])))
    np.testing.assert_allclose(v, expected, rtol=1e-9)


@requires_gxx
def test_monitors_of_parameters_agree_on_cupy(workdir):
    np_pkg, cu_pkg = packages("params", PARAMS_SPEC, workdir)
    nets = [np_pkg.Network(params={"gain": 3.0}), cu_pkg.Network(params={"gain": 3.0}, device=cpu_device(cu_pkg, workdir))]
    for net in nets:
        net.set_input("cells.I", np.arange(6) * 1e-3)
        net.run()
    same_records(*nets, np_pkg.MONITORS)


# ---------------------------------------------------------------------------------------
# Event statements that read a parameter of the whole population
# ---------------------------------------------------------------------------------------

SHARED_SPEC = """
    neuron Counter {
        parameters { J = 0.5 }
        state { v = 0; u = 0 }
    }

    network shared {
        input src = spike_times(indices = [0, 1, 0], times = [1, 2, 5] ms)
        population cells = Counter(3)
        connect src -> cells { all_to_all; on_pre: v_post += J_post }
        connect src -> cells { all_to_all; delay = 2 ms; on_pre: u_post -= 2 * J_post }
        monitor v, u of cells
    }

    simulate shared { dt = 1 ms; steps = 8; seed = 1 }
"""


def test_event_statements_read_a_shared_parameter(workdir):
    """v_post += J_post with J one number for the population: each arriving spike adds J."""
    np_pkg, _ = packages("shared", SHARED_SPEC, workdir)
    net = np_pkg.Network(params={"cells.J": 0.25})
    net.run()
    # the spikes of steps 1, 2, 5 arrive in steps 2, 3, 6 (one step of delay) and 3, 4, 7 (two)
    v_arrived = np.array([0, 0, 1, 2, 2, 2, 3, 3])[:, None]
    u_arrived = np.array([0, 0, 0, 1, 2, 2, 2, 3])[:, None]
    np.testing.assert_allclose(net.trace("cells", "v")[1], np.broadcast_to(0.25 * v_arrived, (8, 3)))
    np.testing.assert_allclose(net.trace("cells", "u")[1], np.broadcast_to(-0.5 * u_arrived, (8, 3)))


SCATTER_SPEC = """
    # A relay neuron spikes in the step an input arrives; its synapses count their spikes (n)
    # and add to the cells what reads shared (J) and per-neuron (K) parameters of both sides.
    neuron Relay {
        parameters { J = 0.5 }
        state { v = 0 }
        inputs { I = 0 }
        update { v = I }
        spike when v > 0.5
        reset { v = 0 }
    }

    neuron Counter {
        parameters { J = 0.5; K = 0.1 * i }
        state { v = 0; u = 0 }
    }

    synapse Count {
        state { n = 0 }
        on_pre {
            n += 1
            u_post += K_post + J_pre
            v_post += n * J_post
        }
    }

    network scatter {
        input src = spike_times(indices = [0, 1, 0], times = [1, 2, 5] ms)
        population relay = Relay(2)
        population cells = Counter(3)
        connect src -> relay { one_to_one; on_pre: I_post += 1 }
        connect relay -> cells using Count { all_to_all }
        monitor spikes of relay
        monitor v, u of cells
    }

    simulate scatter { dt = 1 ms; steps = 9; seed = 1 }
"""


def test_shared_parameters_of_both_sides_in_a_plastic_connection(workdir):
    """Per-synapse statements (n += 1) before scatters that read shared and per-neuron parameters."""
    np_pkg, _ = packages("scatter", SCATTER_SPEC, workdir)
    net = np_pkg.Network(params={"relay.J": 2.0, "cells.J": 0.5})
    net.run()
    t, i = net.spikes("relay")
    np.testing.assert_array_equal(np.rint(t / net.dt), [2, 3, 6])
    np.testing.assert_array_equal(i, [0, 1, 0])
    # relay spikes arrive in steps 3, 4, 7: u += K + J_relay each time; v += n * J_cells, n = 1, 1, 2
    K = 0.1 * np.arange(3)
    arrivals = np.array([0, 0, 0, 1, 2, 2, 2, 3, 3])[:, None]
    np.testing.assert_allclose(net.trace("cells", "u")[1], arrivals * (K + 2.0))
    v_sum = np.array([0, 0, 0, 1, 2, 2, 2, 4, 4])[:, None]
    np.testing.assert_allclose(net.trace("cells", "v")[1], np.broadcast_to(0.5 * v_sum, (9, 3)))
    np.testing.assert_array_equal(net.state["relay_cells_n"], [2, 2, 2, 1, 1, 1])


@requires_gxx
@pytest.mark.parametrize("name", ["shared", "scatter"])
def test_shared_parameters_in_events_agree_on_cupy(name, workdir):
    np_pkg, cu_pkg = packages(name, {"shared": SHARED_SPEC, "scatter": SCATTER_SPEC}[name], workdir)
    a = np_pkg.Network(params={"J": 0.25}).run()
    b = cu_pkg.Network(params={"J": 0.25}, device=cpu_device(cu_pkg, workdir)).run()
    same_records(a, b, np_pkg.MONITORS)
    assert a.synops == b.synops > 0


# ---------------------------------------------------------------------------------------
# Monitors of several selections
# ---------------------------------------------------------------------------------------

MERGED_SPEC = """
    import "lif.snn"

    network merged {
        population cells = LIF(50) { I_ext = 1.5 nA + 0.02 nA * i; v = uniform(-65 mV, -50 mV) }
        monitor v of cells[24], cells[26], cells[40]
        monitor spikes of cells[2], cells[30:50:5], cells[45]
        monitor I_syn of cells[3:5]
        monitor I_syn of cells[10], cells[4]
        monitor v, I_syn of cells every 1 ms
    }

    simulate merged { dt = 0.1 ms; duration = 100 ms; seed = 2 }
"""


def test_several_selections_and_statements_against_a_whole_monitor(workdir):
    np_pkg, _ = packages("merged", MERGED_SPEC, workdir)
    net = np_pkg.Network().run()
    t, v = net.trace("cells", "v")
    assert v.shape == (1000, 3)
    np.testing.assert_array_equal(net.neurons("cells", "v"), [24, 26, 40])
    np.testing.assert_array_equal(net.neurons("cells", "I_syn"), [3, 4, 10])
    _, i_syn = net.trace("cells", "I_syn")
    assert i_syn.shape == (1000, 3)
    t_spk, i_spk = net.spikes("cells")
    assert set(i_spk) == {2, 30, 35, 40, 45}
    np.testing.assert_array_equal(net.neurons("cells"), [2, 30, 35, 40, 45])
    # against the sampled whole population (every 1 ms = every 10th step)
    whole = [m for m in np_pkg.MONITORS if m[0] == "state" and m[6] == 10]
    assert len(whole) == 1
    k = np_pkg.MONITORS.index(whole[0])
    sampled = np.stack([values for _, values in net.records[k]])  # samples x variables x neurons
    np.testing.assert_array_equal(v[::10], sampled[:, 0, [24, 26, 40]])
    np.testing.assert_array_equal(i_syn[::10], sampled[:, 1, [3, 4, 10]])


@requires_gxx
def test_several_selections_agree_on_cupy(workdir):
    np_pkg, cu_pkg = packages("merged", MERGED_SPEC, workdir)
    a = np_pkg.Network().run()
    b = cu_pkg.Network(device=cpu_device(cu_pkg, workdir)).run()
    same_records(a, b, np_pkg.MONITORS)
    np.testing.assert_array_equal(b.neurons("cells", "v"), [24, 26, 40])


def test_snnlang_run_saves_every_selection(workdir, tmp_path, monkeypatch):
    from snnlang import run as run_module

    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    spec = write_spec(MERGED_SPEC, tmp_path / "spec", "merged")
    run_module.run(spec, tmp_path / "out", plots=True)
    with np.load(tmp_path / "out" / "state.npz") as data:
        assert data["cells_v"].shape == (1000, 3)
        np.testing.assert_array_equal(data["cells_v_neurons"], [24, 26, 40])
        np.testing.assert_array_equal(data["cells_I_syn_neurons"], [3, 4, 10])
    with np.load(tmp_path / "out" / "spikes.npz") as data:
        assert set(data["cells_i"]) == {2, 30, 35, 40, 45}
    summary = (tmp_path / "out" / "summary.json").read_text()
    assert '"n": 5' in summary  # the rate of the monitored neurons: five of them


# ---------------------------------------------------------------------------------------
# spike_times: at most one spike per neuron and step
# ---------------------------------------------------------------------------------------

DOUBLE_SPEC = """
    neuron Passive {
        state { v = 0 }
    }

    network doubles {
        input src = spike_times(indices = [0, 0, 1, 0, 1], times = [1, 1.04, 2, 3, 2.02] ms)
        population cells = Passive(3)
        connect src -> cells { all_to_all; on_pre: v_post += 1 }
        monitor spikes of src
        monitor v of cells
    }

    simulate doubles { dt = 0.1 ms; steps = 50; seed = 1 }
"""


def test_spike_times_in_one_step_are_one_spike_and_check_says_so(workdir, tmp_path):
    spec = write_spec(DOUBLE_SPEC, tmp_path, "doubles")
    model, diags = analyse(spec)
    assert model is not None
    shown = [f"{d.loc}: {d.message}" for d in diags.warnings]
    assert len(shown) == 1 and "2 spikes" in shown[0] and "merged" in shown[0], shown
    assert shown[0].startswith(f"{spec}:6:")  # at the spike_times() call
    np_pkg, _ = packages("doubles", DOUBLE_SPEC, workdir)
    net = np_pkg.Network().run()
    t, i = net.spikes("src")
    np.testing.assert_array_equal(np.rint(t / net.dt), [10, 20, 30])
    np.testing.assert_array_equal(i, [0, 1, 0])
    assert net.synops == 3 * 3
    np.testing.assert_array_equal(net.trace("cells", "v")[1][-1], [3, 3, 3])


@requires_gxx
def test_spike_times_in_one_step_agree_on_cupy(workdir):
    np_pkg, cu_pkg = packages("doubles", DOUBLE_SPEC, workdir)
    a = np_pkg.Network().run()
    b = cu_pkg.Network(device=cpu_device(cu_pkg, workdir)).run()
    same_records(a, b, np_pkg.MONITORS)


# ---------------------------------------------------------------------------------------
# save / load keep outside inputs; feed_events says what it drops
# ---------------------------------------------------------------------------------------

INPUT_SPEC = """
    import "lif.snn"

    network driven {
        input cam = events(width = 2, height = 2)
        population cells = LIF(4)
        connect cam -> cells { one_to_one; on_pre: I_syn_post += 2 nA }
        monitor spikes of cells, cam
        monitor v of cells
    }

    simulate driven { dt = 0.1 ms; steps = 400; seed = 1 }
"""

TABLE = np.outer(np.linspace(1.0, 1.5, 400), [1.6e-9, 2e-9, 2.5e-9, 3e-9])


@pytest.mark.parametrize("value", [pytest.param(3e-9, id="number"), pytest.param(TABLE[0], id="per-neuron"),
                                   pytest.param(TABLE, id="table")])
def test_save_and_load_keep_set_input(value, workdir, tmp_path):
    np_pkg, _ = packages("driven", INPUT_SPEC, workdir)
    whole = np_pkg.Network()
    whole.set_input("cells.I_ext", value)
    whole.run()
    first = np_pkg.Network()
    first.set_input("cells.I_ext", value)
    first.run(steps=150)
    first.save(tmp_path / "half.npz")
    second = np_pkg.Network.load(tmp_path / "half.npz")
    second.run(steps=250)
    assert len(whole.spikes("cells")[0]) >= 4
    same_records(whole, second, np_pkg.MONITORS)


def test_save_says_a_function_input_is_not_saved(workdir, tmp_path):
    np_pkg, _ = packages("driven", INPUT_SPEC, workdir)
    net = np_pkg.Network()
    net.set_input("cells.I_ext", lambda step: 2e-9)
    net.run(steps=10)
    with pytest.warns(UserWarning, match=r"cells\.I_ext.*function.*not saved"):
        net.save(tmp_path / "x.npz")
    assert np_pkg.Network.load(tmp_path / "x.npz").inputs == {}


@requires_gxx
def test_cupy_save_and_load_keep_set_input(workdir, tmp_path):
    np_pkg, cu_pkg = packages("driven", INPUT_SPEC, workdir)
    device = cpu_device(cu_pkg, workdir)
    whole = cu_pkg.Network(device=device)
    whole.set_input("cells.I_ext", TABLE)
    whole.run()
    first = cu_pkg.Network(device=device)
    first.set_input("cells.I_ext", TABLE)
    first.run(steps=150)
    first.save(tmp_path / "half.npz")
    second = cu_pkg.Network.load(tmp_path / "half.npz", device=device).run(steps=250)
    same_records(whole, second, np_pkg.MONITORS)


@pytest.mark.parametrize("target", ["numpy", pytest.param("cupy", marks=requires_gxx)])
def test_feed_events_says_how_many_it_drops(target, workdir):
    np_pkg, cu_pkg = packages("driven", INPUT_SPEC, workdir)
    net = np_pkg.Network() if target == "numpy" else cu_pkg.Network(device=cpu_device(cu_pkg, workdir))
    net.run(steps=100)  # now at step 100, t = 10 ms
    with pytest.warns(UserWarning, match=r"2 of 3 events .*before step 100"):
        net.feed_events("cam", x=[0, 1, 1], y=[0, 0, 1], t=[5e-3, 9.94e-3, 12e-3], polarity=[0, 0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.feed_events("cam", x=[0], y=[1], t=[9.96e-3], polarity=[0])  # rounds to step 100: kept
    net.run(steps=100)
    t, i = net.spikes("cam")
    np.testing.assert_array_equal(np.rint(t / net.dt), [100, 120])
    np.testing.assert_array_equal(i, [2, 3])


# ---------------------------------------------------------------------------------------
# NaN and overflow within a chunk
# ---------------------------------------------------------------------------------------

BOOM_SPEC = """
    # v squares itself every step: neuron 1 (from 1e5) overflows to inf in step 5, the others in
    # step 9; inf spikes and is reset to 2, so that every chunk ends with finite values.
    neuron Boom {
        state { v = 2 }
        update { v = v * v }
        spike when v > 1e300
        reset { v = 2 }
    }

    network boom {
        population cells = Boom(3) { v = 2 + 99998 * (i == 1) }
        monitor spikes of cells
    }

    simulate boom { steps = 2500; seed = 1 }
"""


@pytest.mark.parametrize("target", ["numpy", pytest.param("cupy", marks=requires_gxx)])
def test_a_value_that_overflows_and_is_reset_stops_the_run(target, workdir):
    np_pkg, cu_pkg = packages("boom", BOOM_SPEC, workdir)
    net = np_pkg.Network() if target == "numpy" else cu_pkg.Network(device=cpu_device(cu_pkg, workdir))
    with pytest.raises(RuntimeError, match=r"v of population cells became inf at step 5 \(.*\), neuron 1"), \
            warnings.catch_warnings():
        warnings.simplefilter("error")  # the message only: no RuntimeWarning of NumPy before it
        net.run()
    assert net.step == 0


@pytest.mark.parametrize("target", ["numpy", pytest.param("cupy", marks=requires_gxx)])
def test_an_outside_input_that_is_not_finite_is_refused(target, workdir):
    """Values are refused when they are given (a number, an array, a table), a function's
    at the step it returns one."""
    np_pkg, cu_pkg = packages("driven", INPUT_SPEC, workdir)
    net = np_pkg.Network() if target == "numpy" else cu_pkg.Network(device=cpu_device(cu_pkg, workdir))
    table = np.full((400, 4), 1e-9)
    table[123, 2] = np.inf
    with pytest.raises(ValueError, match=r"cells\.I_ext.*not finite"):
        net.set_input("cells.I_ext", table)
    net.set_input("cells.I_ext", lambda step: np.where(np.arange(4) == 2, np.nan if step == 77 else 1e-9, 0.0))
    with pytest.raises(ValueError, match=r"step 77.*not finite"):
        net.run()


# ---------------------------------------------------------------------------------------
# The kernels of these specs compile for the GPU
# ---------------------------------------------------------------------------------------

SPECS = {"empty_stdp": empty_spec("stdp"), "empty_weights": empty_spec("weights"), "params": PARAMS_SPEC,
         "scatter": SCATTER_SPEC, "merged": MERGED_SPEC, "boom": BOOM_SPEC, "driven": INPUT_SPEC}


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not installed")
@pytest.mark.parametrize("name", sorted(SPECS))
def test_kernels_compile_to_ptx(name, workdir):
    from cuda_shim.shim import compile_ptx

    _, cu_pkg = packages(name, SPECS[name], workdir)
    result = compile_ptx(Path(cu_pkg.__path__[0]) / "kernels.cu", workdir / f"{name}.ptx")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
