"""Every diagnostic of the front end, at its exact place (file:line:col), and the check command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from snnlang.cli import main

ROOT = Path(__file__).resolve().parent.parent

LIF = """
neuron LIF {
    parameters { tau = 20 ms; v_th = -50 mV }
    state { v = -65 mV; I_syn = 0 nA }
    inputs { I_ext = 0 nA }
    equations { dv/dt = -v / tau   unless refractory }
    spike when v >= v_th
    reset { v = -65 mV }
    refractory 2 ms
}
"""


def errors_of(specs, text: str) -> list[str]:
    return specs.analyse(text).errors


# ---- syntax errors --------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("neuron A {\n  parameters { a = 1 } state { v = 0 }\n}",
     "spec.snn:2:24: syntax error: unexpected 'state'; expected ';', '}' or a new line"),
    ("neuron A {\n  parameters { a = 1 +\n  }\n}",
     "spec.snn:2:23: syntax error: unexpected new line; expected an expression"),
    ("neuron A { parameters { a = 1 mV mV } }",
     "spec.snn:1:34: syntax error: unexpected 'mV'; expected ';', '}', a new line or an operator"),
    ("neuron A { spike v > 1 }",
     "spec.snn:1:18: syntax error: unexpected 'v'; expected 'when'"),
    ("neurn A { }",
     "spec.snn:1:1: syntax error: unexpected 'neurn'; expected 'import', 'network', 'neuron', "
     "'simulate', 'synapse', 'train', a new line or the end of the file"),
    ("simulate s { dt = 1 ms",
     "spec.snn:1:23: syntax error: unexpected end of file; expected ';', '}', a new line or an operator"),
    ("simulate s { dt = 1 ms\n\n",
     "spec.snn:1:23: syntax error: unexpected end of file; expected ';', 'method', '}', a name or a new line"),
    ("network n { connect a -> { p = 1 } }",
     "spec.snn:1:26: syntax error: unexpected '{'; expected a name"),
    ("import lif.snn",
     "spec.snn:1:8: syntax error: unexpected 'lif'; expected a string"),
    ("neuron A { parameters { a = 2 ^ 3 } }",
     "spec.snn:1:31: syntax error: unexpected character '^' (a power is written **); "
     "expected ';', '}', a name, a new line or an operator"),
    ('neuron A { parameters { a = "x } }',
     "spec.snn:1:29: syntax error: a string must end with '\"' on the same line"),
    ("neuron A {\n\tparameters { a = $ }\n}",
     "spec.snn:2:19: syntax error: unexpected character '$'; expected an expression"),
])
def test_syntax_errors_say_where_and_what_was_expected(specs, text, expected):
    assert errors_of(specs, text) == [expected]


def test_a_file_that_is_not_utf8(specs):
    result = specs.analyse(b"neuron A { }\n\xff\xfe")
    assert result.errors == ["spec.snn:1:1: the file is not UTF-8 text (invalid start byte at byte 13)"]


def test_a_missing_spec_file(specs):
    from snnlang.frontend import analyse

    model, diags = analyse("nowhere.snn")
    assert model is None
    assert [f"{d.loc}: {d.message}" for d in diags.errors] == [
        "nowhere.snn:1:1: cannot read 'nowhere.snn': No such file or directory"]


# ---- units and names ------------------------------------------------------------------------

def test_unknown_unit_with_did_you_mean(specs):
    assert errors_of(specs, "neuron A { parameters { tau = 20 msec; g = 1 nS; c = 3 mv } }") == [
        "spec.snn:1:34: unknown unit 'msec' (did you mean 'ms'?)",
        "spec.snn:1:56: unknown unit 'mv' (did you mean 'mV'?)",
    ]


def test_undefined_name_with_did_you_mean(specs):
    assert errors_of(specs, "neuron A {\n  parameters { tau = 1 ms }\n  state { v = 0 }\n"
                            "  equations { dv/dt = -v / tua + zzz / ms }\n}") == [
        "spec.snn:4:28: undefined name 'tua' in neuron 'A' (did you mean 'tau'?)",
        "spec.snn:4:34: undefined name 'zzz' in neuron 'A'",
    ]


def test_undefined_target_of_a_statement(specs):
    assert errors_of(specs, "neuron A {\n  state { v = 0 }\n  reset { vv = 0 }\n}") == [
        "spec.snn:3:11: undefined name 'vv' in neuron 'A' (did you mean 'v'?)"]


def test_duplicate_definitions(specs):
    assert errors_of(specs, "neuron A {\n  parameters { tau = 1 ms }\n  state { tau = 0 }\n}\n"
                            "neuron A { }") == [
        "spec.snn:3:11: duplicate definition of 'tau' (first defined at line 2)",
        "spec.snn:5:8: duplicate definition of neuron 'A' (first defined at spec.snn:1:8)",
    ]


def test_duplicate_population_and_setting(specs):
    assert errors_of(specs, LIF + "network n {\n  population a = LIF(1)\n  input a = poisson(2, rate = 1 Hz)\n}\n"
                                  "simulate n { dt = 0.1 ms; dt = 0.2 ms }") == [
        "spec.snn:12:9: duplicate population 'a' (first defined at line 11)",
        "spec.snn:14:27: 'dt' is set twice (first at line 14)",
    ]


def test_assignment_to_a_parameter_an_alias_or_a_builtin(specs):
    assert errors_of(specs, """
        neuron A {
            parameters { th = 1 mV }
            state { v = 0 mV }
            equations { z = v * 2 }
            reset { th = 0 mV; z = 0 mV; t = 0 ms; v = 0 mV }
        }
    """) == [
        "spec.snn:5:13: cannot assign to parameter 'th' in reset",
        "spec.snn:5:24: cannot assign to algebraic definition 'z' in reset",
        "spec.snn:5:34: cannot assign to built-in name 't' in reset",
    ]


def test_an_equation_needs_a_state_variable(specs):
    assert errors_of(specs, "neuron A {\n  parameters { p = 1 }\n  state { v = 0 }\n"
                            "  equations { dp/dt = 1/ms; dq/dt = 1/ms; dv/dt = 1/ms; dv/dt = 2/ms }\n}") == [
        "spec.snn:4:15: dp/dt: 'p' is a parameter; an equation needs a state variable",
        "spec.snn:4:29: dq/dt: 'q' is not declared; an equation needs a state variable",
        "spec.snn:4:57: a second equation for 'v' (first at line 4)",
    ]


def test_a_cycle_among_algebraic_definitions_is_reported_once(specs):
    assert errors_of(specs, "neuron A {\n  equations {\n    x = y + 1\n    y = z * 2\n    z = x\n    ok = 3\n  }\n}") == [
        "spec.snn:3:5: cycle among algebraic definitions: x -> y -> z -> x"]


def test_functions_that_are_not_allowed(specs):
    assert errors_of(specs, "neuron A { parameters { a = expp(1); b = exp(1, 2); c = exp(x = 1) } }") == [
        "spec.snn:1:29: 'expp' is not a function a spec may call (did you mean 'exp'?)",
        "spec.snn:1:42: exp() takes 1 argument, not 2",
        "spec.snn:1:57: exp() takes its arguments by position",
    ]


def test_values_that_are_not_finite(specs):
    assert errors_of(specs, "neuron A { parameters { a = 1/0; b = log(0); c = 1e400; d = 1e200 * 1e200 } }") == [
        "spec.snn:1:30: division by zero",
        "spec.snn:1:38: this expression has no finite real value (a division by zero, log(0), "
        "or the root of a negative number)",
        "spec.snn:1:50: number 1e400 is out of range",
        "spec.snn:1:61: a number in this expression is out of range (from 1e-300 to 1e300 in SI units)",
    ]


def test_lists_and_logic_in_expressions(specs):
    assert errors_of(specs, "neuron A { parameters { a = [1, 2]; b = 1 and 2 } }") == [
        "spec.snn:1:29: a list is not allowed in an expression; lists are values of settings such as times = [1, 2] ms",
        "spec.snn:1:41: 'and' combines conditions such as v > 0, not a number",
    ]


def test_random_functions_where_they_are_not_allowed(specs):
    assert errors_of(specs, """
        neuron A {
            parameters { k = rand() }
            state { v = normal(0, 1); n = 0 }
            equations { dv/dt = randn() / ms; z = rand() }
            spike when v > rand()
            reset { v = uniform(0, 1) }
            update { n = n + rand() }
        }
    """) == [
        "spec.snn:1:8: neuron 'A' has both equations and update; use one of them",
        "spec.snn:2:22: random functions are not allowed in parameter defaults (use them in a population's "
        "overrides); use them in initial values, weights, delays or update statements",
        "spec.snn:4:25: random functions are not allowed in equations; use them in initial values, weights, "
        "delays or update statements",
        "spec.snn:4:43: random functions are not allowed in algebraic definitions; use them in initial values, "
        "weights, delays or update statements",
        "spec.snn:5:16: random functions are not allowed in spike conditions; use them in initial values, "
        "weights, delays or update statements",
        "spec.snn:6:17: random functions are not allowed in a reset; use them in initial values, weights, "
        "delays or update statements",
    ]


# ---- dimensions -----------------------------------------------------------------------------

def test_dimension_mismatch_in_an_ode(specs):
    assert errors_of(specs, "neuron A {\n  parameters { tau = 10 ms }\n  state { v = 0 mV }\n"
                            "  equations { dv/dt = -v }\n}") == [
        "spec.snn:4:23: dimension mismatch: dv/dt is in V/s but the right side is in V"]


def test_dimension_mismatch_inside_an_expression_names_both_units(specs):
    assert errors_of(specs, "neuron A {\n  parameters { tau = 10 ms }\n  state { v = 0 mV }\n"
                            "  equations { dv/dt = (v + tau) / tau }\n}") == [
        "spec.snn:4:23: dimension mismatch: cannot add s and V"]


def test_dimension_mismatch_in_reset_update_and_threshold(specs):
    assert errors_of(specs, """
        neuron A {
            state { v = 0 mV; n = 0 }
            spike when v > 1 ms
            reset { v = 0 nA; n += 1 mV; v *= 2 mV }
        }
        neuron B {
            state { x = 0 }
            update { x = x + 1 ms }
        }
    """) == [
        "spec.snn:3:16: dimension mismatch: cannot compare V and s",
        "spec.snn:4:17: dimension mismatch: 'v' is in V but the right side is in A",
        "spec.snn:4:28: dimension mismatch: 'n' is in 1 (dimensionless) but the right side is in V",
        "spec.snn:4:39: dimension mismatch: the factor of 'v *=' is in 1 (dimensionless) but the right side is in V",
        "spec.snn:8:18: dimension mismatch: cannot add 1 (dimensionless) and s",
    ]


def test_dimension_of_refractory_periods(specs):
    assert errors_of(specs, "neuron A { refractory 2 mV }\nneuron B { refractory 2 ms steps }\n"
                            "neuron C { refractory -1 ms }\nneuron D { refractory 2.5 steps }") == [
        "spec.snn:1:23: dimension mismatch: a refractory period is in s but the right side is in V",
        "spec.snn:2:23: dimension mismatch: a refractory period in steps is in 1 (dimensionless) "
        "but the right side is in s",
        "spec.snn:3:23: a refractory period must be at least 0, not -0.001",
        "spec.snn:4:23: a refractory period in steps must be a whole number, not 2.5",
    ]


def test_dimension_mismatch_in_connections(specs):
    assert errors_of(specs, LIF + """
