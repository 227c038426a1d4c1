"""Parse: the grammar's constructs become the syntax trees that lower expects."""
from __future__ import annotations

import lark
import pytest

from snnlang.frontend.diagnostics import Diagnostics
from snnlang.frontend.parse import parse


def tree(text: str) -> lark.Tree:
    diags = Diagnostics()
    result = parse(text, "t.snn", diags)
    assert result is not None and not diags.items, diags.render()
    return result


def syntax_error(text: str) -> str:
    diags = Diagnostics()
    assert parse(text, "t.snn", diags) is None
    (d,) = diags.items
    return f"{d.loc}: {d.message}"


def expr(text: str) -> lark.Tree:
    """The tree of one expression (the value of a parameter)."""
    decl = tree(f"neuron A {{ parameters {{ x = {text} }} }}").children[0].children[1].children[0]
    return decl.children[1]


def shape(node) -> object:
    """A tree as nested tuples: (rule, children...), tokens as their text."""
    if isinstance(node, lark.Tree):
        return (node.data, *[shape(c) for c in node.children])
    return None if node is None else str(node)


# ---- the file ----------------------------------------------------------------------------

def test_an_empty_file_and_blank_lines_and_comments_are_a_valid_spec():
    assert tree("").children == []
    assert tree("\n\n# only a comment\n   \n").children == []


def test_top_level_items_in_order():
    t = tree('import "lif.snn"\nneuron A { }\nsynapse S { }\nnetwork n { }\nsimulate n { }\ntrain t { }\n')
    assert [c.data for c in t.children] == ["import_stmt", "neuron", "synapse", "network", "simulate", "train"]
    assert str(t.children[0].children[0]) == '"lif.snn"'


def test_statements_end_at_a_newline_or_a_semicolon():
    one_line = tree("neuron A { parameters { a = 1; b = 2 }; state { v = 0 } }")
    lines = tree("neuron A {\n  parameters {\n    a = 1\n    b = 2\n  }\n\n  state { v = 0 }\n}\n")
    assert shape(one_line) == shape(lines)


def test_separators_may_lead_and_trail_in_a_block():
    t = tree("neuron A { ;\n parameters { ; a = 1 ;; } ; }")
    assert shape(t.children[0]) == ("neuron", "A", ("parameters", ("decl", "a", ("number", "1"))))


def test_windows_line_endings_and_a_backslash_continuation():
    t = tree("neuron A {\r\n  parameters {\r\n    a = 1 + \\\r\n        2\r\n  }\r\n}\r\n")
    assert shape(expr("1 + 2")) == shape(t.children[0].children[1].children[0].children[1])


def test_a_newline_ends_an_expression():
    assert "unexpected new line; expected an expression" in syntax_error("neuron A { parameters { a = 1 +\n 2 } }")


# ---- neurons --------------------------------------------------------------------------------

NEURON = """
neuron LIF {
    parameters { tau = 20 ms; v_th = -50 mV }
    state { v = uniform(-60 mV, -50 mV); w = 0 }
    inputs { I = 0 mV/ms }
    equations {
        dv/dt = -v / tau + I   unless refractory
        dw/dt = -w / tau
        drive = I * tau
    }
    spike when v >= v_th
    reset { v = 0 mV; w += 1; w -= 0.5; w *= 2; w /= 3 }
    refractory 2 ms
    method euler
}
"""


def test_neuron_sections():
    neuron = tree(NEURON).children[0]
    assert str(neuron.children[0]) == "LIF"
    assert [c.data for c in neuron.children[1:]] == [
        "parameters", "state", "inputs", "equations", "spike", "reset", "refractory", "method"]


def test_declarations_are_a_name_and_an_expression():
    params = tree(NEURON).children[0].children[1]
    assert [shape(d) for d in params.children] == [
        ("decl", "tau", ("quantity", "20", "ms")),
        ("decl", "v_th", ("unary", "-", ("quantity", "50", "mV"))),
    ]


def test_odes_with_and_without_unless_refractory_and_an_algebraic_definition():
    equations = tree(NEURON).children[0].children[4]
    dv, dw, alias = equations.children
    assert dv.data == "ode" and str(dv.children[0]) == "dv/dt" and dv.children[2] is not None
    assert dv.children[2].data == "unless"
    assert dw.data == "ode" and dw.children[2] is None
    assert shape(alias) == ("alias", "drive", ("binop", ("name", "I"), "*", ("name", "tau")))


