"""Network constants (``J = 0.1 mV`` in a network block): the same network written with
constants and with literals gives the same spikes; a run-time constant changes what it is used
in, as the literal network built with the new value; a constant that decides structure is
refused at run time with the reason; located errors; names from the symbol table."""
from __future__ import annotations

import numpy as np
import pytest

from snnlang.cli import main
from snnlang.frontend import load
from snnlang.plan import make_plan

from helpers import build_package, write_spec

# Every place a constant may appear: a size, a probability, a delay, an input's arguments,
# a population's parameter (derived), an event's weight, a synapse state (a weight per synapse),
# a synapse parameter of a named model, and a constant computed from others (K).
WITH_CONSTANTS = """
import "lif.snn"
synapse Kick {{ parameters {{ scale = 1 }}; state {{ w = 0 }}; on_pre: v_post += scale * w * mV }}
network brunel {{
    J = {J}
    g = 4
    NE = 40
    K = -g * J
    tau = 15 ms
    D = 1.5 ms
    rate = 900 Hz
    population exc = LIF(NE) {{ v = uniform(-65 mV, -50 mV); tau_m = tau }}
    population inh = LIF(NE / 4) {{ tau_m = 2 * tau }}
    input drive = poisson(NE, rate = rate)
    connect exc -> exc, inh {{ p = 0.2; delay = D; on_pre: v_post += J }}
    connect inh -> exc using Kick {{ p = 0.2; w = K / mV; scale = g / 4 }}
    connect drive -> exc {{ one_to_one; on_pre: v_post += 5 * J }}
    monitor spikes of exc, inh
}}
simulate brunel {{ dt = 0.1 ms; duration = 200 ms; seed = 3 }}
"""

WITH_LITERALS = """
import "lif.snn"
synapse Kick {{ parameters {{ scale = 1 }}; state {{ w = 0 }}; on_pre: v_post += scale * w * mV }}
network brunel {{
    population exc = LIF(40) {{ v = uniform(-65 mV, -50 mV); tau_m = 15 ms }}
    population inh = LIF(10) {{ tau_m = 30 ms }}
    input drive = poisson(40, rate = 900 Hz)
    connect exc -> exc, inh {{ p = 0.2; delay = 1.5 ms; on_pre: v_post += {J} }}
    connect inh -> exc using Kick {{ p = 0.2; w = {K}; scale = 1 }}
    connect drive -> exc {{ one_to_one; on_pre: v_post += {J5} }}
    monitor spikes of exc, inh
}}
simulate brunel {{ dt = 0.1 ms; duration = 200 ms; seed = 3 }}
"""


def _spikes(net):
    return {pop: net.spikes(pop) for pop in ("exc", "inh")}


def _same(a, b):
    return all(np.array_equal(a[p][0], b[p][0]) and np.array_equal(a[p][1], b[p][1]) for p in a)


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("constants")
    const = build_package(WITH_CONSTANTS.format(J="0.5 mV"), folder, "const")
    literal = build_package(WITH_LITERALS.format(J="0.5 mV", K="-2", J5="2.5 mV"), folder, "literal")
    stronger = build_package(WITH_LITERALS.format(J="0.7 mV", K="-2.8", J5="3.5 mV"), folder, "stronger")
    return const, literal, stronger


def test_constants_give_the_spikes_of_literals(packages):
    const, literal, _ = packages
    a, b = _spikes(const.Network().run()), _spikes(literal.Network().run())
    assert len(a["exc"][0]) > 100 and len(a["inh"][0]) > 10  # the network is active
    assert _same(a, b)


def test_setting_a_constant_changes_what_it_is_used_in(packages):
    const, literal, stronger = packages
    changed = _spikes(const.Network(params={"J": 0.7e-3}).run())
    assert _same(changed, _spikes(stronger.Network().run()))  # J, and K = -g * J, follow
    assert not _same(changed, _spikes(literal.Network().run()))
    net = const.Network(params={"tau": 0.01})  # a derived neuron parameter
    assert net.params["exc.tau_m"] == pytest.approx(0.01) and net.params["inh.tau_m"] == pytest.approx(0.02)
    net.set_params({"g": 8})  # the synapse parameter scale = g / 4, and K = -g * J
    assert net.params["inh_exc.scale"] == pytest.approx(2.0)
    assert net.params["brunel.K"] == pytest.approx(-8 * 0.5e-3)