network n {
    population a = LIF(10)
    connect a -> a { w = 2 nA; p = 1 ms; delay = 3 mV; on_pre: v_post += w }
    connect a -> a { on_pre: I_syn_post += 1 }
}""") == [
        "spec.snn:13:36: dimension mismatch: a connection probability is in 1 (dimensionless) but the right side is in s",
        "spec.snn:13:50: dimension mismatch: a delay is in s but the right side is in V",
        "spec.snn:13:74: dimension mismatch: 'v_post' is in V but the right side is in A",
        "spec.snn:14:44: dimension mismatch: 'I_syn_post' is in A but the right side is in 1 (dimensionless)",
    ]


def test_dimension_mismatch_in_a_synapse_event_and_an_override(specs):
    assert errors_of(specs, LIF + """
synapse Syn {
    state { w = 1 }
    on_pre { I_syn_post += w }
}
network n {
    population a = LIF(10) { v = 3 nA; tau = 1 ms * (t > 0 ms) }
    connect a -> a using Syn { w = 1 mV }
}""") == [
        "spec.snn:13:28: dimension mismatch: 'I_syn_post' is in A but the right side is in 1 (dimensionless)",
        "spec.snn:16:34: dimension mismatch: 'v' is in V but the right side is in A",
        "spec.snn:16:54: 'tau' is a parameter, set once at the start; only an input is evaluated every step "
        "and may follow the time t",
        "spec.snn:17:36: dimension mismatch: 'w' is in 1 (dimensionless) but the right side is in V",
    ]


def test_dimension_mismatch_in_settings(specs):
    assert errors_of(specs, LIF + """
