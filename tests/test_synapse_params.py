"""Per-synapse parameter arrays: ``Network(params={"<connection>.<parameter>": array})``.

A connection's parameter read per synapse (in its weight or an on_pre/on_post statement that
acts per synapse) takes an array of one value per synapse, in the order of the connection's
synapses (``state["<connection>_pre"]``, weights.npz). Checked against references:

* delivery: the same spikes as the same network written with those values folded into
  per-synapse weights (``w``), on every delivery path (dense, CSR with per-synapse delays,
  gathered, stacked, CSR with one delay);
* plasticity: where the synapses do not act on their targets, each synapse's weight evolves
  alone, so a run with an array gives each synapse the weight of the run with its one value;
* the CuPy target's kernels (compiled for the CPU through tests/cuda_shim) against the NumPy
  target, and the Lava target (SNNLANG_LAVA_PYTHON) against the NumPy target;
* refusals: a wrong length, NaN, another shape or type, a parameter that is one number (with
  the reason), a network constant, the c target.
"""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import build_package, import_package, write_spec
from snnlang.build import build
from snnlang.frontend import load
from snnlang.plan import make_plan

DELIVERY = """
import "lif.snn"
synapse Scaled {
    parameters { g = 1 nA }
    state { w = 0.5 }
    on_pre { I_syn_post += w * g }
}
network n {
    J = 0.4 nA
    K = 2 mV
    input src = poisson(40, rate = 80 Hz)
    population a = LIF(30) { I_ext = 1.2 nA }
    population b = LIF(20)
    connect src -> a using Scaled { p = 0.5 }                                  # dense, a weight per synapse
    connect a -> b using Scaled { p = 0.5; delay = uniform(1 ms, 3 ms) }       # CSR, per-synapse delays
    connect src[0:20] -> b { p = 0.3; on_pre: I_syn_post += J }                # stacked with the next one
    connect src[20:40] -> b { p = 0.3; on_pre: v_post += K }
    connect src -> a { p = 0.3; delay = 2 ms; on_pre: I_syn_post += J }        # CSR, one weight
    connect a -> a { p = 0.2; on_pre: I_syn_post += J }                        # gathered
    monitor spikes of a, b
}
simulate n { dt = 0.1 ms; duration = 300 ms; seed = 3 }
"""

#: The connections of DELIVERY whose one weight is a parameter, and that parameter.
ONE_WEIGHT = {"src_b": "J", "src_b_2": "K", "src_a_2": "J", "a_a": "J"}


def folded(spec: str) -> str:
    """DELIVERY with each one-weight connection given a weight per synapse (w, 1 by default)."""
    spec = spec.replace("network n {", "synapse W { state { w = 1 } }\nnetwork n {")
    for what in ("I_syn_post += J", "v_post += K"):
        spec = spec.replace(f"{{ p = 0.3; on_pre: {what} }}", f"using W {{ p = 0.3; on_pre: {what.replace('+= ', '+= w * ')} }}")
        spec = spec.replace(f"{{ p = 0.3; delay = 2 ms; on_pre: {what} }}",
                            f"using W {{ p = 0.3; delay = 2 ms; on_pre: {what.replace('+= ', '+= w * ')} }}")
        spec = spec.replace(f"{{ p = 0.2; on_pre: {what} }}", f"using W {{ p = 0.2; on_pre: {what.replace('+= ', '+= w * ')} }}")
    assert spec.count("using W") == 4
    return spec


def synapse_counts(net, module) -> dict[str, int]:
    return {c: int(np.size(net.state[key])) for c, key in module.network.SYNAPSE_KEYS.items()}