def test_reset_statements_keep_their_operator():
    reset = tree(NEURON).children[0].children[6]
    assert [(s.data, str(s.children[0])) for s in reset.children] == [
        ("assign", "v"), ("stmt", "w"), ("stmt", "w"), ("stmt", "w"), ("stmt", "w")]
    assert [str(s.children[1]) for s in reset.children[1:]] == ["+=", "-=", "*=", "/="]


def test_refractory_in_time_and_in_steps():
    in_time = tree("neuron A { refractory t_ref }").children[0].children[1]
    in_steps = tree("neuron A { refractory 5 steps }").children[0].children[1]
    assert shape(in_time) == ("refractory", ("name", "t_ref"), None)
    assert shape(in_steps) == ("refractory", ("number", "5"), "steps")


def test_discrete_update_and_method():
    neuron = tree("neuron S { update { v = v * decay + I }\n method rk4 }").children[0]
    assert shape(neuron.children[1]) == (
        "update", ("assign", "v", ("binop", ("binop", ("name", "v"), "*", ("name", "decay")), "+", ("name", "I"))))
    assert shape(neuron.children[2]) == ("method", "method", "rk4")


def test_a_derivative_is_one_token_without_spaces():
    assert "unexpected '/'" in syntax_error("neuron A { equations { dv / dt = 1 } }")


def test_an_alias_may_start_with_d():
    eq = tree("neuron A { equations { dx = 1; dt_half = 2 } }").children[0].children[1]
    assert [c.data for c in eq.children] == ["alias", "alias"]


@pytest.mark.parametrize("name", ["pre", "post", "state", "spike", "reset", "input", "inputs", "update",
                                  "refractory", "method", "steps", "when", "every", "using", "of", "unless"])
def test_section_keywords_are_names_in_a_block_after_a_separator(name):
    params = tree(f"neuron A {{ parameters {{ a = 1; {name} = 2 }}\n equations {{ b = a + {name} }} }}")
    decl = params.children[0].children[1].children[1]
    assert str(decl.children[0]) == name


# ---- synapses -------------------------------------------------------------------------------

def test_synapse_sections_and_event_blocks():
    syn = tree("""
        synapse STDP {
            parameters { tau = 20 ms }
            state { w = 0.5 }
            pre { dx/dt = -x / tau }
            post { y = 0; dy/dt = -y / tau }
            on_pre { I_post += w; x += 1 }
            on_post: y += 1
        }
    """).children[0]
    assert [c.data for c in syn.children[1:]] == [
        "parameters", "state", "pre_traces", "post_traces", "on_pre", "on_post"]
    assert [c.data for c in syn.children[4].children] == ["decl", "ode"]
    assert shape(syn.children[6]) == ("on_post", ("stmt", "y", "+=", ("number", "1")))
    assert [str(s.children[0]) for s in syn.children[5].children] == ["I_post", "x"]


# ---- networks -------------------------------------------------------------------------------

def test_population_with_and_without_overrides():
    net = tree("network n {\n population a = LIF(10) { v = 1 mV; I = 2 nA }\n population b = LIF(N_b)\n}").children[0]
    a, b = net.children[1:]
    assert shape(a) == ("population", "a", "LIF", ("number", "10"),
                        ("decl", "v", ("quantity", "1", "mV")), ("decl", "I", ("quantity", "2", "nA")))
    assert shape(b) == ("population", "b", "LIF", ("name", "N_b"))


def test_inputs_are_calls():
    net = tree("network n { input x = poisson(100, rate = 10 Hz) }").children[0]
    assert shape(net.children[1]) == ("input", "x", ("call", ("name", "poisson"), ("number", "100"),
                                                     ("kwarg", "rate", ("quantity", "10", "Hz"))))


def test_connect_with_targets_synapse_and_items():
    conn = tree("""
        network n {
            connect a -> b, c using STDP { one_to_one; p = 0.1; if i != j; w = uniform(0, 1)
                                           on_pre: I_post += w; on_post { w += 1 } }
        }
    """).children[0].children[1]
    source, targets, using, *items = conn.children
    assert shape(source) == ("selection", "a", None)
    assert [shape(t) for t in targets.children] == [("selection", "b", None), ("selection", "c", None)]
    assert str(using) == "STDP"
    assert [i.data for i in items] == ["pattern", "decl", "condition", "decl", "on_pre", "on_post"]
    assert shape(items[2]) == ("condition", ("compare", ("name", "i"), "!=", ("name", "j")))


def test_connect_without_synapse_or_block():
    conn = tree("network n { connect a -> b }").children[0].children[1]
    assert shape(conn) == ("connect", ("selection", "a", None), ("targets", ("selection", "b", None)), None)