network n {
    input d = poisson(5, rate = 3 ms)
    input c = spike_times(indices = [0, 1], times = [1, 2] mV)
    population a = LIF(1)
    monitor v of a every 2 mV
}
simulate n { dt = 1 Hz; duration = 0 s }""") == [
        "spec.snn:12:33: dimension mismatch: rate is in Hz but the value is in s",
        "spec.snn:13:53: dimension mismatch: a spike time is in s but the value is in V",
        "spec.snn:15:26: dimension mismatch: a monitor period is in s but the right side is in V",
        "spec.snn:17:19: dimension mismatch: dt is in s but the value is in Hz",
        "spec.snn:17:36: duration must be positive",
    ]


# ---- networks -------------------------------------------------------------------------------

def test_unknown_population_neuron_and_synapse(specs):
    assert errors_of(specs, LIF + """
network n {
    population a = LIF(10)
    population b = LIFF(3)
    input x = poisson(3, rate = 1 Hz)
    connect a -> bb using STDPP
    connect aa -> a
    connect a -> x
    monitor v of c
    monitor v of x
}""") == [
        "spec.snn:13:20: unknown neuron model 'LIFF' (did you mean 'LIF'?)",
        "spec.snn:15:18: unknown population 'bb' (did you mean 'b'?)",
        "spec.snn:15:27: unknown synapse model 'STDPP'",
        "spec.snn:16:13: unknown population 'aa' (did you mean 'a'?)",
        "spec.snn:17:18: unknown population 'x' (an input can only be a source)",
        "spec.snn:18:18: unknown population 'c'",
        "spec.snn:19:18: 'x' is an input; only its spikes can be monitored",
    ]


def test_a_post_name_the_target_neuron_lacks(specs):
    assert errors_of(specs, LIF + """