def factors(counts: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """A factor per synapse of each connection, far from 1 (so that spikes differ from the scalar run's)."""
    rng = np.random.default_rng(seed)
    return {c: rng.uniform(0.2, 3.0, n) for c, n in counts.items()}


def delivery_params(module, counts):
    """Every weight parameter of DELIVERY as an array: its default times a factor per synapse."""
    f = factors(counts)
    params = {"src_a.g": 1e-9 * f["src_a"], "a_b.g": 1e-9 * f["a_b"]}
    for c, name in ONE_WEIGHT.items():
        params[f"{c}.{name}"] = module.network.PARAMETERS[f"{c}.{name}"] * f[c]
    return params, f


@pytest.fixture(scope="module")
def delivery(tmp_path_factory):
    folder = tmp_path_factory.mktemp("delivery")
    return build_package(DELIVERY, folder, "arrays"), build_package(folded(DELIVERY), folder, "folded"), folder


def test_delivery_paths_are_all_covered(tmp_path):
    """The spec exercises every delivery of a linear connection (else the next test checks less)."""
    path = write_spec(DELIVERY, tmp_path, "spec")
    schedule = make_plan(load(path)).schedule
    strategies = {c: schedule.delivery(c).strategy for c in ("src_a", "a_b", "src_b", "src_a_2", "a_a")}
    assert strategies == {"src_a": "dense", "a_b": "csr", "src_b": "stacked", "src_a_2": "csr", "a_a": "gathered"}
    assert schedule.delivery("src_b").group == ("src_b", "src_b_2")


def test_per_synapse_arrays_give_the_spikes_of_folded_weights(delivery):
    arrays, written, _ = delivery
    assert set(arrays.network.PER_SYNAPSE) == {"src_a.g", "a_b.g", "src_b.J", "src_b_2.K", "src_a_2.J", "a_a.J"}
    counts = synapse_counts(arrays.Network(), arrays)
    params, f = delivery_params(arrays, counts)
    net = arrays.Network(params=params).run()

    reference = written.Network()
    for c, key in arrays.network.SYNAPSE_KEYS.items():  # the same synapses, in the same order
        assert np.array_equal(reference.state[key], net.state[key])
        assert np.array_equal(reference.state[key.replace("_post", "_pre")], net.state[key.replace("_post", "_pre")])
    reference.state["src_a_w"] = reference.state["src_a_w"] * f["src_a"]
    reference.state["a_b_w"] = reference.state["a_b_w"] * f["a_b"]
    for c in ONE_WEIGHT:
        reference.state[f"{c}_w"] = f[c]
    reference.run()

    scalar = arrays.Network().run()
    for pop in ("a", "b"):
        (t, i), (t_ref, i_ref) = net.spikes(pop), reference.spikes(pop)
        assert len(t) > 100
        np.testing.assert_array_equal(i, i_ref)
        np.testing.assert_allclose(t, t_ref)
        assert len(t) != len(scalar.spikes(pop)[0])  # the arrays change what happens


def test_one_value_for_every_synapse_is_the_scalar_run(delivery):
    """An array of one value repeated gives the run of that one number, and a scalar still works."""
    arrays, _, _ = delivery
    counts = synapse_counts(arrays.Network(), arrays)
    repeated = {"a_b.g": np.full(counts["a_b"], 2e-9), "a_a.J": np.full(counts["a_a"], 0.6e-9)}
    a = arrays.Network(params=repeated).run(steps=1500)
    b = arrays.Network(params={"a_b.g": 2e-9, "a_a.J": 0.6e-9}).run(steps=1500)
    for pop in ("a", "b"):
        np.testing.assert_array_equal(a.spikes(pop)[1], b.spikes(pop)[1])
        np.testing.assert_array_equal(a.spikes(pop)[0], b.spikes(pop)[0])


def test_set_params_and_save_load(delivery, tmp_path):
    arrays, _, _ = delivery
    net = arrays.Network()
    counts = synapse_counts(net, arrays)
    values = np.linspace(0.5e-9, 2e-9, counts["a_b"])
    net.set_params({"a_b.g": values})
    net.run(steps=500)
    net.save(tmp_path / "net.npz")
    again = arrays.Network.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(again.params["a_b.g"], values)
    again.run(steps=500)
    whole = arrays.Network(params={"a_b.g": values}).run(steps=1000)
    np.testing.assert_array_equal(again.spikes("b")[1], whole.spikes("b")[1])


# ---- plasticity: statements that read a per-synapse parameter ----------------------------

PLASTIC = """
import "stdp.snn"
neuron Tonic {
    parameters { tau = 10 ms; drive = 1.5 }
    state { v = 0; sink = 0 }
    equations { dv/dt = (drive - v) / tau }
    spike when v >= 1
    reset { v = 0 }
}
network n {
    input src = poisson(12, rate = 60 Hz)
    population cells = Tonic(5) { drive = 1.1 + 0.3 * i }
    # the weights go to sink, which nothing reads: every synapse learns alone
    connect src -> cells using STDP { all_to_all; delay = uniform(1 ms, 3 ms); A_plus = 0.02; A_minus = 0.021; on_pre: sink_post += w }
    monitor spikes of cells
}
simulate n { dt = 0.1 ms; duration = 2 s; seed = 7 }
"""

LEVELS = {"src_cells.A_plus": (0.005, 0.02, 0.05), "src_cells.A_minus": (0.004, 0.021, 0.06),
          "src_cells.w_max": (0.12, 0.3, 1.0)}


def test_plasticity_reads_the_value_of_each_synapse(tmp_path):
    package = build_package(PLASTIC, tmp_path, "plastic")
    assert set(package.network.PER_SYNAPSE) == set(LEVELS)
    assert "traces" in package.network.ONE_NUMBER["src_cells.tau_plus"]
    n = synapse_counts(package.Network(), package)["src_cells"]
    level = np.random.default_rng(3).integers(0, 3, size=(len(LEVELS), n))  # each parameter's level per synapse
    params = {k: np.asarray(values)[level[row]] for row, (k, values) in enumerate(LEVELS.items())}
    learned = package.Network(params=params).run().state["src_cells_w"]
    # the reference: one run per combination of levels that some synapse has, with those numbers
    expected = np.full(n, np.nan)
    for combo in {tuple(col) for col in level.T}:
        scalar = {k: values[combo[row]] for row, (k, values) in enumerate(LEVELS.items())}
        w = package.Network(params=scalar).run().state["src_cells_w"]
        chosen = (level.T == combo).all(axis=1)
        expected[chosen] = w[chosen]
    assert not np.isnan(expected).any()
    np.testing.assert_array_equal(learned, expected)
    assert np.unique(np.round(learned, 9)).size > 10  # the synapses learned different weights


# ---- the CuPy target's kernels (on the CPU) ----------------------------------------------

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the kernels for the CPU")


@requires_gxx
def test_cupy_kernels_read_per_synapse_values(tmp_path):
    from cuda_shim.shim import ShimDevice

    spec = write_spec(DELIVERY.replace("    monitor spikes", "    connect src -> b using STDP { p = 0.2; "
                                       "on_pre: I_syn_post += w * nA }\n    monitor spikes").replace(
        'import "lif.snn"', 'import "lif.snn"\nimport "stdp.snn"'), tmp_path / "specs", "spec")
    build(spec, tmp_path / "np", "numpy")
    build(spec, tmp_path / "cu", "cupy")
    np_pkg, cu_pkg = import_package(tmp_path / "np"), import_package(tmp_path / "cu")
    kernels = Path(cu_pkg.__path__[0]) / "kernels.cu"
    assert "d_src_b_3_w_max_each[syn * src_b_3_w_max_stride]" in kernels.read_text()
    counts = synapse_counts(np_pkg.Network(), np_pkg)
    params, _ = delivery_params(np_pkg, counts)
    rng = np.random.default_rng(5)
    params["src_b_3.w_max"] = rng.uniform(0.1, 1.0, counts["src_b_3"])
    params["src_b_3.A_plus"] = rng.uniform(0.005, 0.05, counts["src_b_3"])
    a = np_pkg.Network(params=params).run(steps=2000)
    b = cu_pkg.Network(params=params, device=ShimDevice(kernels, tmp_path / "shim", serial=True)).run(steps=2000)
    for pop in ("a", "b"):
        (ta, ia), (tb, ib) = a.spikes(pop), b.spikes(pop)
        assert len(ta) > 50
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ta, tb)
    for key in ("src_b_3_w", "a_v", "b_v"):
        np.testing.assert_allclose(b.get(key), a.state[key], rtol=1e-9, atol=1e-15)
    assert a.synops == b.synops
    with pytest.raises(ValueError, match=r"src_b_3.w_max takes one value per synapse of connection src_b_3, which has "
                                         rf"{counts['src_b_3']} synapses"):
        cu_pkg.Network(params={"src_b_3.w_max": np.ones(3)}, device=ShimDevice(kernels, tmp_path / "shim", serial=True))


