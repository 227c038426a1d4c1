"""precision = loihi: Loihi's fixed-point arithmetic as a mode of the plan (issue 11).

The NumPy target prints the plan's registers (snnlang/plan/fixed_point.py) and Lava's integer
arithmetic, so it reproduces Lava's ``fixed_pt`` models bit for bit without Lava. Tests marked
``lava`` compare it with Lava (SNNLANG_LAVA_PYTHON, see test_lava.py); the others need no Lava:
a hand-written integer reference (docs/lava.md, "Loihi's fixed point"), the float64 network,
the refusals.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from snnlang.frontend.diagnostics import SpecError
from snnlang.frontend import load
from snnlang.plan import make_plan

from helpers import SPECS, build_package, write_spec
from test_lava import build_lava, run_lava, spike_set, two_layer_spec

STEPS = 200


def with_precision(spec: str, extra: str = "") -> str:
    """The spec simulated in Loihi's fixed point."""
    head, _, tail = spec.rpartition("}")
    return f"{head}; precision = loihi{extra} }}{tail}"


def lava_own_spec(seed: int = 11) -> str:
    """Lava's own LIF, written as a discrete update in Lava's registers (decays in 4096ths, v and u
    in units of 64 register steps, vth chosen by the spec), a bias per neuron, integer-like weights."""
    rng = np.random.default_rng(seed)
    times, index = [], []
    for k in range(40):
        ts = np.sort(rng.choice(STEPS - 1, size=int(rng.integers(3, 12)), replace=False))
        times += ts.tolist()
        index += [k] * len(ts)
    return f"""
        neuron LavaLIF {{
            # lava.proc.lif.LIF: u = u * (1 - du) + a_in; v = v * (1 - dv) + u + bias; spike when v > vth
            parameters {{ du = 409; dv = 205; vth = 2000; bias = 0 }}
            state {{ u = 0; v = 0 }}
            inputs {{ a = 0 }}
            update {{
                u = u * (4095 - du) / 4096 + a
                v = v * (4096 - dv) / 4096 + u + bias
            }}
            spike when v > vth
            reset {{ v = 0 }}
        }}

        network lava_own {{
            input x = spike_times(indices = [{", ".join(map(str, index))}], times = [{", ".join(map(str, times))}] ms)
            population l1 = LavaLIF(50) {{ bias = uniform(0, 10) }}
            population l2 = LavaLIF(30) {{ dv = 410 }}
            connect x -> l1 {{ p = 0.3; w = uniform(-20, 60); on_pre: a_post += w }}
            connect l1 -> l2 {{ p = 0.4; w = uniform(0, 120); on_pre: a_post += w }}
            monitor spikes of l1, l2
            monitor v, u of l1, l2
        }}

        simulate lava_own {{ dt = 1 ms; steps = {STEPS}; seed = 3; precision = loihi; loihi_vth = 2000 }}
    """


DELAYS_SPEC = """
    # stdlib LIF: refractoriness, a constant current (the bias), a delay of 3 steps (DelayDense),
    # per-synapse delays, an inhibitory recurrent connection, Poisson input
    import "lif.snn"

    network delays {
        input src = poisson(40, rate = 150 Hz)
        population a = LIF(30) { I_ext = 1.45 nA }
        population b = LIF(20)
        connect src -> a { p = 0.5; delay = 1.5 ms; w = uniform(0, 1); on_pre: I_syn_post += w * nA }
        connect a -> b { p = 0.3; delay = uniform(0.5 ms, 4 ms); w = uniform(0, 2); on_pre: I_syn_post += w * nA }
        connect b -> b { all_to_all; w = uniform(-0.3, 0); on_pre: I_syn_post += w * nA }
        monitor spikes of a, b
        monitor v of a[0:10:3]
    }

    simulate delays { dt = 0.5 ms; steps = 400; seed = 5; precision = loihi }
"""