network n {
    population a = LIF(10)
    input x = poisson(3, rate = 1 Hz)
    connect a -> a { on_pre: I_synn_post += 1 nA }
    connect x -> a { on_pre: I_syn_post += 1 nA * v_pre / mV }
}""") == [
        "spec.snn:14:30: 'I_synn_post': neuron 'LIF' of population 'a' has no variable 'I_synn' (did you mean 'I_syn'?)",
        "spec.snn:15:51: 'v_pre': 'x' is an input, not a population of neurons; it has no 'v'",
    ]


def test_overrides_of_variables_a_model_lacks(specs):
    assert errors_of(specs, LIF + """
synapse S { parameters { g = 1 } }
network n {
    population a = LIF(10) { tauu = 1 ms }
    connect a -> a using S { gg = 2 }
}""") == [
        "spec.snn:13:30: neuron 'LIF' has no parameter, state or input 'tauu' (did you mean 'tau'?)",
        "spec.snn:14:30: synapse 'S' has no parameter or state 'gg' (did you mean 'g'?)",
    ]


def test_sizes_patterns_and_selections(specs):
    assert errors_of(specs, LIF + """
network n {
    population a = LIF(0)
    population b = LIF(4)
    connect b -> b { indegree = 2.5; ring }
    monitor spikes of b[4], b[2:9], b[3:1], b[::0]
}""") == [
        "spec.snn:12:24: a population size must be a whole number from 1 to 2147483647, not 0",
        "spec.snn:14:33: indegree must be a whole number from 1 to 2147483647, not 5/2",
        "spec.snn:14:38: unknown connection pattern 'ring'; use all_to_all, one_to_one, p = ..., indegree = ... or if ...",
        "spec.snn:15:23: index 4 is outside population 'b' of size 4",
        "spec.snn:15:29: the slice ends at 9, beyond population 'b' of size 4",
        "spec.snn:15:37: the slice 3:1 selects no neuron",
        "spec.snn:15:45: a slice step must be at least 1",
    ]


def test_connection_slices(specs):
    assert errors_of(specs, LIF + """
network n {
    population b = LIF(4)
    connect b[2:9] -> b[1::2]
}""") == [
        "spec.snn:13:13: [2:9] is not a slice of 'b' (size 4)",
        "spec.snn:13:28: a connection takes a contiguous slice: [start:stop]",
    ]


def test_inputs(specs):
    assert errors_of(specs, """