# ---- the Lava target -----------------------------------------------------------------------

LAVA = """
import "lif.snn"
synapse Scaled {
    parameters { g = 1 nA }
    state { w = 0.5 }
    on_pre { I_syn_post += w * g }
}
network n {
    J = 0.5 nA
    input src = poisson(40, rate = 80 Hz)
    population a = LIF(30) { I_ext = 1.2 nA }
    population b = LIF(20)
    connect src -> a using Scaled { p = 0.5 }
    connect a -> b using Scaled { p = 0.5; delay = uniform(1 ms, 3 ms) }
    connect src -> b { p = 0.3; on_pre: I_syn_post += J }
    monitor spikes of a, b
}
simulate n { dt = 0.1 ms; duration = 100 ms; seed = 3 }
"""


@pytest.mark.lava
def test_lava_takes_per_synapse_arrays_of_static_weights(tmp_path):
    from test_lava import build_lava, run_lava

    package = build_lava(LAVA, tmp_path, "lava_synapses")
    numpy_package = build_package(LAVA, tmp_path, "numpy_synapses")
    counts = synapse_counts(numpy_package.Network(), numpy_package)
    f = factors(counts, seed=2)
    params = {"src_a.g": 1e-9 * f["src_a"], "a_b.g": 1e-9 * f["a_b"], "src_b.J": 0.5e-9 * f["src_b"]}
    np.savez(tmp_path / "params.npz", **params)
    run_lava("run_with_params.py", package, 1000, tmp_path / "params.npz", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as data:
        found = dict(data)
    assert "error" not in found, found.get("error")
    net = numpy_package.Network(params=params).run()
    for pop in ("a", "b"):
        t, i = net.spikes(pop)
        assert len(t) > 50
        assert sorted(zip(np.rint(found[f"spikes/{pop}/t"] / 1e-4).astype(int), found[f"spikes/{pop}/i"])) == \
            sorted(zip(np.rint(t / 1e-4).astype(int), i))
    np.savez(tmp_path / "bad.npz", **{"a_b.g": np.ones(3)})
    run_lava("run_with_params.py", package, 10, tmp_path / "bad.npz", tmp_path / "bad_out.npz")
    with np.load(tmp_path / "bad_out.npz") as data:
        assert f"connection a_b, which has {counts['a_b']} synapses" in str(data["error"])


def test_lava_keeps_a_learning_rule_parameter_one_number(tmp_path):
    """A plastic connection's parameters are Loihi's learning-rule constants: one number, said why."""
    from test_lava import build_lava

    spec = LAVA.replace('import "lif.snn"', 'import "lif.snn"\nimport "stdp.snn"').replace(
        "    monitor spikes", "    connect src -> b using STDP { p = 0.2; on_pre: I_syn_post += w * nA }\n    monitor spikes")
    package = build_lava(spec, tmp_path, "lava_plastic")
    tree = ast.parse((package / "network.py").read_text())
    tables = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
              and node.targets[0].id in ("PER_SYNAPSE", "ONE_NUMBER")}
    assert tables["PER_SYNAPSE"] == {"src_a.g": "src_a", "a_b.g": "a_b", "src_b.J": "src_b"}
    assert "learning rule" in tables["ONE_NUMBER"]["src_b_2.w_max"]


