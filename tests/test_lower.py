"""Lower: every construct of a spec becomes the IR, with quantities in SI and expressions in SymPy."""
from __future__ import annotations

import json

import pytest
import sympy

from snnlang.frontend import units
from snnlang.frontend.dims import constant_value, dimension
from snnlang.frontend.functions import is_random, symbol
from snnlang.frontend.model import Call, ListValue, Number, Text, Word
from snnlang.frontend.dims import BASE_UNITS, BaseUnit
from snnlang.frontend.units import DIMENSIONLESS, dim

SECOND = dim(s=1)
VOLT = dim(kg=1, m=2, s=-3, A=-1)
AMPERE = dim(A=1)
s, kg, m, A = (BASE_UNITS[n] for n in ("s", "kg", "m", "A"))


def si(expr: sympy.Basic) -> sympy.Basic:
    """The plain SI value: base units replaced by 1 (what the plan does)."""
    return expr.xreplace({u: sympy.Integer(1) for u in expr.atoms(BaseUnit)})


def quantity(expr: sympy.Basic) -> tuple[float, tuple]:
    found = constant_value(expr)
    assert found is not None, expr
    return found


v, u, w, I, t = (symbol(n) for n in ("v", "u", "w", "I", "t"))

# ---- neurons --------------------------------------------------------------------------------

LIF = """
    neuron LIF {
        parameters {
            tau_m = 20 ms
            E_l   = -65 mV
            R     = 10 Mohm
            t_ref = 2 ms
        }
        state {
            v     = uniform(-70 mV, -60 mV)
            g     = normal(1 nS, 0.1 nS)
            I_syn = 0 nA
        }
        inputs { I_ext = 0.5 nA }
        equations {
            dv/dt     = (E_l - v + R * (I_syn + I_ext)) / tau_m   unless refractory
            dI_syn/dt = -I_syn / (5 ms)
            drive     = R * I_ext
        }
        spike when v >= -50 mV
        reset { v = E_l; I_syn += 1 nA }
        refractory t_ref
        method exponential_euler
    }
"""


@pytest.fixture
def lif(specs):
    return specs.analyse(LIF).ok().neurons["LIF"]


def test_a_quantity_is_its_si_value_with_its_dimension(lif):
    params = {p.name: p.value.value for p in lif.parameters}
    assert params["tau_m"] == s / 50
    assert quantity(params["tau_m"]) == (pytest.approx(0.02), SECOND)
    assert quantity(params["E_l"]) == (pytest.approx(-0.065), VOLT)
    assert quantity(params["R"]) == (pytest.approx(1e7), dim(kg=1, m=2, s=-3, A=-2))


def test_variables_have_their_kind_in_declaration_order(lif):
    assert [(x.name, x.kind) for x in lif.variables()] == [
        ("tau_m", "parameter"), ("E_l", "parameter"), ("R", "parameter"), ("t_ref", "parameter"),
        ("v", "state"), ("g", "state"), ("I_syn", "state"), ("I_ext", "input"), ("drive", "alias")]


def test_initial_values_drawn_from_distributions(lif):
    state = {x.name: x.value.value for x in lif.state}
    assert state["v"].func.__name__ == "uniform"
    assert [quantity(a) for a in state["v"].args] == [(pytest.approx(-0.07), VOLT), (pytest.approx(-0.06), VOLT)]
    assert state["g"].func.__name__ == "normal"
    assert [si(a) for a in state["g"].args] == [sympy.Rational(1, 10**9), sympy.Rational(1, 10**10)]
    assert is_random(state["v"]) and is_random(state["g"]) and not is_random(state["I_syn"])


def test_a_zero_quantity_keeps_its_unit_and_is_zero_in_si(lif):
    zero = next(x for x in lif.state if x.name == "I_syn").value.value
    assert zero.is_zero
    assert dimension(zero, lambda _: None) == AMPERE
    assert si(zero) == 0


