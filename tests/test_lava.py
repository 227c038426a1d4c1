"""The Lava target (issue 6): generated Lava processes against Lava's own simulator.

The compiler runs here (Python 3.11); the generated package runs under Lava's
Python 3.10 interpreter, named by the environment variable SNNLANG_LAVA_PYTHON
(``.ci/run`` creates it: ``.venv-lava``). Tests marked ``lava`` run scripts of
``tests/lava_scripts/`` there and skip, saying why, when it is unset or has no Lava.
The rest check what the compiler decides and writes without running Lava.
"""
from __future__ import annotations

import ast
import functools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnlang.build import build
from snnlang.frontend.diagnostics import SpecError
from snnlang.frontend import load
from snnlang.plan import make_plan
from snnlang.backends.lava.loihi import VTH, loihi_plan

from helpers import SPECS, TEST_SPECS, build_package, write_spec

SCRIPTS = Path(__file__).resolve().parent / "lava_scripts"


@functools.lru_cache(maxsize=None)
def _lava_python() -> tuple[str | None, str]:
    path = os.environ.get("SNNLANG_LAVA_PYTHON")
    if not path:
        return None, ("SNNLANG_LAVA_PYTHON is not set: it names a Python 3.10 interpreter with lava-nc "
                      "(bash .ci/run makes one in .venv-lava; see docs/lava.md)")
    try:
        check = subprocess.run([path, "-c", "import lava.magma.core.run_configs"], capture_output=True, text=True,
                               timeout=120)
    except OSError as e:
        return None, f"SNNLANG_LAVA_PYTHON={path} cannot be run: {e}"
    if check.returncode:
        return None, f"SNNLANG_LAVA_PYTHON={path} cannot import lava: {check.stderr.strip().splitlines()[-1:]}"
    return path, ""