# ---- refusals ------------------------------------------------------------------------------

def test_per_synapse_arrays_are_checked(delivery):
    arrays, _, _ = delivery
    net = arrays.Network()
    n = synapse_counts(net, arrays)["a_b"]
    with pytest.raises(ValueError, match=rf"a_b.g takes one value per synapse of connection a_b, which has {n} synapses "
                                         rf".*not {n - 1} values"):
        arrays.Network(params={"a_b.g": np.ones(n - 1)})
    before = net.params["a_b.g"]
    with pytest.raises(ValueError, match=rf"which has {n} synapses"):
        net.set_params({"a_b.g": np.ones(n + 1)})
    assert net.params["a_b.g"] == before  # a refused change changes nothing
    with pytest.raises(ValueError, match=r"finite numbers \(synapse 2 is not\)"):
        net.set_params({"a_b.g": np.array([1.0, 1.0, np.nan] + [1.0] * (n - 3))})
    with pytest.raises(ValueError, match=r"one-dimensional array.*not shape \(2, 3\)"):
        net.set_params({"a_b.g": np.ones((2, 3))})
    with pytest.raises(ValueError, match="takes real numbers"):
        net.set_params({"a_b.g": np.array(["a"] * n)})
    with pytest.raises(ValueError, match="n.J is one number in this package, not an array: a network constant.*"
                                         r"\(src_b.J, src_a_2.J, a_a.J\) take one value per synapse"):
        net.set_params({"J": np.ones(n)})
    with pytest.raises(ValueError, match="a.tau_m is one number in this package"):  # (per neuron: unchanged)
        net.set_params({"a.tau_m": np.ones(30)})