def test_odes_with_unless_refractory_and_their_places(lif):
    dv, dI = lif.odes
    assert (dv.var, dv.unless_refractory, dI.var, dI.unless_refractory) == ("v", True, "I_syn", False)
    assert (dv.loc.file, dv.loc.line, dv.loc.column) == ("spec.snn", 15, 9)
    E_l, R, I_syn, I_ext, tau_m = (symbol(n) for n in ("E_l", "R", "I_syn", "I_ext", "tau_m"))
    assert sympy.simplify(dv.rhs.value - (E_l - v + R * (I_syn + I_ext)) / tau_m) == 0
    assert dI.rhs.value == -I_syn * 200 / s  # 5 ms folded into the expression: 1/(5 ms) = 200/s


def test_names_of_an_expression_are_recorded_with_their_place(lif):
    dv = lif.odes[0]
    assert set(dv.rhs.names) == {"E_l", "v", "R", "I_syn", "I_ext", "tau_m"}
    assert (dv.rhs.names["E_l"].line, dv.rhs.names["E_l"].column) == (15, 22)
    assert (dv.rhs.loc.line, dv.rhs.loc.column) == (15, 21)


def test_algebraic_definition(lif):
    (drive,) = lif.aliases
    assert drive.kind == "alias" and drive.value.value == symbol("R") * symbol("I_ext")


def test_threshold_reset_refractory_and_method(lif):
    assert isinstance(lif.threshold.value, sympy.GreaterThan)
    assert lif.threshold.value.lhs == v and quantity(lif.threshold.value.rhs) == (pytest.approx(-0.05), VOLT)
    assert [(st.target, st.op) for st in lif.reset] == [("v", "="), ("I_syn", "+=")]
    assert lif.reset[0].value.value == symbol("E_l")
    assert si(lif.reset[1].value.value) == sympy.Rational(1, 10**9)
    assert lif.refractory.value == symbol("t_ref") and lif.refractory_in_steps is False
    assert lif.method == "exponential_euler" and (lif.method_loc.line, lif.method_loc.column) == (22, 12)
    assert not lif.discrete


def test_izhikevich_coefficients_in_si(specs):
    model = specs.analyse("""
        neuron Izh {
            parameters { a = 0.02/ms; b = 0.2/ms; c = -65 mV; d = 8 mV/ms }
            state { v = -65 mV; u = b * v }
            inputs { I = 0 mV/ms }
            equations {
                dv/dt = 0.04/ms/mV * v**2 + 5/ms * v + 140 mV/ms - u + I
                du/dt = a * (b * v - u)
            }
            spike when v >= 30 mV
            reset { v = c; u += d }
        }
    """).ok()
    izh = model.neurons["Izh"]
    rhs = izh.odes[0].rhs.value
    per_volt_second = A * s**2 / (kg * m**2)  # 1/(V s) in base units
    assert rhs.coeff(v, 2) == 40000 * per_volt_second
    assert si(rhs.coeff(v, 2)) == 40000          # 0.04 /(ms mV) = 4e4 /(V s)
    assert si(rhs.coeff(v, 1)) == 5000           # 5/ms = 5000/s
    assert quantity(rhs.subs({v: 0, u: 0, I: 0})) == (pytest.approx(140.0), dim(kg=1, m=2, s=-4, A=-1))  # V/s
    params = {p.name: quantity(p.value.value) for p in izh.parameters}
    assert params["a"] == (pytest.approx(20.0), dim(s=-1))
    assert params["d"] == (pytest.approx(8.0), dim(kg=1, m=2, s=-4, A=-1))
    assert izh.state[1].value.value == symbol("b") * v