network n {
    input a = poison(3, rate = 1 Hz)
    input b = poisson(rate = 1 Hz)
    input c = poisson(3)
    input d = spike_times(indices = [0, 1], times = [1 ms])
}""") == [
        "spec.snn:2:15: unknown input kind 'poison'; inputs are poisson(...), spike_times(...), events(...), poisson_drive(...) "
        "(did you mean 'poisson'?)",
        "spec.snn:3:15: poisson() needs its size first: poisson(100, rate = 10 Hz)",
        "spec.snn:4:15: poisson() needs rate = ... (in Hz)",
        "spec.snn:5:15: spike_times() has 2 indices but 1 times",
    ]


# ---- simulate and train ---------------------------------------------------------------------

def test_simulate_settings(specs):
    assert errors_of(specs, LIF + "network n { population a = LIF(1) }\n"
                                  "simulate m { dt = 0.1 ms; seed = -1; stepz = 3; steps = 2.5 }") == [
        "spec.snn:11:10: unknown network 'm'",
        "spec.snn:11:34: seed must be a whole number from 0 to 18446744073709551615",
        "spec.snn:11:38: unknown simulate setting 'stepz' (did you mean 'steps'?)",
        "spec.snn:11:57: steps must be a whole number from 1 to 2147483647",
    ]


def test_train_settings(specs):
    assert errors_of(specs, "network n { }\ntrain t { network = nn; method = bpt; epoch = 3; batch = 0 }\n"
                            "train u { }") == [
        "spec.snn:2:21: unknown network 'nn' (did you mean 'n'?)",
        "spec.snn:2:34: unknown training method 'bpt'; choose bptt, stdp or convert (did you mean 'bptt'?)",
        "spec.snn:2:39: unknown train setting 'epoch' (did you mean 'epochs'?)",
        "spec.snn:2:58: batch must be a whole number from 1 to 2147483647",
        "spec.snn:3:7: train needs network = <name of a network>",
        "spec.snn:3:7: train needs method = bptt, stdp or convert",
    ]


#: The LIF integrated by forward Euler: the dt warning is for approximate schemes only
#: (an exact propagator is exact at any dt).
LIF_EULER = LIF.replace("    spike when", "    method euler\n    spike when")


def test_dt_warning_names_the_smallest_time_constant(specs):
    result = specs.analyse(LIF_EULER + """