def test_a_parameter_read_once_per_spike_or_in_equations_stays_one_number(tmp_path):
    spec = """
    import "lif.snn"
    synapse Kinetic {
        parameters { tau_d = 5 ms; g_max = 1 nA; step = 1; unused = 2 }
        state { w = 0.5; g = 0 }
        pre { dx/dt = -x / tau_d }
        equations { dg/dt = -g / tau_d }
        on_pre { x += step; g += 1; I_syn_post += w * g_max }
    }
    network n {
        input src = poisson(10, rate = 50 Hz)
        population a = LIF(5)
        connect src -> a using Kinetic { p = 0.5 }
        monitor spikes of a
    }
    simulate n { dt = 0.1 ms; duration = 10 ms }
    """
    package = build_package(spec, tmp_path, "kinetic")
    assert package.network.PER_SYNAPSE == {"src_a.g_max": "src_a"}
    why = package.network.ONE_NUMBER
    assert "traces" in why["src_a.tau_d"]
    assert "once per spike" in why["src_a.step"]
    assert "no weight or on_pre/on_post statement" in why["src_a.unused"]
    with pytest.raises(ValueError, match="src_a.step is one number in this package, not an array: on_pre reads it once "
                                         "per spike"):
        package.Network(params={"src_a.step": np.ones(3)})
    net = package.Network()
    n = synapse_counts(net, package)["src_a"]
    net.set_params({"src_a.g_max": np.full(n, 2e-9)})  # and the parameter read per synapse takes an array
    net.run()


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="the c target needs a C compiler")
def test_the_c_target_refuses_per_synapse_arrays(tmp_path):
    spec = write_spec(LAVA, tmp_path / "specs", "spec")
    build(spec, tmp_path / "c", "c")
    package = import_package(tmp_path / "c")
    assert package.network.PER_SYNAPSE == {}
    with pytest.raises(ValueError, match="per-synapse arrays of a_b.g are not passed to the c target yet; use --target numpy"):
        package.Network(params={"a_b.g": np.ones(5)})
    assert len(package.Network(params={"a_b.g": 2e-9}).run(steps=200).spikes("a")[0]) > 0  # one number still works