CUBA_ONE_CURRENT = """
    # a CUBA network (Vogels & Abbott's, one synaptic time constant): excitatory and inhibitory
    # populations driven above threshold by E_l, recurrent random connections
    neuron CubaLIF {
        parameters { tau_m = 20 ms; tau_syn = 5 ms; E_l = -49 mV; v_th = -50 mV; v_reset = -60 mV; t_ref = 5 ms }
        state { v = uniform(-60 mV, -50 mV); I = 0 mV }
        equations {
            dv/dt = (E_l - v + I) / tau_m   unless refractory
            dI/dt = -I / tau_syn
        }
        spike when v > v_th
        reset { v = v_reset }
        refractory t_ref
    }
    network cuba1 {
        population exc = CubaLIF(800)
        population inh = CubaLIF(200)
        connect exc -> exc { p = 0.02; w = 1.6 mV; on_pre: I_post += w }
        connect exc -> inh { p = 0.02; w = 1.6 mV; on_pre: I_post += w }
        connect inh -> exc { p = 0.02; w = -9 mV; on_pre: I_post += w }
        connect inh -> inh { p = 0.02; w = -9 mV; on_pre: I_post += w }
        monitor spikes of exc, inh
    }
    simulate cuba1 { dt = 0.5 ms; steps = 2000; seed = 1 }
"""


def fixed_plan(spec_text: str, folder):
    return make_plan(load(write_spec(spec_text, folder, "plan")))


def spike_matrix(net, pop: str, size: int, steps: int) -> np.ndarray:
    t, i = net.spikes(pop)
    out = np.zeros((size, steps), dtype=bool)
    out[i, np.rint(t / net.dt).astype(int)] = True
    return out


# ---------------------------------------------------------------------------------------
# A hand-written integer reference (docs/lava.md section "Loihi's fixed point"; no Lava)
# ---------------------------------------------------------------------------------------

UV = 2 ** 23


def rtz12(x: int) -> int:
    """x / 4096 rounded toward zero."""
    return -((-x) >> 12) if x < 0 else x >> 12


def mantissa(weight: float, gain: float, exp: int, mode: str) -> int:
    m = weight * gain / 2.0 ** exp
    if mode == "mixed":
        return min(254, max(-256, 2 * round(m / 2)))
    return min(255, max(0, round(m))) if mode == "excitatory" else min(0, max(-255, round(m)))


def integer_reference(plan, s: dict, source: str, bias_of, steps: int):
    """Lava's LIF and Dense in Python integers, one neuron and one synapse at a time, from the plan's
    registers and the float network's initial state ``s``. ``bias_of(population, f, s)``: each
    neuron's bias register. Returns {population: (spike set, final V, final U)}."""
    fp = plan.fixed_point
    V, U, B = {}, {}, {}
    clip = lambda x: max(-(UV - 1), min(UV - 1, x))  # noqa: E731
    for name, f in fp.neurons.items():
        V[name] = [clip(round((x - f.v_reset) * f.scale)) for x in s[f.voltage_name].tolist()]
        U[name] = ([clip(round(x * f.current_scale)) for x in s[f.current_name].tolist()] if f.current_name
                   else [0] * len(V[name]))
        B[name] = bias_of(name, f, s)
    weights = {}  # connection -> {(pre, post): weight register, as Dense keeps it}
    for c in plan.connections:
        q = fp.connections[c.name]
        pairs: dict = {}
        for pre, post, w in zip(s[f"{c.name}_pre"].tolist(), s[f"{c.name}_post"].tolist(), s[f"{c.name}_w"].tolist()):
            pairs[pre, post] = pairs.get((pre, post), 0) + mantissa(w, q.gain, q.weight_exp, q.sign_mode)
        weights[c.name] = pairs
    spikes = {name: [] for name in fp.neurons} | {source: []}
    events = sorted(zip(s[f"{source}_event_step"].tolist(), s[f"{source}_event_index"].tolist()))
    for step in range(steps):
        a_in = {name: [0] * len(V[name]) for name in fp.neurons}
        for c in plan.connections:  # Dense: last step's spikes, summed, shifted by weight_exp
            q = fp.connections[c.name]
            last = {k for t, k in spikes[c.source] if t == step - 1}
            total = [0] * len(V[c.target])
            for (pre, post), w in weights[c.name].items():
                if pre in last:
                    total[post] += w
            for k, x in enumerate(total):
                a_in[c.target][k] += x << q.weight_exp if q.weight_exp >= 0 else x >> -q.weight_exp
        for name, f in fp.neurons.items():
            for k in range(len(V[name])):
                u = rtz12(U[name][k] * (4096 - (f.du + 1))) + (a_in[name][k] << 6)
                u = u - 2 * UV if u > UV else u + 2 * UV if u <= -UV else u
                U[name][k] = u
                v = clip(rtz12(V[name][k] * (4096 - f.dv)) + u + B[name][k])
                if v > f.vth << 6 if f.strict else v >= f.vth << 6:
                    spikes[name].append((step, k))
                    v = 0
                V[name][k] = v
        spikes[source] += [(t, k) for t, k in events if t == step]
    return {name: (sorted(spikes[name]), V[name], U[name]) for name in fp.neurons}