network n {
    population a = LIF(10) { tau = 4 ms }
    population b = LIF(10)
}
simulate n { dt = 0.5 ms; duration = 1 s }""")
    assert result.errors == []
    assert result.warnings == [
        "spec.snn:16:19: dt = 0.5 ms is more than a tenth of the smallest time constant, tau = 4 ms "
        "(neuron 'LIF', integrated by euler); results may be inaccurate"]
    exact = specs.analyse(LIF + "network n { population a = LIF(10) { tau = 4 ms } }\n"
                                "simulate n { dt = 0.5 ms; duration = 1 s }")
    assert exact.warnings == []  # the exact propagator: no warning


def test_no_dt_warning_when_dt_is_small_enough(specs):
    result = specs.analyse(LIF_EULER + "network n { population a = LIF(1) }\nsimulate n { dt = 3 ms; duration = 1 s }")
    assert [w for w in result.warnings if "dt = 3 ms" in w]  # 3 ms > 20 ms / 10
    result = specs.analyse(LIF_EULER + "network n { population a = LIF(1) }\nsimulate n { dt = 2 ms; duration = 1 s }")
    assert result.warnings == [] and result.model is not None


def test_one_to_one_between_groups_of_different_sizes_warns(specs):
    result = specs.analyse(LIF + "network n {\n  population a = LIF(5)\n  population b = LIF(8)\n"
                                 "  connect a -> b[0:5], b { one_to_one }\n}")
    assert result.errors == []
    assert result.warnings == ["spec.snn:13:3: one_to_one: the source has 5 neurons and the target 8; "
                               "only the first 5 are connected"]


def test_other_warnings(specs):
    result = specs.analyse("neuron A {\n  state { v = 0 }\n  equations { dv/dt = -v / ms unless refractory }\n"
                           "  reset { v = 0 }\n}")
    assert result.errors == [] and result.model is not None
    assert result.warnings == [
        "spec.snn:3:15: 'unless refractory' has no effect: neuron 'A' has no refractory period",
        "spec.snn:4:11: neuron 'A' has a reset but no 'spike when' condition",
    ]


# ---- imports --------------------------------------------------------------------------------

def test_a_missing_import_with_did_you_mean(specs):
    assert errors_of(specs, '# imports\nimport "lifx.snn"\n  import "nothing/here.snn"') == [
        "spec.snn:2:1: cannot find 'lifx.snn' beside this file or in the standard library (did you mean 'lif.snn'?)",
        "spec.snn:3:3: cannot find 'nothing/here.snn' beside this file or in the standard library",
    ]


def test_a_file_importing_itself(specs):
    assert errors_of(specs, 'import "spec.snn"') == ["spec.snn:1:1: 'spec.snn' imports itself"]


def test_errors_in_an_imported_file_are_reported_at_their_place(specs):
    specs.write("cells.snn", "neuron A {\n  state { v = 0 mV }\n  reset { v = 1 nA }\n}")
    specs.write("broken.snn", "neuron B {")
    assert errors_of(specs, 'import "cells.snn"\nimport "broken.snn"') == [
        "broken.snn:1:11: syntax error: unexpected end of file; expected ';', 'equations', 'inputs', 'method', "
        "'parameters', 'refractory', 'reset', 'spike', 'state', 'update', '}' or a new line",
        "cells.snn:3:15: dimension mismatch: 'v' is in V but the right side is in A",
    ]


def test_a_definition_clashing_with_an_imported_one(specs):
    library = ROOT / "snnlang" / "stdlib" / "lif.snn"
    assert errors_of(specs, 'import "lif.snn"\nneuron LIF { }') == [
        f"spec.snn:2:8: duplicate definition of neuron 'LIF' (first defined at {library}:3:8)"]


# ---- rendering and the command line ----------------------------------------------------------

def test_a_diagnostic_renders_with_the_source_line_and_a_caret(specs):
    result = specs.analyse("neuron A {\n\tparameters { tau = 20 msec }\n}")
    assert result.diags.render() == (
        "spec.snn:2:24: error: unknown unit 'msec' (did you mean 'ms'?)\n"
        "    \tparameters { tau = 20 msec }\n"
        "    \t                      ^")


def test_control_characters_of_a_spec_do_not_reach_the_terminal(specs):
    result = specs.analyse("neuron A { \x1b[2J }")
    rendered = result.diags.render()
    assert "\x1b" not in rendered and "'\\x1b'" in rendered
    assert rendered.splitlines()[1] == "    neuron A { ?[2J }"


VALID = LIF + "network n { population a = LIF(2) }\nsimulate n { dt = 0.1 ms; duration = 10 ms }\n"


def test_check_exits_0_on_valid_specs(specs, capsys):
    specs.write("a.snn", VALID)
    assert main(["check", "a.snn", str(ROOT / "specs" / "cuba.snn")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: a.snn") and err == ""


def test_check_reports_every_error_of_every_file_and_exits_1(specs, capsys):
    specs.write("good.snn", VALID)
    specs.write("one.snn", "neuron A {\n  parameters { a = 1 mv; b = 2 sec }\n}")
    specs.write("two.snn", 'import "lif.snn"\nnetwork n { population p = LIFF(2)\n population q = LIF(0) }')
    assert main(["check", "one.snn", "good.snn", "two.snn"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line for line in err.splitlines() if not line.startswith("    ")]
    assert lines == [
        "one.snn:2:22: error: unknown unit 'mv' (did you mean 'mV'?)",
        "one.snn:2:32: error: unknown unit 'sec' (did you mean 'second'?)",
        "two.snn:2:28: error: unknown neuron model 'LIFF' (did you mean 'LIF'?)",
        "two.snn:3:21: error: a population size must be a whole number from 1 to 2147483647, not 0",
    ]
    assert "\n     population q = LIF(0) }\n                        ^" in err


def test_check_as_a_command(specs):
    specs.write("bad.snn", "neuron A { parameters { x = 1 mv } }")
    specs.write("good.snn", VALID)
    ok = subprocess.run([sys.executable, "-m", "snnlang", "check", "good.snn"], capture_output=True, text=True,
                        cwd=specs.root, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "ok: good.snn\n", "")
    bad = subprocess.run([sys.executable, "-m", "snnlang", "check", "good.snn", "bad.snn"], capture_output=True,
                         text=True, cwd=specs.root, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == ("bad.snn:1:31: error: unknown unit 'mv' (did you mean 'mV'?)\n"
                          "    neuron A { parameters { x = 1 mv } }\n"
                          "                                  ^\n")


def test_check_into_a_closed_pipe_ends_quietly(specs):
    """``snnlang check --emit-ir spec.snn | head``: the reader goes away; the command ends with
    141 (as a shell reports SIGPIPE), printing no traceback (its models are not freed one by one,
    snnlang.cli.entry, and nothing is flushed into the closed pipe)."""
    specs.write("many.snn", "neuron A { parameters {\n" + "".join(f"    p{k} = {k} mV\n" for k in range(3000)) + "} }\n")
    proc = subprocess.Popen([sys.executable, "-m", "snnlang", "check", "--emit-ir", "many.snn"], cwd=specs.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()  # (the JSON is far larger than a pipe holds: the command is still writing)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err, err


def test_check_emits_the_ir_as_json(specs, capsys):
    import json

    specs.write("a.snn", VALID)
    assert main(["check", "--emit-ir", "a.snn"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["neurons"]["LIF"]["parameters"][0]["value"]["value"] == "s/50"


def test_every_shipped_spec_checks_clean(capsys):
    specs = sorted(str(p) for p in (ROOT / "specs").glob("*.snn"))
    stdlib = sorted(str(p) for p in (ROOT / "snnlang" / "stdlib").glob("*.snn"))
    assert main(["check", *specs, *stdlib]) == 0
    assert capsys.readouterr().err == ""


TIME_CONSTANT_SPEC = """
    import "stdp.snn"
    neuron Cuba {
        parameters { tau_m = -20 ms; tau_e = 0 ms; tau_i = 10 ms; tau_s = -1 ms; t_ref = 2 ms; E_l = -49 mV }
        state { v = E_l; ge = 0 mV; gi = 0 mV; q = 0 mV }
        equations {
            dv/dt  = (ge + gi - (v - E_l)) / tau_m
            dge/dt = -ge / tau_e
            dgi/dt = -gi / tau_i
            dq/dt  = v / tau_s
        }
        spike when v > -50 mV
        reset { v = E_l }
        refractory t_ref
    }
    network n {
        population a = Cuba(4) { tau_i = -5 ms; tau_e = 3 ms }
        population b = Cuba(4) { tau_i = 2 * 5 ms }
        connect a -> b using STDP { p = 0.5; tau_minus = 0 ms; on_pre: ge_post += w * mV }
    }
    simulate n { dt = 0.1 ms; duration = 10 ms }