def test_discrete_neuron_with_update_and_refractory_in_steps(specs):
    model = specs.analyse("""
        neuron StepLIF {
            parameters { decay = 0.9; v_th = 1.0; t_ref = 5 }
            state { v = 0.0 }
            inputs { I = 0.0 }
            update { v = v * decay + I }
            spike when v >= v_th
            reset { v = 0.0 }
            refractory t_ref steps
        }
    """).ok()
    n = model.neurons["StepLIF"]
    assert n.discrete and not n.odes
    (upd,) = n.update
    assert (upd.target, upd.op) == ("v", "=")
    assert upd.value.value == v * symbol("decay") + I
    assert n.refractory_in_steps is True and n.refractory.value == symbol("t_ref")
    assert n.parameters[0].value.value == sympy.Rational(9, 10)  # decimals are exact rationals


def test_builtin_names_and_conditions_in_arithmetic(specs):
    model = specs.analyse("""
        neuron A {
            parameters { k = 2 * pi; tau = 10 ms }
            state { v = 0 mV }
            inputs { I = 10 mV/ms * (t >= 10 ms) }
            equations { dv/dt = -v / tau + I + 1 mV/ms * (i > N / 2) * (dt > 0 ms) }
        }
    """).ok()
    n = model.neurons["A"]
    assert n.parameters[0].value.value == 2 * sympy.pi
    drive = n.inputs[0].value.value
    assert drive.has(sympy.Piecewise) and t in drive.free_symbols
    (pw,) = drive.atoms(sympy.Piecewise)
    assert pw.args[0][0] == 1 and pw.args[1] == (0, True)
    assert {symbol("i"), symbol("N"), symbol("dt")} <= n.odes[0].rhs.value.free_symbols


@pytest.mark.parametrize("text, expected", [
    ("exp(x)", sympy.exp(symbol("x"))),
    ("log(x)", sympy.log(symbol("x"))),
    ("log10(x)", sympy.log(symbol("x")) / sympy.log(10)),
    ("sqrt(x)", sympy.sqrt(symbol("x"))),
    ("abs(x)", sympy.Abs(symbol("x"))),
    ("tanh(x)", sympy.tanh(symbol("x"))),
    ("min(x, 1)", sympy.Min(symbol("x"), 1)),
    ("max(x, 1, 2)", sympy.Max(symbol("x"), 2)),
    ("where(x > 1, 2, 3)", sympy.Piecewise((2, symbol("x") > 1), (3, True))),
    ("heaviside(x)", sympy.Piecewise((1, symbol("x") >= 0), (0, True))),
    ("floor(x)", sympy.floor(symbol("x"))),
    ("sign(x)", sympy.sign(symbol("x"))),
])
def test_maths_functions_become_sympy_functions(specs, text, expected):
    model = specs.analyse(f"neuron A {{ parameters {{ x = 2 }}\n equations {{ y = {text} }} }}").ok()
    assert model.neurons["A"].aliases[0].value.value == expected


def test_clip_and_random_functions_are_kept_as_named_functions(specs):
    model = specs.analyse("neuron A { parameters { x = 2 }\n state { y = clip(x, 0, 1) + rand() + randn() } }").ok()
    value = model.neurons["A"].state[0].value.value
    assert {f.func.__name__ for f in value.atoms(sympy.Function)} == {"clip", "rand", "randn"}
    assert is_random(value)


def test_numbers_are_exact(specs):
    model = specs.analyse("neuron A { parameters { a = 0.1 + 0.2; b = 1e-3; c = 2.5e2; d = .5 } }").ok()
    values = [p.value.value for p in model.neurons["A"].parameters]
    assert values == [sympy.Rational(3, 10), sympy.Rational(1, 1000), sympy.Integer(250), sympy.Rational(1, 2)]


# ---- synapses -------------------------------------------------------------------------------

STDP = """
    import "lif.snn"
    synapse STDP {
        parameters { tau_plus = 20 ms; A_plus = 0.01; w_max = 1 }
        state { w = uniform(0, 0.2) }
        pre  { dx/dt = -x / tau_plus }
        post { y = 0.5; dy/dt = -y / tau_plus }
        on_pre {
            I_syn_post += w * nA
            x += 1
            w = clip(w - A_plus * y, 0, w_max)
        }
        on_post { y += 1; w = clip(w + A_plus * x * v_pre / mV, 0, w_max) }
    }
    network n {
        population a = LIF(2)
        connect a -> a using STDP
    }
"""