def test_a_structural_constant_is_refused_with_the_reason(packages):
    const, _, _ = packages
    assert const.network.FIXED["brunel.NE"] == "the size of population 'exc'"
    assert "delay of connection exc -> exc" in const.network.FIXED["brunel.D"]
    assert "argument of input 'drive'" in const.network.FIXED["brunel.rate"]
    with pytest.raises(ValueError, match="NE is fixed when the package is built .*size of population 'exc'"):
        const.Network(params={"NE": 41})
    with pytest.raises(ValueError, match="delay of connection"):
        const.Network(params={"D": 2e-3})
    const.Network(params={"NE": 40})  # its own value is no change


def test_a_time_constant_derived_from_a_constant_must_stay_positive(packages):
    const, _, _ = packages
    with pytest.raises(ValueError, match="exc.tau_m .* must be positive"):
        const.Network(params={"tau": -0.01})


def test_cli_set_of_constants(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    spec = write_spec(WITH_CONSTANTS.format(J="0.5 mV"), tmp_path)
    assert main(["run", str(spec), "-o", str(tmp_path / "a"), "--no-plots", "--set", "J=0.7mV"]) == 0
    assert main(["run", str(spec), "-o", str(tmp_path / "b"), "--no-plots", "--set", "J=2V/s"]) != 0
    assert "V" in capsys.readouterr().err
    assert main(["run", str(spec), "-o", str(tmp_path / "c"), "--no-plots", "--set", "NE=50"]) != 0
    assert "size of population 'exc'" in capsys.readouterr().err
    with np.load(tmp_path / "a" / "spikes.npz") as run:
        stronger = build_package(WITH_LITERALS.format(J="0.7 mV", K="-2.8", J5="3.5 mV"), tmp_path, "stronger")
        expected = stronger.Network().run().spikes("exc")
        assert np.array_equal(run["exc_i"], expected[1]) and np.allclose(run["exc_t"], expected[0])


def test_constant_errors_are_located(specs):
    found = specs.analyse("""
        import "lif.snn"
        synapse S { state { w = 1 }; on_pre: v_post += w * wj }
        network n {
            wj = 0.1 mV
            tau_m = 3 ms
            exc = 2
            X = v + 1
            Y = uniform(0, 1)
            wj = 4
            t = 1 ms
            population exc = LIF(10) { tau_m = 20 ms * wj }
            connect exc -> exc using S { p = 0.1 }
            connect exc -> exc { on_pre: wj = 2 mV }
        }
    """)
    errors = found.errors
    expected = [
        ("spec.snn:2:52", "undefined name 'wj'"),  # a model's own text does not see the network's constants
        ("spec.snn:5:5", "constant 'tau_m' has the name of a parameter of neuron 'LIF'"),
        ("spec.snn:6:5", "constant 'exc' has the name of population 'exc'"),
        ("spec.snn:7:9", "'v': a network constant is a number with units"),
        ("spec.snn:8:9", "constant 'Y' must be a number with units"),
        ("spec.snn:9:5", "duplicate definition of constant 'wj'"),
        ("spec.snn:10:5", "'t' is a built-in name"),
        ("spec.snn:11:40", "dimension mismatch: 'tau_m' is in s"),
        ("spec.snn:13:34", "cannot assign to constant 'wj'"),
    ]
    for place, message in expected:
        assert any(e.startswith(place) and message in e for e in errors), (place, message, errors)


def test_constants_in_sizes_must_be_whole_numbers(specs):
    found = specs.analyse("""
        import "lif.snn"
        network n { N_E = 2.5; population a = LIF(N_E) }
    """)
    assert any(e.startswith("spec.snn:2:43") and "whole number" in e for e in found.errors), found.errors


def test_the_symbol_table_names_the_copies(tmp_path):
    spec = write_spec("""
        import "lif.snn"
        network n {
            J = 0.1 mV
            population a = LIF(5)
            population a_J = LIF(5)
            connect a -> a { on_pre: v_post += J }
        }
    """, tmp_path)
    plan = make_plan(load(spec))
    copy = next(prm for c in plan.connections for prm in c.params if prm.key == "a_a.J")
    assert plan.symbols.meaning(copy.name) == ("a_a", "J")
    assert [k.key for k in plan.constants] == ["n.J"] and plan.constants[0].fixed is None
    assert copy.derived == "p['n.J']"


def test_an_unused_constant_is_fixed(tmp_path):
    spec = write_spec("""
        import "lif.snn"
        network n { J = 0.1 mV; population a = LIF(5) }
    """, tmp_path)
    plan = make_plan(load(spec))
    assert plan.constants[0].fixed == "no part of the network uses it"


# ---- per-neuron parameter arrays (Network(params=...), set_params, the Lava target) ----------

PER_NEURON = """
import "lif.snn"
network n {
    J = 3 mV
    population a = LIF(20) { v_th = -50 mV - 0.1 mV * i; I_ext = 1.7 nA }
    population b = LIF(10) { v_th = -52 mV - 0.1 mV * i }
    connect a -> b { p = 0.5; on_pre: v_post += J }
    monitor spikes of a, b
}
simulate n { dt = 0.1 ms; duration = 100 ms; seed = 2 }
"""


def test_param_arrays_per_neuron(tmp_path):
    package = build_package(PER_NEURON, tmp_path, "per_neuron")
    assert package.network.PER_ELEMENT == {"a.v_th": 20, "b.v_th": 10}
    low = -0.051 - 0.0002 * np.arange(20)
    net = package.Network(params={"a.v_th": low})
    assert np.array_equal(net.state["a_v_th"], low)
    spikes = net.run().spikes("a")
    # the same thresholds written in the spec
    spec = PER_NEURON.replace("v_th = -50 mV - 0.1 mV * i; I_ext", "v_th = -51 mV - 0.2 mV * i; I_ext")
    written = build_package(spec, tmp_path, "written").Network().run().spikes("a")
    assert len(spikes[0]) > 5 and np.array_equal(spikes[1], written[1]) and np.allclose(spikes[0], written[0])
    net.set_params({"v_th": -0.05})  # one number for every neuron of both populations, from the next reset
    net.reset()
    assert (net.state["a_v_th"] == -0.05).all() and (net.state["b_v_th"] == -0.05).all()


def test_param_arrays_are_shape_checked(tmp_path):
    package = build_package(PER_NEURON, tmp_path, "shapes")
    with pytest.raises(ValueError, match=r"one value per neuron, shape \(20,\), not \(10,\)"):
        package.Network(params={"a.v_th": np.zeros(10)})
    with pytest.raises(ValueError, match="a.tau_m is one number in this package"):
        package.Network(params={"a.tau_m": np.full(20, 0.02)})
    with pytest.raises(ValueError, match="finite"):
        package.Network(params={"a.v_th": np.full(20, np.nan)})
    with pytest.raises(ValueError, match="time constant"):
        package.Network(params={"a.tau_m": -1.0})


def test_param_arrays_survive_save_and_load(tmp_path):
    package = build_package(PER_NEURON, tmp_path, "saved")
    low = -0.051 - 0.0002 * np.arange(20)
    net = package.Network(params={"a.v_th": low, "J": 4e-3}).run(steps=300)
    net.save(tmp_path / "net.npz")
    again = package.Network.load(tmp_path / "net.npz")
    assert np.array_equal(again.params["a.v_th"], low) and again.params["a_b.J"] == 4e-3


def test_lava_param_arrays_and_constants(tmp_path):
    """The Lava target takes the same per-neuron arrays and constants, with the NumPy target's spikes."""
    from test_lava import build_lava, run_lava

    package = build_lava(PER_NEURON, tmp_path, "lava_params")
    low = -0.051 - 0.0002 * np.arange(20)
    np.savez(tmp_path / "params.npz", **{"a.v_th": low, "J": np.array(5e-3)})
    run_lava("run_with_params.py", package, 1000, tmp_path / "params.npz", tmp_path / "out.npz")
    with np.load(tmp_path / "out.npz") as data:
        found = dict(data)
    assert "error" not in found, found.get("error")
    net = build_package(PER_NEURON, tmp_path, "numpy_params").Network(params={"a.v_th": low, "J": 5e-3}).run()
    for pop in ("a", "b"):
        t, i = net.spikes(pop)
        assert len(t) > 0
        assert sorted(zip(np.rint(found[f"spikes/{pop}/t"] / 1e-4).astype(int), found[f"spikes/{pop}/i"])) == \
            sorted(zip(np.rint(t / 1e-4).astype(int), i))
    np.savez(tmp_path / "bad.npz", **{"a.v_th": np.zeros(3)})
    run_lava("run_with_params.py", package, 10, tmp_path / "bad.npz", tmp_path / "bad_out.npz")
    with np.load(tmp_path / "bad_out.npz") as data:
        assert "shape (20,)" in str(data["error"])