"""


def test_non_positive_time_constants_are_errors_at_their_values(specs):
    """A parameter in seconds that divides a variable's decay rate (d(dx/dt)/dx) is a time
    constant: zero or negative is an error at the default or override that gives it. tau_s
    divides dq/dt but not q's own decay (q does not decay): not a time constant."""
    found = specs.analyse(TIME_CONSTANT_SPEC)
    flagged = [e for e in found.errors if "time constant" in e]
    assert flagged == [
        "spec.snn:3:26: tau_m = -20 ms, but it is a time constant of v in neuron 'Cuba': it must be positive",
        "spec.snn:3:42: tau_e = 0 ms, but it is a time constant of ge in neuron 'Cuba': it must be positive",
        "spec.snn:16:38: tau_i = -5 ms, but it is a time constant of gi in neuron 'Cuba': it must be positive",
        "spec.snn:18:54: tau_minus = 0 ms, but it is a time constant of y in synapse 'STDP': it must be positive",
    ]
    assert found.errors == flagged  # nothing else is wrong with the spec


def test_positive_time_constants_and_other_parameters_pass(specs):
    fixed = (TIME_CONSTANT_SPEC.replace("tau_m = -20 ms", "tau_m = 20 ms").replace("tau_e = 0 ms", "tau_e = 5 ms")
             .replace("tau_i = -5 ms", "tau_i = 5 ms").replace("tau_minus = 0 ms", "tau_minus = 30 ms"))
    specs.analyse(fixed).ok()


def test_time_constants_of_a_network_for_run_time_values(specs):
    """What `snnlang run --set` checks its values against: the plan's parameter keys."""
    from snnlang.plan.validate import refuse_non_positive, time_constants

    model = specs.analyse(TIME_CONSTANT_SPEC.replace("-20 ms", "20 ms").replace("= 0 ms", "= 5 ms")
                          .replace("-5 ms", "5 ms")).ok()
    found = time_constants(model)
    assert sorted(found) == ["a.tau_e", "a.tau_i", "a.tau_m", "a_b.tau_minus", "a_b.tau_plus",
                             "b.tau_e", "b.tau_i", "b.tau_m"]
    assert found["a_b.tau_minus"] == "a time constant of y in synapse 'STDP'"
    assert refuse_non_positive(found, {"a.tau_m": -0.02, "b.tau_m": 0.0, "a.tau_i": 1e-3, "a.E_l": -0.07,
                                       "a.t_ref": -1.0, "b.tau_e": None}) == [
        "a.tau_m = -20 ms, but it is a time constant of v in neuron 'Cuba': it must be positive",
        "b.tau_m = 0 ms, but it is a time constant of v in neuron 'Cuba': it must be positive",
    ]