def test_synapse_parameters_state_and_traces(specs):
    syn = specs.analyse(STDP).ok().synapses["STDP"]
    assert [p.name for p in syn.parameters] == ["tau_plus", "A_plus", "w_max"]
    assert syn.state[0].value.value.func.__name__ == "uniform"
    # a trace without a declaration starts at 0; a declared one at its value
    assert [(x.name, x.kind, x.value.value) for x in syn.pre] == [("x", "pre", 0)]
    assert [(x.name, x.kind, x.value.value) for x in syn.post] == [("y", "post", sympy.Rational(1, 2))]
    assert [o.var for o in syn.pre_odes] == ["x"] and [o.var for o in syn.post_odes] == ["y"]
    assert syn.pre_odes[0].rhs.value == -symbol("x") / symbol("tau_plus")


def test_synapse_events_and_pre_post_references(specs):
    syn = specs.analyse(STDP).ok().synapses["STDP"]
    assert [(st.target, st.op) for st in syn.on_pre] == [("I_syn_post", "+="), ("x", "+="), ("w", "=")]
    assert si(syn.on_pre[0].value.value) == w / 10**9
    assert [(st.target, st.op) for st in syn.on_post] == [("y", "+="), ("w", "=")]
    assert "v_pre" in syn.on_post[1].value.names


# ---- networks -------------------------------------------------------------------------------

NETWORK = """
    import "lif.snn"
    import "stdp.snn"
    network net {
        population exc = LIF(80) { v = uniform(-70 mV, -60 mV); tau_m = 10 ms; I_ext = 1 nA * (t >= 10 ms) }
        population inh = LIF(20)
        input drive = poisson(50, rate = 10 Hz)
        input cue = spike_times(indices = [0, 3, 1], times = [1, 2, 3] ms)
        input dvs = events(width = 4, height = 3)
        connect exc -> exc, inh { p = 0.02; if i != j; on_pre: I_syn_post += 1.5 nA }
        connect inh -> exc[0:20] { one_to_one; w = normal(1, 0.1); delay = 1 ms + 0.1 ms * j; on_pre: I_syn_post -= w * nA }
        connect drive -> exc using STDP { indegree = 5; delay = uniform(1 ms, 2 ms); w_max = 0.5; on_pre: I_syn_post += w * nA }
        connect cue -> inh { all_to_all; on_pre { I_syn_post += 1 nA } }
        monitor spikes of exc, inh[0:10], drive
        monitor v, I_syn of exc[1:9:2], inh[3] every 1 ms
    }
    simulate net { dt = 0.1 ms; duration = 1 s; seed = 42 }
    train learn {
        network = net
        method = bptt
        data = npz(file = "most active.npz", test_fraction = 0.25, seed = 0)
        optimizer = adam(lr = 1e-3)
        epochs = 3
        encode = poisson(steps = 25)
    }
"""


@pytest.fixture
def network_model(specs):
    return specs.analyse(NETWORK).ok()


def test_populations_with_sizes_and_overrides(network_model):
    exc, inh = network_model.networks["net"].populations
    assert (exc.name, exc.neuron, exc.size, inh.size) == ("exc", "LIF", 80, 20)
    overrides = {o.name: o.value.value for o in exc.overrides}
    assert set(overrides) == {"v", "tau_m", "I_ext"} and inh.overrides == ()
    assert quantity(overrides["tau_m"]) == (pytest.approx(0.01), SECOND)
    assert t in overrides["I_ext"].free_symbols


