"""Weight and synapse-state monitors (issue 14, "Out"): ``monitor w of src_out every 5 ms``.

* what a synapse monitor records is the state itself: each sample equals the weights that
  ``Network.state`` holds after running to that step (a second network run step by step), the
  last sample the final weights;
* its columns are synapses in the storage order, with their (pre, post) neurons: those of the
  connectivity (all_to_all: every pair once; ``if i != j``: no self-synapse), those of
  weights.npz;
* the period, selections (a union, clipped at the last synapse), state.npz of ``snnlang run``,
  save/load, the memory estimate, the CuPy kernels (on the CPU shim) against NumPy, the plot;
* the located errors (an unknown variable, one that is not per-synapse state, spikes of a
  connection) and the Lava target's located refusal.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from snnlang.build import build
from snnlang.cli import main
from snnlang.driver import plan as plan_of
from snnlang.frontend import analyse
from snnlang.frontend.diagnostics import SpecError

from helpers import import_package, write_spec

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the CuPy kernels for the CPU")

EVERY = 5  # steps (dt = 1 ms)
STEPS = 101  # the last step, 100, is a sample

LAYER = f"""
import "steplif.snn"
import "stdp.snn"

network layer {{
    input src = poisson(50, rate = 40 Hz)
    population out = StepLIF(5)
    connect src -> out using BriefSTDP {{ on_pre: I_post += w }}
    connect out -> out {{ if i != j; w = 0.1; on_pre: I_post += w }}
    monitor spikes of out
    MONITORS
}}
simulate layer {{ dt = 1 ms; duration = {STEPS} ms; seed = 3 }}
"""


def layer(monitors: str) -> str:
    return LAYER.replace("MONITORS", monitors)


def package(tmp_path: Path, text: str, name: str = "spec", target: str = "numpy"):
    spec = write_spec(text, tmp_path / "specs", name)
    out = tmp_path / f"{name}_{target}"
    build(spec, out, target)
    return import_package(out), spec


def keys(spec: Path, connection: str, variable: str = "w") -> tuple[str, str, str]:
    """The state keys of a connection's variable and of its synapses' pre and post neurons."""
    plan = plan_of(spec)
    c = next(c for c in plan.connections if c.name == connection)
    return c.local[variable], plan.symbols(c.name, "pre"), plan.symbols(c.name, "post")


def errors_of(tmp_path: Path, text: str) -> list[str]:
    _, diags = analyse(write_spec(text, tmp_path, "spec"))
    return [line[line.index("spec.snn:"):] for line in diags.render().splitlines() if ": error: " in line]


# ---- what is recorded ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stdp(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stdp")
    pkg, spec = package(folder, layer("monitor w of src_out every 5 ms\n    monitor w of out_out[0:3]"))
    net = pkg.Network()
    net.run()
    return pkg, spec, net


def test_each_sample_is_the_state_after_its_step(stdp):
    pkg, spec, net = stdp
    w, _, _ = keys(spec, "src_out")
    times, values = net.trace("src_out", "w")
    assert values.shape == (len(range(0, STEPS, EVERY)), 50 * 5)
    assert np.ptp(values, axis=0).max() > 1e-3, "STDP changed no weight: the comparison would prove nothing"
    # by hand: another network run to the end of each sampled step, its state read there
    other = pkg.Network()
    for row, step in enumerate(range(0, STEPS, EVERY)):
        other.run(steps=step + 1 - other.step)
        assert other.step == step + 1
        np.testing.assert_array_equal(values[row], other.state[w], err_msg=f"sample of step {step}")
    np.testing.assert_array_equal(values[-1], net.state[w])  # the last sample: the final weights
    assert not np.array_equal(values[0], values[-1])


def test_the_period_and_the_times(stdp):
    pkg, _, net = stdp
    times, _ = net.trace("src_out", "w")
    np.testing.assert_allclose(times, np.arange(0, STEPS, EVERY) * net.dt)
    times, values = net.trace("out_out", "w")  # without every: each step
    np.testing.assert_allclose(times, np.arange(STEPS) * net.dt)
    assert values.shape == (STEPS, 3)
    np.testing.assert_array_equal(values, 0.1)  # a static weight stays


def test_the_columns_are_the_synapses_of_the_connectivity(stdp):
    pkg, spec, net = stdp
    _, pre_key, post_key = keys(spec, "src_out")
    pre, post = net.synapses("src_out", "w")
    np.testing.assert_array_equal(pre, net.state[pre_key])  # every synapse, in storage order
    np.testing.assert_array_equal(post, net.state[post_key])
    assert sorted(zip(pre.tolist(), post.tolist())) == [(i, j) for i in range(50) for j in range(5)]  # all_to_all
    assert np.all(np.diff(pre) >= 0)  # one delay group: by presynaptic neuron
    pre, post = net.synapses("out_out", "w")  # the first three synapses of `if i != j`
    _, pre_key, post_key = keys(spec, "out_out")
    np.testing.assert_array_equal(pre, net.state[pre_key][:3])
    np.testing.assert_array_equal(post, net.state[post_key][:3])
    assert np.all(pre != post)
    with pytest.raises(KeyError, match="no synapse monitor"):
        net.synapses("src_out", "x")


def test_selections_are_a_union_of_synapse_indices_clipped_at_the_last(tmp_path, stdp):
    _, _, whole = stdp
    pkg, _ = package(tmp_path, layer("monitor w of src_out[10:30:7], src_out[0:2], src_out[240:9999] every 5 ms"))
    net = pkg.Network()
    net.run()
    chosen = np.array([0, 1, 10, 17, 24] + list(range(240, 250)))
    _, all_values = whole.trace("src_out", "w")
    _, values = net.trace("src_out", "w")  # the same seed: the same connectivity and dynamics
    np.testing.assert_array_equal(values, all_values[:, chosen])
    pre, post = net.synapses("src_out", "w")
    np.testing.assert_array_equal(pre, whole.synapses("src_out", "w")[0][chosen])
    np.testing.assert_array_equal(post, whole.synapses("src_out", "w")[1][chosen])


def test_save_and_load_keep_the_recording(tmp_path, stdp):
    pkg, _, whole = stdp
    first = pkg.Network()
    first.run(steps=43)
    first.save(tmp_path / "half.npz")
    later = pkg.Network.load(tmp_path / "half.npz")
    later.run(steps=STEPS - 43)
    for connection in ("src_out", "out_out"):
        t, values = later.trace(connection, "w")
        t_ref, ref = whole.trace(connection, "w")
        np.testing.assert_array_equal(t, t_ref)
        np.testing.assert_array_equal(values, ref)
        for a, b in zip(later.synapses(connection, "w"), whole.synapses(connection, "w")):
            np.testing.assert_array_equal(a, b)


def test_snnlang_run_writes_them_to_state_npz(tmp_path, monkeypatch, stdp):
    _, _, net = stdp
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    spec = write_spec(layer("monitor w of src_out every 5 ms\n    monitor w of out_out[0:3]"), tmp_path, "run")
    assert main(["run", str(spec), "--out", str(tmp_path / "out"), "--save-weights", "--no-plots"]) == 0
    with np.load(tmp_path / "out" / "state.npz") as data:
        state = dict(data)
    with np.load(tmp_path / "out" / "weights.npz") as data:
        saved = dict(data)
    times, values = net.trace("src_out", "w")
    np.testing.assert_array_equal(state["src_out_w"], values)
    np.testing.assert_allclose(state["src_out_w_t"], times)
    np.testing.assert_array_equal(state["src_out_w"][-1], saved["src_out_w"])  # the last sample: the final weights
    np.testing.assert_array_equal(state["src_out_w_pre"], saved["index:src_out.pre"])
    np.testing.assert_array_equal(state["src_out_w_post"], saved["index:src_out.post"])
    assert state["out_out_w"].shape == (STEPS, 3)
    np.testing.assert_array_equal(state["out_out_w_pre"], saved["index:out_out.pre"][:3])
    assert state["src_out_w_pre"].dtype == np.int64


def test_the_plot_of_a_run(tmp_path, stdp):
    plot = pytest.importorskip("snnlang.plot")
    pytest.importorskip("matplotlib")
    _, _, net = stdp
    times, values = net.trace("src_out", "w")
    fig = plot.weights({"src_out_w": values, "src_out_w_t": times}, "src_out")
    hist, line = fig.axes[:2]
    assert sum(p.get_height() for p in hist.patches) == values.shape[1]  # every synapse's last value
    np.testing.assert_allclose(line.lines[0].get_ydata(), values.mean(axis=1))
    assert plot.weights({"src_out_w": values, "src_out_w_t": times}, "out_out") is None
    plot.close(fig)


# ---- the memory estimate ---------------------------------------------------------------------

def test_the_memory_estimate_counts_samples_and_synapses(tmp_path):
    from snnlang.plan.memory import estimate

    spec = write_spec(layer("monitor w of src_out every 5 ms\n    monitor w of src_out[0:10]"), tmp_path, "mem")
    plan = plan_of(spec)
    found = {(p.name, p.count): p for p in estimate(plan, 1000).parts if p.kind == "monitor" and "src_out" in p.name}
    every, some = found[("w of src_out", 250)], found[("w of src_out", 10)]
    assert every.per_step * 5 == pytest.approx(3 * 250 * 8 + 168, abs=5)  # a sample per 5 steps
    assert some.per_step == pytest.approx(3 * 10 * 8 + 168, abs=1)
    longer = {(p.name, p.count): p for p in estimate(plan, 2000).parts if p.kind == "monitor"}
    assert longer[("w of src_out", 250)].bytes - every.bytes == pytest.approx(200 * (3 * 250 * 8 + 168), rel=0.01)


def test_a_synapse_monitor_over_the_limit_is_refused_at_its_line(tmp_path, monkeypatch):
    text = layer("monitor w of src_out").replace(f"duration = {STEPS} ms", "duration = 1000 s")
    monkeypatch.setenv("SNNLANG_MAX_MEMORY", "1GiB")
    spec = write_spec(text, tmp_path, "big")
    with pytest.raises(SpecError) as error:
        plan_of(spec)
    rendered = error.value.diagnostics.render()
    line = next(k for k, s in enumerate(text.lstrip("\n").splitlines(), 1) if "monitor w of src_out" in s)
    assert f"big.snn:{line}:5: error: network 'layer' needs about" in rendered, rendered
    assert "monitor w of src_out alone needs" in rendered


# ---- CuPy on the CPU shim ---------------------------------------------------------------------

@requires_gxx
def test_cupy_records_what_numpy_records(tmp_path, stdp):
    from cuda_shim.shim import ShimDevice

    _, _, reference = stdp
    pkg, _ = package(tmp_path, layer("monitor w of src_out every 5 ms\n    monitor w of out_out[0:3]"), target="cupy")
    net = pkg.Network(device=ShimDevice(Path(pkg.__path__[0]) / "kernels.cu", tmp_path / "shim", serial=True))
    net.run()
    for connection in ("src_out", "out_out"):
        t, values = net.trace(connection, "w")
        t_ref, ref = reference.trace(connection, "w")
        np.testing.assert_array_equal(t, t_ref)
        np.testing.assert_allclose(values, ref, rtol=1e-12, atol=1e-15)
        for a, b in zip(net.synapses(connection, "w"), reference.synapses(connection, "w")):
            np.testing.assert_array_equal(a, b)
    net.save(tmp_path / "cupy.npz")  # the records and the selection survive on the device target too
    again = pkg.Network.load(tmp_path / "cupy.npz", device=net.device)
    np.testing.assert_array_equal(again.trace("src_out", "w")[1], net.trace("src_out", "w")[1])
    np.testing.assert_array_equal(again.synapses("src_out", "w")[0], reference.synapses("src_out", "w")[0])


# ---- errors and refusals -------------------------------------------------------------------------

def test_located_errors(tmp_path):
    text = layer("""monitor q of src_out
    monitor tau_plus, x of src_out
    monitor y of src_out every 5 ms
    monitor spikes of src_out
    monitor w of src_ot
    monitor w of src_out[4:4]""")
    errors = errors_of(tmp_path, text)
    lines = text.lstrip("\n").splitlines()

    def at(needle: str, column_of: str | None = None) -> str:
        line = next(k for k, s in enumerate(lines, 1) if needle in s)
        return f"spec.snn:{line}:{lines[line - 1].index(column_of or 'monitor') + 1}: error: "

    assert errors == [
        at("monitor q") + "connection 'src_out' (synapse 'BriefSTDP') has no variable 'q'",
        at("monitor tau_plus") + "'tau_plus' of connection 'src_out' is a parameter (one value for the connection, "
                                 "in Network.params), not per-synapse state; a synapse monitor records state variables (w)",
        at("monitor tau_plus") + "'x' of connection 'src_out' is a presynaptic trace (one value per presynaptic "
                                 "neuron), not per-synapse state; a synapse monitor records state variables (w)",
        at("monitor y") + "'y' of connection 'src_out' is a postsynaptic trace (one value per postsynaptic neuron), "
                          "not per-synapse state; a synapse monitor records state variables (w)",
        at("monitor spikes of src_out", "src_out") + "'src_out' is a connection: it has no spikes (monitor a per-synapse "
                                          "variable: monitor w of src_out)",
        at("monitor w of src_ot", "src_ot") + "unknown population 'src_ot' (did you mean 'src_out'?)",
        at("src_out[4:4]", "src_out") + "the slice 4:4 selects no synapse",
    ]


def test_the_lava_target_refuses_it_at_the_monitor(tmp_path):
    text = layer("monitor w of src_out every 5 ms")
    spec = write_spec(text, tmp_path / "specs", "lava")
    with pytest.raises(SpecError) as error:
        build(spec, tmp_path / "lava_pkg", "lava")
    line = next(k for k, s in enumerate(text.lstrip("\n").splitlines(), 1) if "monitor w of src_out" in s)
    rendered = error.value.diagnostics.render()
    assert f"lava.snn:{line}:5: error: target lava: monitor w of src_out: the Lava target does not record" in rendered


def test_the_c_target_refuses_it_and_mpi_keeps_it_in_one_process(tmp_path):
    from snnlang.backends.numpy import NumpyEmitter

    text = layer("monitor w of src_out every 5 ms")
    spec = write_spec(text, tmp_path / "specs", "native")
    with pytest.raises(SpecError) as error:
        build(spec, tmp_path / "c_pkg", "c")
    assert "target c: monitor w of src_out: the c target does not record synapse state yet" in \
        error.value.diagnostics.render()
    assert not (tmp_path / "c_pkg").exists()
    why = NumpyEmitter(plan_of(spec)).partition_problems()
    assert "monitor w of src_out: a synapse monitor runs in one process" in why


def test_the_example_of_the_language_docs(tmp_path):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
    start = docs.index("network plastic {")
    text = docs[docs.rindex("```snn", 0, start) + len("```snn"):docs.index("```", start)]
    pkg, _ = package(tmp_path, text, "plastic")
    net = pkg.Network()
    net.run(steps=2001)
    times, values = net.trace("drive_exc", "w")  # the first monitor of w: every synapse, every 100 ms
    n = len(net.synapses("drive_exc", "w")[0])
    assert values.shape == (3, n) and n > 900  # p = 0.5 of 2000 pairs
    chosen = np.r_[0:50, 900:n]  # drive_exc[0:50], drive_exc[900:]: to the last synapse
    selected = dict(net.records[1])  # the second monitor: each step
    assert len(selected) == 2001
    for row, step in enumerate((0, 1000, 2000)):
        np.testing.assert_array_equal(selected[step][0], values[row, chosen])