# ---- the check is linear in the length of a spec (benchmarks/check_time.py --large times it) ------------

def _lines_run(path) -> int:
    """Lines of snnlang's own code executed to check a spec: a count of its work that does not
    depend on the machine's speed (a loop over earlier connections counts once per pass)."""
    from snnlang.frontend import analyse

    package = str(ROOT / "snnlang")
    count = 0

    def local(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename.startswith(package) else None)
    try:
        model, diags = analyse(path)
    finally:
        sys.settrace(None)
    assert model is not None, diags.render()
    return count


def _repeated_connects(n: int) -> str:
    return ('import "lif.snn"\nnetwork many {\n    population a = LIF(10)\n'
            + "    connect a -> a { p = 0.1; on_pre: I_syn_post += 0.5 nA }\n" * n
            + "}\nsimulate many { dt = 0.1 ms; duration = 10 ms }\n")


def _connected_populations(n: int) -> str:
    return ('import "lif.snn"\nnetwork many {\n'
            + "".join(f"    population p{k} = LIF(2)\n" for k in range(n))
            + "".join(f"    connect p{k} -> p{k} {{ p = 0.5; on_pre: I_syn_post += 0.5 nA }}\n" for k in range(n))
            + "}\nsimulate many { dt = 0.1 ms; duration = 10 ms }\n")


def _parameters(n: int) -> str:
    return ("neuron Many {\n    parameters {\n" + "".join(f"        p{k} = {k} mV\n" for k in range(n))
            + "    }\n    state { v = 0 mV }\n    equations { dv/dt = -v / (10 ms) }\n}\n")


@pytest.mark.parametrize("spec", [_repeated_connects, _connected_populations, _parameters])
def test_checking_twice_the_lines_is_twice_the_work(specs, spec):
    """Repeated connect lines were quadratic (each connection's name was searched from a_a
    through every earlier a_a_k; each connection copied the sizes of every population): twice
    the lines were 3 times the work at 300 lines, and 20,000 lines took minutes."""
    small, large = (_lines_run(specs.write(f"spec{n}.snn", spec(n)).name) for n in (300, 600))
    assert 1.8 < large / small < 2.3


def test_connections_between_the_same_populations_are_named_in_order(specs):
    """Each connection gets the first free name of a_a, a_a_2, ... in its network, and its own
    synapse model the first name free among every network's synapse models (as before the
    search for names became linear)."""
    connect = "    connect a -> a { p = 0.1; on_pre: I_syn_post += 0.5 nA }\n"
    using = "    connect a -> a using Static { p = 0.1; on_pre: I_syn_post += w * nA }\n"
    model = specs.analyse('import "lif.snn"\nimport "static.snn"\n'
                          "network one {\n    population a = LIF(10)\n" + connect * 2 + using + connect + "}\n"
                          "network two {\n    population a = LIF(10)\n" + connect + using + connect + "}\n").ok()
    named = {n: [(c.name, c.synapse) for c in net.connections] for n, net in model.networks.items()}
    assert named == {
        "one": [("a_a", "a_a"), ("a_a_2", "a_a_2"), ("a_a_3", "a_a_3__Static"), ("a_a_4", "a_a_4")],
        "two": [("a_a", "a_a_3"), ("a_a_2", "a_a_2__Static"), ("a_a_3", "a_a_3_2")],
    }


def test_quantities_are_built_as_sympy_would_build_them():
    """A number times a unit is put together without SymPy's general product (the costliest
    part of lowering a long list of quantities); it must be the very expression SymPy builds."""
    import sympy

    from snnlang.frontend import units
    from snnlang.frontend.dims import unit_expr
    from snnlang.frontend.lower import _times_unit

    magnitudes = [sympy.Integer(k) for k in (1, -1, 2, 1000, -3000, 10**12)]
    magnitudes += [sympy.Rational(1, 1000), sympy.Rational(-3, 7), sympy.Rational(10**9, 3)]
    checked = 0
    for name in units.unit_names():
        unit = unit_expr(name)
        for m in magnitudes:
            built, expected = _times_unit(m, unit), m * unit
            assert built == expected and sympy.srepr(built) == sympy.srepr(expected), (name, m)
            checked += 1
    assert checked > 500
    assert sympy.srepr(_times_unit(sympy.S.Zero, unit_expr("mV"))) == sympy.srepr(
        sympy.Mul(sympy.S.Zero, unit_expr("mV"), evaluate=False))  # a zero keeps its unit