def test_inputs_and_their_sizes(network_model):
    drive, cue, dvs = network_model.networks["net"].inputs
    assert (drive.kind, drive.size) == ("poisson", 50)
    assert drive.spec.kwargs["rate"] == Number(value=10.0, dim=(0, 0, -1, 0, 0, 0, 0), is_int=False,
                                               loc=drive.spec.kwargs["rate"].loc)
    assert (cue.kind, cue.size) == ("spike_times", 4)  # the largest index + 1
    times = cue.spec.kwargs["times"]
    assert isinstance(times, ListValue)
    assert [(x.value, x.dim) for x in times.items] == [(pytest.approx(0.001), SECOND), (pytest.approx(0.002), SECOND),
                                                       (pytest.approx(0.003), SECOND)]
    assert (dvs.kind, dvs.size) == ("events", 24)  # two polarities of a 4 x 3 sensor


def test_connections_patterns_conditions_delays_and_weights(network_model):
    conns = {c.name: c for c in network_model.networks["net"].connections}
    assert list(conns) == ["exc_exc", "exc_inh", "inh_exc", "drive_exc", "cue_inh"]
    ee, ei = conns["exc_exc"], conns["exc_inh"]
    assert (ee.source, ee.target, ei.target) == ("exc", "exc", "inh")        # several targets
    assert ee.pattern == "probability" and ee.p.value == sympy.Rational(1, 50)
    assert ee.condition.value == sympy.Ne(symbol("i"), symbol("j"))
    ie = conns["inh_exc"]
    assert ie.pattern == "one_to_one" and si(ie.delay.value) == sympy.Rational(1, 1000) + symbol("j") / 10000
    weight = network_model.synapses[ie.synapse].state[0]
    assert weight.name == "w" and weight.value.value.func.__name__ == "normal"
    de = conns["drive_exc"]
    assert (de.pattern, de.indegree) == ("indegree", 5)
    assert de.delay.value.func.__name__ == "uniform"
    assert conns["cue_inh"].pattern == "all_to_all" and conns["cue_inh"].p is None


def test_a_connection_without_using_gets_its_own_synapse(network_model):
    ee = next(c for c in network_model.networks["net"].connections if c.name == "exc_exc")
    syn = network_model.synapses[ee.synapse]
    assert syn.state == () and [(st.target, st.op) for st in syn.on_pre] == [("I_syn_post", "+=")]
    assert si(syn.on_pre[0].value.value) == sympy.Rational(3, 2 * 10**9)


def test_using_a_synapse_with_extra_events_and_overrides(network_model):
    de = next(c for c in network_model.networks["net"].connections if c.name == "drive_exc")
    assert de.synapse != "STDP" and de.synapse.endswith("STDP")
    syn = network_model.synapses[de.synapse]
    base = network_model.synapses["STDP"]
    assert syn.on_pre[: len(base.on_pre)] == base.on_pre       # the rule's own events first
    assert syn.on_pre[-1].target == "I_syn_post"                # then the connection's
    assert [(o.name, float(si(o.value.value))) for o in de.overrides] == [("w_max", 0.5)]
    assert len(base.on_pre) == 2  # the library rule is left as it was


def test_monitors_with_slices_and_a_period(network_model):
    mons = network_model.networks["net"].monitors
    spikes = [(mo.population, mo.start, mo.stop, mo.step) for mo in mons if mo.kind == "spikes"]
    assert spikes == [("exc", None, None, None), ("inh", 0, 10, None), ("drive", None, None, None)]
    state = [(mo.population, mo.variables, mo.start, mo.stop, mo.step) for mo in mons if mo.kind == "state"]
    assert state == [("exc", ("v", "I_syn"), 1, 9, 2), ("inh", ("v", "I_syn"), 3, 4, None)]
    assert all(quantity(mo.every.value) == (pytest.approx(0.001), SECOND) for mo in mons if mo.kind == "state")


def test_simulate_settings_are_si_numbers(network_model):
    sim = network_model.simulations["net"]
    assert sim.values["dt"].value == pytest.approx(1e-4) and sim.values["dt"].dim == SECOND
    assert sim.values["duration"].value == 1.0
    assert sim.values["seed"].value == 42 and sim.values["seed"].is_int
    assert (sim.locs["dt"].line, sim.locs["dt"].column) == (16, 16)
    assert (sim.values["dt"].loc.line, sim.values["dt"].loc.column) == (16, 21)