def constant_bias(name, f, s):
    return [f.bias_mant << f.bias_exp] * len(s[f.voltage_name])


def lava_own_bias(name, f, s):
    """The spec's bias in Lava's units: v and u in units of 64 register steps (scale 64)."""
    if name != "l1":
        return constant_bias(name, f, s)
    return [round(64 * b / 2 ** f.bias_exp) << f.bias_exp for b in s["l1_bias"].tolist()]


@pytest.mark.parametrize("spec, bias_of", [
    (with_precision(two_layer_spec()), constant_bias),
    (lava_own_spec(), lava_own_bias),
], ids=["cuba_two_layers", "lava_own_lif"])
def test_numpy_fixed_point_equals_an_integer_reference(tmp_path, spec, bias_of):
    net_module = build_package(spec, tmp_path, "fixed")
    net = net_module.Network()
    initial = build_package(spec.replace("precision = loihi", "precision = float64"), tmp_path, "floating").Network()
    plan = fixed_plan(spec, tmp_path)
    net.run(steps=STEPS)
    reference = integer_reference(plan, initial.state, "x", bias_of, STEPS)
    for pop, (spikes, v, u) in reference.items():
        f = plan.fixed_point.neurons[pop]
        assert len(spikes) > 20, f"{pop} should spike"
        assert spike_set(*net.spikes(pop), net.dt) == spikes, pop
        assert net.state[f.voltage_name].tolist() == v
        assert net.state[f.current_name].tolist() == u
        assert net.state[f.voltage_name].dtype == np.int64  # the registers, in state


# ---------------------------------------------------------------------------------------
# What the plan decides
# ---------------------------------------------------------------------------------------

def test_lavas_own_lif_form_keeps_its_registers(tmp_path):
    """A discrete update in Lava's form maps onto the very registers it was written with."""
    plan = fixed_plan(lava_own_spec(), tmp_path)
    assert plan.precision == "loihi" and plan.loihi_vth == 2000
    l1, l2 = plan.fixed_point.neurons["l1"], plan.fixed_point.neurons["l2"]
    assert (l1.du, l1.dv, l1.vth, l2.dv) == (409, 205, 2000, 410)
    assert l1.input_kind == "current" and l1.current == "u" and l1.voltage == "v"
    assert l1.scale == pytest.approx(64) and l1.gain == pytest.approx(1)  # a_in = the spec's weight
    assert l1.current_scale == pytest.approx(64)
    assert l1.bias_expr is not None and l2.bias_expr is None  # a bias per neuron where the spec gives one
    assert l1.bias_exp == 0 and l2.bias_mant == 0


def test_a_loihi_vth_setting_chooses_the_threshold_register(tmp_path):
    spec = with_precision(two_layer_spec(), "; loihi_vth = 1000")
    plan = fixed_plan(spec, tmp_path)
    l1 = plan.fixed_point.neurons["l1"]
    assert l1.vth == 1000 and l1.scale == pytest.approx(1000 * 64 / 0.015)
    automatic = fixed_plan(two_layer_spec(), tmp_path)
    assert automatic.fixed_point is None and automatic.precision == "float64"