def test_connect_between_slices():
    conn = tree("network n { connect a[0:10] -> b[5], c }").children[0].children[1]
    assert shape(conn.children[0]) == ("selection", "a", ("slice", "0", "10", None))
    assert [shape(t) for t in conn.children[1].children] == [
        ("selection", "b", ("single", "5")), ("selection", "c", None)]


def test_monitors_with_selections_and_period():
    net = tree("network n {\n monitor spikes of a, b[0:10], c[5], d[::2], e[1:]\n monitor v, w of a every 1 ms\n}")
    spikes, state = net.children[0].children[1:]
    names, *selections, every = spikes.children
    assert shape(names) == ("names", "spikes") and every is None
    assert [shape(s) for s in selections] == [
        ("selection", "a", None), ("selection", "b", ("slice", "0", "10", None)),
        ("selection", "c", ("single", "5")), ("selection", "d", ("slice", None, None, "2")),
        ("selection", "e", ("slice", "1", None, None))]
    assert shape(state.children[0]) == ("names", "v", "w")
    assert shape(state.children[-1]) == ("every", ("quantity", "1", "ms"))


def test_simulate_and_train_hold_settings():
    t = tree("simulate n { dt = 0.1 ms; duration = 1 s }\n"
             "train t { method = bptt; optimizer = adam(lr = 1e-3); data = digits() }")
    sim, train = t.children
    assert [str(d.children[0]) for d in sim.children[1:]] == ["dt", "duration"]
    assert shape(train.children[1]) == ("decl", "method", ("name", "bptt"))
    assert shape(train.children[3]) == ("decl", "data", ("call", ("name", "digits"), None))


# ---- expressions ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a + b * c", ("binop", ("name", "a"), "+", ("binop", ("name", "b"), "*", ("name", "c")))),
    ("a - b - c", ("binop", ("binop", ("name", "a"), "-", ("name", "b")), "-", ("name", "c"))),
    ("a / b / c", ("binop", ("binop", ("name", "a"), "/", ("name", "b")), "/", ("name", "c"))),
    ("2 ** 3 ** 2", ("pow", ("number", "2"), ("pow", ("number", "3"), ("number", "2")))),
    ("-2 ** 2", ("unary", "-", ("pow", ("number", "2"), ("number", "2")))),
    ("2 ** -1", ("pow", ("number", "2"), ("unary", "-", ("number", "1")))),
    ("(a + b) * c", ("binop", ("binop", ("name", "a"), "+", ("name", "b")), "*", ("name", "c"))),
    ("not a > b", ("not_", ("compare", ("name", "a"), ">", ("name", "b")))),
    ("a > 1 and b < 2 or c == 3", ("or_", ("and_", ("compare", ("name", "a"), ">", ("number", "1")),
                                           ("compare", ("name", "b"), "<", ("number", "2"))),
                                   ("compare", ("name", "c"), "==", ("number", "3")))),
    ("2 ms ** 2", ("pow", ("quantity", "2", "ms"), ("number", "2"))),   # a quantity binds tightest
    ("10 mV/ms", ("binop", ("quantity", "10", "mV"), "/", ("name", "ms"))),
    ("0.04/ms/mV * v**2", ("binop", ("binop", ("binop", ("number", "0.04"), "/", ("name", "ms")), "/", ("name", "mV")),
                           "*", ("pow", ("name", "v"), ("number", "2")))),
    ("[1, 2] ms", ("quantity", ("list", ("number", "1"), ("number", "2")), "ms")),
    ("clip(w, 0, 1)", ("call", ("name", "clip"), ("name", "w"), ("number", "0"), ("number", "1"))),
    ("rand()", ("call", ("name", "rand"), None)),
])
def test_expression_precedence(text, expected):
    assert shape(expr(text)) == expected


@pytest.mark.parametrize("text, token", [
    ("1", "INT"), ("10", "INT"), ("1.", "NUMBER"), (".5", "NUMBER"), ("0.25", "NUMBER"),
    ("1e-3", "NUMBER"), ("2E+4", "NUMBER"), ("3.5e2", "NUMBER"),
])
def test_number_tokens(text, token):
    assert expr(text).children[0].type == token


def test_comparisons_do_not_chain():
    assert "unexpected '<'" in syntax_error("neuron A { parameters { x = a < b < c } }")


def test_positions_are_kept_on_trees_and_tokens():
    t = tree("\n\nneuron A {\n  parameters { tau = 20 ms }\n}")
    decl = t.children[0].children[1].children[0]
    assert (decl.children[0].line, decl.children[0].column) == (4, 16)
    assert (decl.children[1].meta.line, decl.children[1].meta.column) == (4, 22)