def test_train_settings_are_words_calls_and_numbers(network_model):
    train = network_model.trainings["learn"].values
    assert train["network"] == Word(value="net", loc=train["network"].loc)
    assert train["method"].value == "bptt"
    assert isinstance(train["data"], Call) and train["data"].name == "npz"
    assert train["data"].kwargs["test_fraction"].value == 0.25
    assert train["optimizer"].kwargs["lr"].value == pytest.approx(1e-3)
    assert train["epochs"].value == 3 and train["epochs"].is_int
    assert isinstance(train["data"].kwargs["file"], Text) and train["data"].kwargs["file"].value == "most active.npz"
    assert train["encode"].kwargs["steps"].dim == DIMENSIONLESS


def test_anonymous_synapses_of_two_networks_do_not_overwrite_each_other(specs):
    model = specs.analyse("""
        import "lif.snn"
        synapse a_a { state { w = 3 } }
        network one { population a = LIF(2)\n connect a -> a { w = 1; on_pre: I_syn_post += w * nA } }
        network two { population a = LIF(2)\n connect a -> a { w = 2; on_pre: I_syn_post += w * nA } }
    """).ok()
    names = [net.connections[0].synapse for net in model.networks.values()]
    assert len(set(names)) == 2 and "a_a" not in names
    weights = sorted(model.synapses[n].state[0].value.value for n in names)
    assert weights == [1, 2] and model.synapses["a_a"].state[0].value.value == 3


def test_the_ir_serialises_to_json_with_sympy_strings(network_model):
    data = json.loads(network_model.model_dump_json())
    assert data["neurons"]["LIF"]["parameters"][0]["value"]["value"] == "s/50"
    assert data["networks"]["net"]["populations"][0]["size"] == 80
    tau = data["neurons"]["LIF"]["parameters"][0]
    assert tau["loc"] == {"file": tau["loc"]["file"], "line": tau["loc"]["line"], "column": tau["loc"]["column"]}
    assert "names" not in tau["value"]  # lowering's bookkeeping stays out of the JSON form


def test_validate_checks_every_node_against_the_schema(network_model):
    """The tests validate every model the front end makes (SNNLANG_VALIDATE_IR, tests/conftest.py):
    a field of the wrong type, or a word a Literal does not allow, deep in the model, is refused."""
    import pydantic

    from snnlang.frontend.model import Loc, validate

    validate(network_model)
    lif = network_model.neurons["LIF"]
    reset = lif.reset[0]
    wrong_op = lif.model_copy(update={"reset": (reset.model_copy(update={"op": "**="}),)})
    wrong_value = lif.model_copy(update={"reset": (reset.model_copy(update={"value": reset.value.model_copy(
        update={"value": 0.0})}),)})
    wrong_place = lif.model_copy(update={"loc": ("spec.snn", 1, 1)})  # a tuple, not a Loc
    for neuron in (wrong_op, wrong_value, wrong_place):
        bad = network_model.model_copy(update={"neurons": {"LIF": neuron}})
        with pytest.raises(pydantic.ValidationError):
            validate(bad)
    validate(network_model.model_copy(update={"neurons": {"LIF": lif.model_copy(update={"loc": Loc("a.snn", 2, 3)})}}))


def test_the_tests_make_frozen_nodes(network_model):
    """Nodes are never changed once made; under the tests a change raises (docs/architecture.md)."""
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        network_model.neurons["LIF"].reset[0].op = "-="
    with pytest.raises(AttributeError):  # a place is a named tuple
        network_model.neurons["LIF"].loc.line = 3


# ---- imports --------------------------------------------------------------------------------

def test_import_from_the_standard_library(specs):
    model = specs.analyse('import "izhikevich.snn"\nimport "stdp.snn"').ok()
    assert set(model.neurons) == {"Izhikevich"} and {"STDP", "BriefSTDP"} <= set(model.synapses)