@pytest.mark.parametrize("spec, where, reason", [
    ("izhikevich_network.snn", "population exc", "reset sets only the voltage"),
    ("cuba.snn", "population cells", "one input current"),
])
def test_a_spec_without_a_fixed_point_form_is_refused_where_it_lacks_one(tmp_path, spec, where, reason):
    text = (SPECS / spec).read_text()
    path = write_spec(with_precision(text) if "simulate" in text else text, tmp_path, "spec")
    with pytest.raises(SpecError) as e:
        make_plan(load(path))
    rendered = e.value.diagnostics.render()
    name = where.split()[1]
    line = next(n for n, text in enumerate(path.read_text().split("\n"), 1) if f"population {name} =" in text)
    assert f"spec.snn:{line}:" in rendered and f"precision = loihi: {where} has no fixed-point form" in rendered
    assert reason in rendered


def test_precision_is_a_checked_setting(tmp_path):
    path = write_spec(with_precision(two_layer_spec()).replace("precision = loihi", "precision = loihy"), tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snnlang", "check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown precision 'loihy'" in proc.stderr and "did you mean 'loihi'" in proc.stderr


def test_cli_build_precision_option(tmp_path):
    spec = write_spec(two_layer_spec(), tmp_path)
    proc = subprocess.run([sys.executable, "-m", "snnlang", "build", str(spec), "--precision", "loihi", "-o",
                           str(tmp_path / "pkg")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fixed point: l1.dv: dv = 200" in proc.stdout
    assert "rt.wrap24(rt.decay12(" in (tmp_path / "pkg" / "network.py").read_text()


# ---------------------------------------------------------------------------------------
# Fixed point against float64
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, steps", [
    (two_layer_spec(), STEPS),
    ((SPECS / "feedforward.snn").read_text(), STEPS),
    (CUBA_ONE_CURRENT, 2000),
], ids=["cuba_two_layers", "feedforward", "cuba_one_current"])
def test_fixed_point_follows_float64_within_its_quantisation_error(tmp_path, spec, steps):
    """Same spike counts within the errors the report states (a few times the largest one)."""
    floating = build_package(spec, tmp_path, "floating").Network()
    fixed_module = build_package(with_precision(spec), tmp_path, "fixed")
    fixed = fixed_module.Network()
    plan = fixed_plan(with_precision(spec), tmp_path)
    error = max(q.error for q in plan.fixed_point.quantities())
    assert error < 0.01 and not any("WARNING" in line for line in plan.fixed_point.report())
    floating.run(steps=steps)
    fixed.run(steps=steps)
    pops = [m[1] for m in fixed_module.MONITORS if m[0] == "spikes"]
    for pop in pops:
        n_float, n_fixed = len(floating.spikes(pop)[0]), len(fixed.spikes(pop)[0])
        assert n_float > 20
        assert abs(n_fixed - n_float) <= 5 * error * n_float + 2, (pop, n_fixed, n_float)


def test_traces_are_in_si_and_state_holds_the_registers(tmp_path):
    spec = with_precision(two_layer_spec())
    fixed = build_package(spec, tmp_path, "fixed").Network()
    floating = build_package(two_layer_spec(), tmp_path, "floating").Network()
    f = fixed_plan(spec, tmp_path).fixed_point.neurons["l1"]
    fixed.run(steps=50)
    floating.run(steps=50)
    t, v = fixed.trace("l1", "v")
    np.testing.assert_array_equal(v[-1], fixed.state["l1_v"] / f.scale + f.v_reset)
    _, v_float = floating.trace("l1", "v")
    assert np.abs(v - v_float)[:3].max() < 2e-4  # volts: the first steps, before spike times can differ


# ---------------------------------------------------------------------------------------
# NumPy-fixed against Lava-fixed (Lava's interpreter)
# ---------------------------------------------------------------------------------------

@pytest.mark.lava
@pytest.mark.parametrize("spec", ["cuba_two_layers", "lava_own_lif"])
def test_numpy_fixed_point_is_bit_identical_to_lava(tmp_path, spec):
    """Spikes every step, the voltage register every step, and the final u and v registers of the
    NumPy target equal those of the Lava target's fixed_pt network and of Lava's own LIF and Dense."""
    text = with_precision(two_layer_spec()) if spec == "cuba_two_layers" else lava_own_spec()
    net_module = build_package(text, tmp_path, "numpy_fixed")
    net = net_module.Network()
    net.run(steps=STEPS)
    package = build_lava(text, tmp_path, "lava_fixed")
    out = tmp_path / "fixed.npz"
    run_lava("fixed_vs_lava.py", package, "x", STEPS, out)
    plan = fixed_plan(text, tmp_path)
    with np.load(out) as d:
        for pop, f in plan.fixed_point.neurons.items():
            ours = spike_matrix(net, pop, net_module.SIZES[pop], STEPS)
            assert ours.sum() > 20
            _, v = net.trace(pop, "v")
            for who in ("generated", "lava"):
                np.testing.assert_array_equal(ours, d[f"{who}/{pop}/spikes"], err_msg=f"{who} {pop}")
                np.testing.assert_array_equal(net.state[f.voltage_name], d[f"{who}/{pop}/v_final"])
                np.testing.assert_array_equal(net.state[f.current_name], d[f"{who}/{pop}/u_final"])
                np.testing.assert_array_equal(np.rint((v - f.v_reset) * f.scale), d[f"{who}/{pop}/v"])


@pytest.mark.lava
def test_numpy_fixed_point_with_delays_and_refractoriness_is_bit_identical_to_lava(tmp_path):
    """Refractoriness, a bias from a constant current, DelayDense (one delay and per-synapse
    delays), an inhibitory connection, Poisson input: the same spikes and final registers."""
    net = build_package(DELAYS_SPEC, tmp_path, "numpy_fixed").Network()
    net.run(steps=400)
    package = build_lava(DELAYS_SPEC, tmp_path, "lava_fixed")
    out = tmp_path / "registers.npz"
    run_lava("fixed_registers.py", package, 400, out)
    plan = fixed_plan(DELAYS_SPEC, tmp_path)
    with np.load(out) as d:
        for pop, f in plan.fixed_point.neurons.items():
            ours = spike_set(*net.spikes(pop), net.dt)
            assert len(ours) > 50
            assert ours == sorted(zip(d[f"{pop}/steps"].tolist(), d[f"{pop}/index"].tolist())), pop
            np.testing.assert_array_equal(net.state[f.voltage_name], d[f"{pop}/v_final"])
            np.testing.assert_array_equal(net.state[f.current_name], d[f"{pop}/u_final"])


@pytest.mark.parametrize("spec", ["cuba_two_layers", "lava_own_lif", "delays"])
def test_every_fixed_point_name_comes_from_the_symbol_table(tmp_path, spec):
    from snnlang.build import render
    from snnlang.plan.symbols import RESERVED
    from test_symbols import _assigned_names

    text = {"cuba_two_layers": with_precision(two_layer_spec()), "lava_own_lif": lava_own_spec(),
            "delays": DELAYS_SPEC}[spec]
    plan = fixed_plan(text, tmp_path)
    source = render(plan, "numpy", "net")["network.py"]
    made = {n for n in _assigned_names(source) if "_" in n.strip("_")}
    made -= {"all_steps", "all_index", "step_key", "index_key", "param_keys", "kind", "_pop"}
    assert made <= set(plan.symbols.names.values()) | RESERVED, sorted(made - set(plan.symbols.names.values()))


def test_weights_the_quantiser_clips_are_counted(tmp_path):
    """Weights beyond the 8-bit mantissas at the largest weight_exp are clipped; the run says
    how many (counted by hand here) and the connection whose weights fit says nothing."""
    text = lava_own_spec().replace("w = uniform(0, 120)", "w = uniform(0, 1000000)")
    net = build_package(text, tmp_path).Network()
    with pytest.warns(UserWarning, match="weights lie beyond") as caught:
        net.run(steps=2)
    messages = [str(w.message) for w in caught if "weights lie beyond" in str(w.message)]
    w = net.state["l1_l2_w"]
    by_hand = int(np.count_nonzero(np.rint(w / 2.0 ** 7) > 255))  # gain 1, weight_exp 7 (the largest)
    assert by_hand > 0
    assert messages == [f"connection l1_l2: {by_hand} of {w.size} weights lie beyond Loihi's 8-bit excitatory "
                        f"mantissas at weight_exp 7 and are clipped (the largest, {w.max():g}, to {255 * 128:g})"]