def run_lava(script: str, *args, timeout: int = 600) -> str:
    """Run a script of tests/lava_scripts with Lava's interpreter; skip when there is none."""
    python, why = _lava_python()
    if python is None:
        pytest.skip(why)
    proc = subprocess.run([python, str(SCRIPTS / script), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def build_lava(spec, folder: Path, name: str) -> Path:
    if isinstance(spec, str) and "\n" in spec:
        spec = write_spec(spec, folder / "specs", name)
    out = folder / name
    build(Path(spec), out, target="lava")
    return out


def run_package(package: Path, tag: str, steps: int, folder: Path) -> dict:
    out = folder / f"{package.name}-{tag}.npz"
    run_lava("run_package.py", package, tag, steps, out)
    with np.load(out) as data:
        return dict(data)


def spike_set(times, index, dt) -> list[tuple[int, int]]:
    return sorted(zip(np.rint(np.asarray(times) / dt).astype(int).tolist(), np.asarray(index).tolist()))


# ---------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------

def two_layer_spec(seed: int = 7, n_in: int = 100, steps: int = 200) -> str:
    """Fixed input spikes -> 100 CUBA LIF -> 60 CUBA LIF, seeded random weights (mixed, then excitatory)."""
    rng = np.random.default_rng(seed)
    times, index = [], []
    for k in range(n_in):
        ts = np.sort(rng.choice(steps - 1, size=int(rng.integers(3, 15)), replace=False))
        times += ts.tolist()
        index += [k] * len(ts)
    return f"""
        neuron CubaLIF {{
            parameters {{ tau_m = 20 ms; tau_syn = 5 ms; E_l = -64 mV; v_th = -50 mV; v_reset = -65 mV }}
            state {{ v = uniform(-65 mV, -52 mV); I = 0 mV }}
            equations {{
                dv/dt = (E_l - v + I) / tau_m
                dI/dt = -I / tau_syn
            }}
            spike when v > v_th
            reset {{ v = v_reset }}
        }}

        network two_layers {{
            input x = spike_times(indices = [{", ".join(map(str, index))}], times = [{", ".join(map(str, times))}] ms)
            population l1 = CubaLIF(100)
            population l2 = CubaLIF(60)
            connect x -> l1 {{ p = 0.3; w = uniform(-2 mV, 6 mV); on_pre: I_post += w }}
            connect l1 -> l2 {{ p = 0.3; w = uniform(0 mV, 14 mV); on_pre: I_post += w }}
            monitor spikes of l1, l2
            monitor v of l1, l2
        }}

        simulate two_layers {{ dt = 1 ms; steps = {steps}; seed = 3 }}
    """


DELAYS_SPEC = """
    # LIF populations with a homogeneous delay (3 steps: DelayDense), per-synapse delays,
    # an inhibitory all-to-all connection onto v, refractoriness and a constant current.
    import "lif.snn"

    network delays {
        input src = poisson(20, rate = 200 Hz)
        population a = LIF(30) { I_ext = 1.45 nA }
        population b = LIF(30)
        connect src -> a { p = 0.5; delay = 1.5 ms; w = uniform(0, 1); on_pre: I_syn_post += w * nA }
        connect a -> b { p = 0.3; delay = uniform(0.5 ms, 4 ms); w = uniform(0, 2); on_pre: I_syn_post += w * nA }
        connect b -> a { all_to_all; w = uniform(-0.2, 0); on_pre: v_post += w * mV }
        monitor spikes of a, b
        monitor v of a[0:10:3]
    }

    simulate delays { dt = 0.5 ms; steps = 400; seed = 5 }
"""

CHAIN_SPEC = """
    # One spike, three one-neuron targets at delays of 1, 2 and 5 steps: each fires once,
    # in the step its input arrives (the weight is far above threshold).
    neuron Relay {
        parameters { v_th = 0.5 }
        state { v = 0.0 }
        inputs { I = 0.0 }
        update { v = I }
        spike when v > v_th
        reset { v = 0.0 }
    }

    network chain {
        input src = spike_times(indices = [0], times = [3] ms)
        population d1 = Relay(1)
        population d2 = Relay(1)
        population d5 = Relay(1)
        connect src -> d1 { w = 1.0; on_pre: I_post += w }
        connect src -> d2 { delay = 2 ms; w = 1.0; on_pre: I_post += w }
        connect src -> d5 { delay = 5 ms; w = 1.0; on_pre: I_post += w }
        monitor spikes of src, d1, d2, d5
    }

    simulate chain { dt = 1 ms; steps = 20; seed = 0 }
"""

# ---------------------------------------------------------------------------------------
# What the compiler decides (no Lava needed)
# ---------------------------------------------------------------------------------------


def test_quantisation_of_a_cuba_lif(tmp_path):
    spec = write_spec(two_layer_spec(), tmp_path)
    lp = loihi_plan(make_plan(load(spec)))
    assert lp.fixed_point and not lp.errors
    l1 = lp.neurons["l1"]
    assert l1.input_kind == "current" and l1.current == "I" and l1.voltage == "v" and l1.strict
    assert l1.dv == round(4096 * (1 - math.exp(-1 / 20)))  # 12-bit decays of the exact propagator
    assert l1.du == round(4095 - 4096 * math.exp(-1 / 5))  # Loihi's ds_offset of 1
    # the threshold register is VTH, doubled (up to 4 VTH) while the weights would need weight_exp < 0
    assert l1.vth in (VTH, 2 * VTH, 4 * VTH) and l1.scale == pytest.approx(l1.vth * 64 / 0.015)
    # the drive E_l - v_reset = 1 mV, as the bias: (1 - exp(-dt/tau_m)) * 1 mV in register units
    bias = l1.scale * 1e-3 * (1 - math.exp(-1 / 20))
    assert l1.bias_mant * 2 ** l1.bias_exp == pytest.approx(bias, abs=0.5)
    w = lp.connections["x_l1"]
    assert w.sign_mode == "mixed" and w.low == pytest.approx(-2e-3) and w.high == pytest.approx(6e-3)
    assert w.weight_exp >= 0  # no flooring shift of the summed input
    assert w.high * w.gain / 2 ** w.weight_exp <= 254 < w.high * w.gain / 2 ** (w.weight_exp - 1) or w.weight_exp == 0
    assert lp.connections["l1_l2"].sign_mode == "excitatory"
    report = "\n".join(lp.report())
    for name in ("l1.dv", "l1.du", "l1.vth", "l1.bias", "x_l1.weights", "l1_l2.weights"):
        assert name in report


def test_large_quantisation_errors_are_flagged(tmp_path):
    spec = write_spec("""
        import "lif.snn"
        network n {
            population p = LIF(4) { tau_m = 20 ms }
            monitor spikes of p
        }
        simulate n { dt = 0.01 ms; steps = 10 }
    """, tmp_path)
    lp = loihi_plan(make_plan(load(spec)))
    dv = next(q for q in lp.quantities() if q.name == "dv")
    assert dv.large and "WARNING" in dv.line()  # dt/tau = 1/2000: dv = 2 for 2.05


@pytest.mark.parametrize("spec, reason", [
    ("izhikevich_network.snn", "reset sets only the voltage"),
    ("cuba.snn", "one input current"),
    ("digits_bptt.snn", "reset"),
])
def test_models_without_a_fixed_point_form_say_why(spec, reason):
    lp = loihi_plan(make_plan(load(SPECS / spec)))
    assert not lp.fixed_point and not lp.errors
    assert any(reason in r for r in lp.neuron_problems.values()), lp.neuron_problems
    assert any(line.startswith("no fixed-point model: population") for line in lp.report())


def spec_place(path: Path, needle: str) -> str:
    """``name.snn:line:col`` of the first ``needle`` in a spec file (1-based, as diagnostics count)."""
    for n, line in enumerate(path.read_text().split("\n"), start=1):
        if needle in line:
            return f"{path.name}:{n}:{line.index(needle) + 1}"
    raise AssertionError(f"{needle!r} not in {path}")


def test_stdp_maps_onto_a_lava_learning_rule():
    lp = loihi_plan(make_plan(load(SPECS / "brief_stdp.snn")))
    rule = lp.plasticity["spikes_out"]
    assert rule.dw == "-x0 * y1 + y0 * x1"
    assert rule.tau_pre == pytest.approx(20) and rule.tau_post == pytest.approx(20)
    # lr * a_plus and lr * a_minus (0.01 * 0.1) ride on the trace impulses of 1
    assert rule.impulse_pre == pytest.approx(0.001) and rule.impulse_post == pytest.approx(0.001)
    assert (rule.w_min, rule.w_max) == (0.0, 1.0)
    assert rule.gain == 1.0  # on_pre: I_post += w
    assert "spikes_out" in lp.connection_problems  # no fixed-point learning
    assert not lp.errors


def test_stdp_keeps_the_unit_of_its_on_pre_effect():
    """on_pre: I_syn_post += w * nA adds w nanoamperes (the Lava target once dropped the 1e-9)."""
    lp = loihi_plan(make_plan(load(TEST_SPECS / "lava_stdp.snn")))
    assert lp.plasticity["src_exc"].gain == pytest.approx(1e-9, rel=1e-12)
    assert lp.delivery == {"src_exc": "I_syn"}


def test_stdp_with_zero_amplitudes_has_a_form(tmp_path):
    lp = loihi_plan(make_plan(load(TEST_SPECS / "lava_stdp_zero.snn")))
    assert not lp.errors and lp.plasticity["src_exc"].dw == ""
    build_lava(TEST_SPECS / "lava_stdp_zero.snn", tmp_path, "zero")


SOFT_BOUNDS = """
    import "lif.snn"
    import "stdp.snn"
    network n {
        input src = poisson(10, rate = 20 Hz)
        population exc = LIF(5)
        connect src -> exc using %s { on_pre: I_syn_post += w * nA }
    }
"""

OWN_BOUNDS = """
    import "lif.snn"
    synapse Bounded {
        parameters { tau = 20 ms; A = 0.01 }
        state { w = 0.5 }
        pre  { dx/dt = -x / tau }
        post { dy/dt = -y / tau }
        on_pre { x += 1; w = clip(w - A * y, 0.2, 1) }
        on_post { y += 1; w = clip(w + A * x, 0.2, 1) }
    }
    network n {
        input src = poisson(10, rate = 20 Hz)
        population exc = LIF(5)
        connect src -> exc using Bounded { on_pre: I_syn_post += w * nA }
    }
"""


@pytest.mark.parametrize("spec, synapse, connection, reason", [
    ("diehl_cook", "DiehlCookSTDP", "pixels_exc", "not pair STDP"),
    (SOFT_BOUNDS % "STDPSoft", "STDPSoft", "src_exc", "is not w +- A * trace"),
    (SOFT_BOUNDS % "STDPNearest", "STDPNearest", "src_exc", "not increased by a constant"),
    (OWN_BOUNDS, "Bounded {", "src_exc", "weight bounds [0.2, 1] have no Loihi form"),
])
def test_plasticity_without_a_loihi_form_is_refused_at_its_connection(tmp_path, spec, synapse, connection, reason):
    """Never a silent downgrade to a static connection: the build stops at the connection's rule."""
    path = SPECS / f"{spec}.snn" if "\n" not in spec else write_spec(spec, tmp_path)
    with pytest.raises(SpecError) as e:
        build(path, tmp_path / "out", target="lava")
    text = e.value.diagnostics.render()
    name, line, column = spec_place(path, f"using {synapse}").split(":")
    place = f"{name}:{line}:{int(column) + len('using ')}"  # the rule's name
    assert f"{place}: error: target lava: connection {connection}: " in text, text
    assert reason in text and "without a Loihi form" in text
    assert not (tmp_path / "out").exists()


def test_stdp_with_delays_is_refused_at_the_delay(tmp_path):
    """Loihi's learning synapses have no delays: per-synapse delays and a delay of 2 steps are refused,
    each at the connection's delay, where they used to become static connections or fail in Lava."""
    path = TEST_SPECS / "lava_stdp_delays.snn"
    with pytest.raises(SpecError) as e:
        build(path, tmp_path / "out", target="lava")
    text = e.value.diagnostics.render()
    assert f"{spec_place(path, 'uniform(0.5 ms')}: error: target lava: connection src_exc: its synapses have their " \
           "own delays" in text, text
    two = write_spec(SOFT_BOUNDS.replace("{ on_pre", "{ delay = 2 ms; on_pre") % "STDP"
                     + "simulate n { dt = 1 ms; steps = 10 }", tmp_path, "two")
    with pytest.raises(SpecError) as e:
        build(two, tmp_path / "out", target="lava")
    assert f"{spec_place(two, '2 ms;')}: error: target lava: connection src_exc: its delay is 2 steps" in \
           e.value.diagnostics.render()
    assert not (tmp_path / "out").exists()


def test_a_nonlinear_synaptic_effect_is_refused(tmp_path):
    spec = write_spec("""
        neuron N {
            parameters { tau = 10 ms; E = 0 mV }
            state { v = -70 mV }
            equations { dv/dt = -v / tau }
            spike when v > -50 mV
            reset { v = -70 mV }
        }
        network n {
            population a = N(3)
            connect a -> a { w = 0.1; on_pre: v_post += w * (E_post - v_post) }
        }
    """, tmp_path)
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "out", target="lava")
    text = e.value.diagnostics.render()
    assert f"{spec_place(spec, 'connect a -> a')}: error: target lava: connection a_a: " in text, text
    assert "Dense can only add weights" in text
    assert not (tmp_path / "out").exists()


def test_generated_package_imports_only_lava_numpy_and_the_standard_library(tmp_path):
    package = build_lava(SPECS / "brief_stdp.snn", tmp_path, "stdp")
    files = sorted(package.rglob("*.py"))
    assert {f.relative_to(package).as_posix() for f in files} == {
        "__init__.py", "__main__.py", "network.py", "runtime.py", "procs/__init__.py", "procs/processes.py"}
    allowed = {"lava", "numpy"} | set(sys.stdlib_module_names)
    for f in files:
        text = f.read_text()
        assert text.startswith("# Generated by snnlang"), f
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            for m in modules:
                assert m.split(".")[0] in allowed, f"{f.name} imports {m}"


def test_neuron_models_become_processes_with_float_and_fixed_models(tmp_path):
    package = build_lava(SPECS / "feedforward.snn", tmp_path, "ff")
    text = (package / "procs" / "processes.py").read_text()
    assert "class StepLIF(AbstractProcess):" in text  # one Process for both populations of StepLIF
    assert '@tag("floating_pt")\nclass PyStepLIFFloat(PyLoihiProcessModel):' in text
    assert '@tag("fixed_pt")\nclass PyStepLIFFixed(PyLoihiProcessModel):' in text
    assert "self.a_in = InPort(shape=shape)" in text and "self.s_out = OutPort(shape=shape)" in text
    izh = build_lava(SPECS / "izhikevich_patterns.snn", tmp_path, "izh")
    text = (izh / "procs" / "processes.py").read_text()
    assert "class PyIzhikevichFloat" in text and "class PyIzhikevichFixed" not in text
    network = (izh / "network.py").read_text()
    assert "its equations are integrated with euler" in network  # FIXED_POINT_PROBLEMS says why


def test_cli_build_prints_the_quantisation_report(tmp_path):
    spec = write_spec(two_layer_spec(), tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snnlang", "build", str(spec), "--target", "lava", "-o",
                           str(tmp_path / "pkg")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "lava: l1.dv: dv = 200" in proc.stdout and "x_l1.weights: mixed 8-bit mantissas" in proc.stdout
    assert (tmp_path / "pkg" / "procs" / "processes.py").exists()


# ---------------------------------------------------------------------------------------
# In Lava's simulator
# ---------------------------------------------------------------------------------------


@pytest.mark.lava
def test_fixed_point_lif_is_bit_identical_to_lavas_own_lif_and_dense(tmp_path):
    """(1) Spikes and voltages, every step, of the generated fixed-point network equal those of
    lava.proc.lif.process.LIF and Dense given the same registers and weights."""
    package = build_lava(two_layer_spec(), tmp_path, "two_layers")
    out = tmp_path / "fixed.npz"
    run_lava("fixed_vs_lava.py", package, "x", 200, out)
    with np.load(out) as d:
        for pop in ("l1", "l2"):
            ours, lavas = d[f"generated/{pop}/spikes"], d[f"lava/{pop}/spikes"]
            assert ours.shape == lavas.shape == ({"l1": 100, "l2": 60}[pop], 200)
            assert ours.sum() > 50, f"{pop} should spike"
            np.testing.assert_array_equal(ours, lavas)
            v_ours, v_lava = d[f"generated/{pop}/v"], d[f"lava/{pop}/v"]
            assert v_ours.shape == v_lava.shape == (200, ours.shape[0])
            np.testing.assert_array_equal(v_ours, v_lava)


@pytest.mark.lava
@pytest.mark.parametrize("spec, steps", [
    ("feedforward", 200),
    ("recurrent", 200),
    ("brief_lif", 100),
    ("izhikevich_patterns", 600),
    ("delays", 400),
    ("chain", 20),
])
def test_floating_point_gives_the_numpy_targets_spikes(tmp_path, spec, steps):
    """(2) The floating-point models give the NumPy target's spikes, step for step: Lava's Dense
    delay of one step is snnlang's delay of one step, DelayDense adds the rest."""
    text = {"delays": DELAYS_SPEC, "chain": CHAIN_SPEC}.get(spec, SPECS / f"{spec}.snn")
    package = build_lava(text, tmp_path, f"{spec}_lava")
    net_module = build_package(text if isinstance(text, str) else text, tmp_path, f"{spec}_numpy")
    net = net_module.Network()
    net.run(steps=steps)
    data = run_package(package, "floating_pt", steps, tmp_path)
    pops = [m[1] for m in net_module.MONITORS if m[0] == "spikes"]
    total = 0
    for pop in pops:
        ours = spike_set(data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"], net.dt)
        theirs = spike_set(*net.spikes(pop), net.dt)
        assert ours == theirs, f"{spec}: population {pop}"
        total += len(ours)
    assert total > 0
    if spec == "chain":  # the source spikes in step 3; delays of 1, 2 and 5 steps
        assert [spike_set(data[f"spikes/{p}/t"], data[f"spikes/{p}/i"], net.dt) for p in pops] == \
               [[(3, 0)], [(4, 0)], [(5, 0)], [(8, 0)]]
    for m in net_module.MONITORS:
        if m[0] == "state":
            for var in m[2]:
                t, values = net.trace(m[1], var)
                np.testing.assert_allclose(data[f"trace/{m[1]}/{var}"], values, rtol=1e-9, atol=1e-15)
                np.testing.assert_allclose(data[f"trace/{m[1]}/{var}/t"], t)


@pytest.mark.lava
def test_fixed_point_follows_the_floating_point_network(tmp_path):
    """The quantised network (12-bit decays, 8-bit weights) spikes nearly as the float one does."""
    package = build_lava(SPECS / "feedforward.snn", tmp_path, "ff")
    fixed = run_package(package, "fixed_pt", 200, tmp_path)
    floating = run_package(package, "floating_pt", 200, tmp_path)
    for pop in ("hidden", "out"):
        n_fixed, n_float = len(fixed[f"spikes/{pop}/t"]), len(floating[f"spikes/{pop}/t"])
        assert n_float > 0 and abs(n_fixed - n_float) <= 0.05 * n_float


@pytest.mark.lava
def test_izhikevich_network_runs_in_lava(tmp_path):
    """(3) A generated Izhikevich process (1000 neurons, all-to-all, noisy input) in Lava."""
    package = build_lava(SPECS / "izhikevich_network.snn", tmp_path, "izh")
    data = run_package(package, "floating_pt", 100, tmp_path)
    net = build_package(SPECS / "izhikevich_network.snn", tmp_path, "izh_numpy").Network()
    net.run(steps=100)
    for pop in ("exc", "inh"):
        assert len(data[f"spikes/{pop}/t"]) > 0
        assert spike_set(data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"], net.dt) == \
            spike_set(*net.spikes(pop), net.dt)


def weight_matrix(state: dict, connection: str, weight: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(post x pre) weights of a connection of the NumPy target, and where synapses exist."""
    w, exists = np.zeros(shape), np.zeros(shape, dtype=bool)
    post, pre = state[f"{connection}_post"], state[f"{connection}_pre"]
    np.add.at(w, (post, pre), state[f"{connection}_{weight}"])
    exists[post, pre] = True
    return w, exists


@pytest.mark.lava
@pytest.mark.parametrize("spec, connection, steps", [
    ("lava_stdp", "src_exc", 200),  # on_pre adds w * nA: the unit factor reaches I_syn
    ("lava_stdp_sparse", "src_exc", 200),  # p = 0.3: absent synapses stay absent
    ("lava_stdp_zero", "src_exc", 200),  # A_plus = A_minus = 0: only the clip to w_max
    ("brief_stdp", "spikes_out", 1000),
])
def test_stdp_gives_the_numpy_targets_spikes_and_weights(tmp_path, spec, connection, steps):
    """Pair STDP in Lava's floating point: a generated process with the spec's order of a step
    gives the NumPy target's spikes, step for step, and its weights within rounding."""
    path = TEST_SPECS / f"{spec}.snn" if spec.startswith("lava_") else SPECS / f"{spec}.snn"
    package = build_lava(path, tmp_path, f"{spec}_lava")
    data = run_package(package, "floating_pt", steps, tmp_path)
    net_module = build_package(path, tmp_path, f"{spec}_numpy")
    net = net_module.Network()
    initial = net_module.Network().state
    net.run(steps=steps)
    for pop in [m[1] for m in net_module.MONITORS if m[0] == "spikes"]:
        ours = spike_set(data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"], net.dt)
        assert ours == spike_set(*net.spikes(pop), net.dt), f"{spec}: population {pop}"
        assert ours, f"{spec}: {pop} should spike"
    w_lava = data[f"weights/{connection}"]
    w_numpy, exists = weight_matrix(net.state, connection, "w", w_lava.shape)
    w0, _ = weight_matrix(initial, connection, "w", w_lava.shape)
    assert (w_lava[~exists] == 0).all(), "absent synapses learned"
    np.testing.assert_allclose(w_lava[exists], w_numpy[exists], rtol=1e-12, atol=1e-15)
    changed = np.abs(w_numpy - w0)[exists]
    assert changed.max() > (0.4 if spec == "lava_stdp_zero" else 1e-3)  # it learned (zero: it clipped)
    if spec == "lava_stdp_zero":  # no weight changes but the clip at w_max = 1
        np.testing.assert_array_equal(w_numpy[exists], np.where(changed > 0, 1.0, w0[exists]))