def test_import_relative_to_the_importing_file(specs):
    specs.write("models/cells.snn", 'import "more/extra.snn"\nneuron Cell { state { v = 0 } }')
    specs.write("models/more/extra.snn", "neuron Extra { state { v = 0 } }")
    model = specs.analyse('import "models/cells.snn"').ok()
    assert set(model.neurons) == {"Cell", "Extra"}
    assert model.neurons["Extra"].loc.file == "models/more/extra.snn"


def test_a_local_file_named_like_a_library_file_imports_the_library(specs):
    model = specs.analyse('import "lif.snn"\nneuron Mine { state { v = 0 } }', name="lif.snn").ok()
    assert set(model.neurons) == {"LIF", "Mine"}


def test_an_import_cycle_loads_each_file_once(specs):
    specs.write("a.snn", 'import "b.snn"\nneuron A { state { v = 0 } }')
    specs.write("b.snn", 'import "a.snn"\nneuron B { state { v = 0 } }')
    result = specs.analyse('import "a.snn"\nimport "b.snn"\nimport "a.snn"')
    assert set(result.ok().neurons) == {"A", "B"} and result.diags.items == []


def test_the_spec_hash_covers_imported_files(specs):
    specs.write("cell.snn", "neuron A { parameters { k = 1 } }")
    first = specs.analyse('import "cell.snn"').ok().spec_hash
    specs.write("cell.snn", "neuron A { parameters { k = 2 } }")
    assert specs.analyse('import "cell.snn"').ok().spec_hash != first


def test_connections_between_slices_of_populations(specs):
    model = specs.analyse("""
        import "lif.snn"
        network n {
            population cells = LIF(100)
            connect cells[0:80] -> cells[80:], cells[3] { on_pre: I_syn_post += 1 nA }
        }
    """).ok()
    to_rest, to_one = model.networks["n"].connections
    assert (to_rest.source_range, to_rest.target_range) == ((0, 80), (80, None))
    assert (to_one.source_range, to_one.target_range) == ((0, 80), (3, 4))


def _language_examples() -> list[str]:
    from pathlib import Path
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text(encoding="utf-8")
    return re.findall(r"```snn\n(.*?)```", text, re.S)


@pytest.mark.parametrize("example", _language_examples())
def test_every_example_of_the_language_reference_checks_clean(specs, example):
    result = specs.analyse(example)
    assert result.errors == [] and result.warnings == []
    assert result.model is not None


def test_the_language_reference_has_examples():
    assert len(_language_examples()) >= 8


def test_overrides_see_the_model_variables_before_units(specs):
    """A gating variable named m is the variable m in an override, not the metre."""
    model = specs.analyse('import "hh.snn"\nnetwork n { population p = HodgkinHuxley(2) { h = m * 0.5 } }').ok()
    (override,) = model.networks["n"].populations[0].overrides
    assert override.value.value == symbol("m") / 2


def test_arithmetic_on_a_zero_quantity_keeps_its_unit(specs):
    model = specs.analyse("neuron A { parameters { a = 0 mV/ms; b = -0 nA; c = (0 mV)**2; d = 2 * 0 mV; "
                          "e = 0 uA/cm**2 } }").ok()
    dims = {p.name: dimension(p.value.value, lambda _: None) for p in model.neurons["A"].parameters}
    assert dims == {"a": dim(kg=1, m=2, s=-4, A=-1), "b": AMPERE, "c": tuple(2 * e for e in VOLT), "d": VOLT,
                    "e": dim(A=1, m=-2)}
    assert all(si(p.value.value) == 0 for p in model.neurons["A"].parameters)


def test_a_sum_with_a_zero_of_another_unit_is_an_error(specs):
    result = specs.analyse("neuron A { state { v = 0 mV }\n equations { dv/dt = (v + 0 ms) / ms } }")
    assert result.errors in (["spec.snn:2:22: dimension mismatch: cannot add V and s"],
                             ["spec.snn:2:22: dimension mismatch: cannot add s and V"])
