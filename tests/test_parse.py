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


# ---- the fast driver of Lark's tables (frontend/lalr.py) gives Lark's own trees --------------------

import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

from snnlang.frontend.lalr import Refused  # noqa: E402
from snnlang.frontend.parse import fast_parser, parser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPEC_FILES = sorted({*ROOT.glob("specs/**/*.snn"), *ROOT.glob("tests/specs/**/*.snn"), *ROOT.glob("snnlang/stdlib/*.snn")})
_TOKEN_FIELDS = ("type", "value", "start_pos", "line", "column", "end_line", "end_column", "end_pos")


def assert_same_tree(expected, got, path="start") -> int:
    """The fast parser's tree is Lark's: rules, tokens (type, text, start and end positions) and
    each subtree's start position (line, column, offset; or none, as Lark gives an empty rule).
    Returns how many tokens were compared."""
    if isinstance(expected, lark.Tree):
        assert isinstance(got, lark.Tree) and got.data == expected.data, (path, expected, got)
        assert len(got.children) == len(expected.children), (path, expected, got)
        assert got.meta.empty == expected.meta.empty, path
        if not expected.meta.empty:
            assert (got.meta.line, got.meta.column, got.meta.start_pos) == (
                expected.meta.line, expected.meta.column, expected.meta.start_pos), (path, expected.data)
        return sum(assert_same_tree(e, g, f"{path}/{expected.data}[{k}]")
                   for k, (e, g) in enumerate(zip(expected.children, got.children)))
    if isinstance(expected, lark.Token):
        assert isinstance(got, lark.Token), (path, expected, got)
        assert [getattr(got, f) for f in _TOKEN_FIELDS] == [getattr(expected, f) for f in _TOKEN_FIELDS], path
        return 1
    assert expected is None and got is None, (path, expected, got)
    return 0


def lark_and_fast(text: str):
    """Lark's tree and the fast parser's, or None for each that refuses the text."""
    try:
        expected = parser().parse(text)
    except lark.exceptions.UnexpectedInput:
        expected = None
    try:
        got = fast_parser().parse(text)
    except Refused:
        got = None
    return expected, got


def test_the_fast_parser_gives_larks_trees_tokens_and_positions_on_every_spec():
    assert len(SPEC_FILES) > 40
    tokens = 0
    for path in SPEC_FILES:
        expected, got = lark_and_fast(path.read_text(encoding="utf-8-sig"))
        assert expected is not None and got is not None, path
        tokens += assert_same_tree(expected, got)
    assert tokens > 4000


TRICKY = """\
neuron Words {  # keywords where a name is expected are names (Lark's contextual lexer)
    parameters { pre = 1; post = 2; state = 3 ms; steps = 4; spike = .5; when = 1.; every = 2E-3; of = 1e+3 }
    state { v = 0 mV }
    inputs { I = 0 mV/ms }
    equations {
        dv/dt = -v / (20 ms) + I + 0 * dv/dt * pre \\
            + state / (state ** 2) * 1 mV	# a tab, a continued line
        method = v * 2 # an alias named method
    }\r
    spike when v >= 1 mV and not (v < 0 mV) or v == 2 mV
    reset { v = 0 mV; v -= 1 mV }\x0c
    refractory 2 steps as brian2
    method rk4
}
synapse S { parameters { w = 1 }; pre { dx/dt = -x / (5 ms) }; on_pre: v_post += w * mV; on_post { w *= 2 } }
network n {
    J = 0.5 mV;; K = 2 * J
    population a = Words(10) { steps = 2 }
    input p = poisson(5, rate = 10 Hz, counts = true)
    connect a[0:5] -> a[5:], a using S { p = 0.1; delay = [1, 2] ms; if i != j; one_to_one; on_pre: v_post += J }
    connect p -> a { from_file("x.npz") }
    monitor v, spikes of a[::2], a[3] every 1 ms
}
simulate n { dt = 0.1 ms; duration = 1 s; seed = 3; files = ["a", "b"]; opt = adam(lr = 1e-3, b = [1, 2]) }
"""


def test_the_fast_parser_reads_keywords_as_names_numbers_and_blanks_as_lark_does():
    expected, got = lark_and_fast(TRICKY)
    assert expected is not None and got is not None
    assert assert_same_tree(expected, got) > 100
    names = [t for t in got.scan_values(lambda v: isinstance(v, lark.Token)) if t.type == "NAME"]
    assert {"pre", "post", "state", "steps", "spike", "when", "every", "of", "method"} <= {str(t) for t in names}


_PIECE = re.compile(r"[ \t]+|[A-Za-z_][A-Za-z0-9_]*|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|\*\*|[-+*/<>=!]=|->|.", re.S)


def mutated(rng: random.Random, text: str, pieces: list, near: Optional[int] = None) -> str:
    """``text`` with one to three pieces (names, numbers, operators, blanks...) deleted,
    repeated, swapped or replaced by one of ``pieces``; near the ``near``-th piece if given."""
    parts = _PIECE.findall(text)
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(parts)) if near is None else min(len(parts) - 1, near + rng.randrange(20))
        how = rng.randrange(4)
        if how == 0:
            del parts[k]
        elif how == 1:
            parts.insert(k, parts[k])
        elif how == 2:
            j = rng.randrange(len(parts)) if near is None else k + 1 - rng.randrange(3)
            parts[k], parts[j % len(parts)] = parts[j % len(parts)], parts[k]
        else:
            parts[k] = rng.choice(pieces)
    return "".join(parts)


SMALL_SPECS = [p.read_text(encoding="utf-8") for p in SPEC_FILES if p.stat().st_size < 4000]
PIECES = sorted({t for text in SMALL_SPECS for t in _PIECE.findall(text)}) + ["\r\n", "\\\n", "#", '"', "1.", ".5"]


def test_the_fast_parser_accepts_and_refuses_what_lark_does_on_mutated_specs():
    """Specs with pieces deleted, repeated, swapped or replaced by others (keywords, numbers,
    brackets, blanks, new lines): both parsers refuse the same texts, and give the same trees
    for the others."""
    rng = random.Random(12)
    accepted = refused = 0
    for _ in range(600):
        expected, got = lark_and_fast(mutated(rng, rng.choice(SMALL_SPECS), PIECES))
        assert (expected is None) == (got is None)
        if expected is None:
            refused += 1
        else:
            accepted += 1
            assert_same_tree(expected, got)
    assert accepted > 100 and refused > 100


def test_the_fast_parser_refuses_at_once_what_is_not_in_the_language():
    """(parse() then asks Lark, whose errors the diagnostics quote: see the syntax errors above)"""
    for text in ("neuron {", "neuron A { parameters { a = 1 + } }", "neuron A { $ }", "network n { connect a -> }",
                 'import "x', "neuron A { equations { dv / dt = 1 } }"):
        with pytest.raises(Refused):
            fast_parser().parse(text)
        assert syntax_error(text).startswith("t.snn:")


def test_the_names_parse_reports_are_every_name_and_derivative_of_the_tree():
    names: list = []
    t = parse(TRICKY, "t.snn", Diagnostics(), names)
    in_tree = [v for v in t.scan_values(lambda v: isinstance(v, lark.Token) and v.type in ("NAME", "DERIV"))]
    assert sorted(map(id, names)) == sorted(map(id, in_tree)) and len(names) > 50
    assert [n.start_pos for n in names] == sorted(n.start_pos for n in names)  # in the order of the text


def test_the_benchmark_generates_lines_that_are_all_different_and_check():
    """benchmarks/check_time.py --large: no two lines alike (nothing keyed on a line's text can
    do the work once for all), and the specs are valid."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import check_time
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    for make in check_time.LARGE.values():
        text = make(2000)
        lines = [line for line in text.splitlines() if line.strip() not in ("}", "{")]
        assert len(lines) == len(set(lines)) > 2000
        diags = Diagnostics()
        assert parse(text, "t.snn", diags) is not None and not diags.items


# ---- traces: the fast parser replays the shape of a line where it comes back (lalr.py) ------------

from snnlang.frontend import lalr  # noqa: E402
from snnlang.frontend.parse import _NAMES  # noqa: E402


def traced_parser(p: Optional[lark.Lark] = None) -> lalr.FastParser:
    """A fast parser (of the language's grammar, or of ``p``'s) that records and replays traces
    in any text (by default only in long ones)."""
    fast = lalr.FastParser(p or parser())
    fast.trace_above = fast.record_after = fast.replays_per_trace = 0
    return fast


@pytest.fixture
def replays(monkeypatch) -> list:
    """[how many traces have been replayed] (by any fast parser, during the test)."""
    count = [0]
    replay = lalr._Trace.replay

    def counted(self, *args):
        got = replay(self, *args)
        count[0] += got is not None
        return got

    monkeypatch.setattr(lalr._Trace, "replay", counted)
    return count


def same_as_lark(text: str, fast: lalr.FastParser) -> bool:
    """Whether Lark accepts ``text``, after checking that ``fast`` accepts it too and gives Lark's
    tree, and the names and derivatives of that tree, in the order of the text (or refuses it)."""
    try:
        expected = parser().parse(text)
    except lark.exceptions.UnexpectedInput:
        expected = None
    names: list = []
    try:
        got = fast.parse(text, names, _NAMES)
    except lalr.Refused:
        got = None
    assert (expected is None) == (got is None), text
    if expected is None:
        return False
    assert_same_tree(expected, got)
    in_tree = list(got.scan_values(lambda v: isinstance(v, lark.Token) and v.type in _NAMES))
    assert [id(n) for n in names] == [id(n) for n in sorted(in_tree, key=lambda n: n.start_pos)]
    return True


_SHAPES = {  # lines of a network block, a neuron's parameters, a synapse's event block, equations
    "network": ["connect {a} -> {b} {{ p = {x}; on_pre: I_post += {y} {u} }}",
                "connect {a}[{i}:{j}] -> {b}, {a} using S {{ w = {x} {u}; if i != j; delay = [{i}, {j}] ms }}",
                "population {a} = LIF({i}) {{ v = {y} {u} }}",
                "{a} = {x} {u} * ({y} + {b}) ** 2",
                "monitor v, spikes of {a}, {b}[{i}] every {x} ms",
                "input {a} = poisson({i}, rate = {x} Hz, counts = true)"],
    "parameters": ["{a} = {x} {u}", "{a} = -{x} {u} / (1 + {b})", "{a} = {b}({x}, n = {i})",
                   "{a} = not {b} and {x} >= {y} or {b}.{a}[{i}]"],
    "on_pre": ["{a} += {x} * {b}", "{a} = clip({b} + {y} {u}, 0, {i})"],
    "equations": ["d{a}/dt = -{a} / ({x} ms) unless refractory", "{a} = {b} * {x}", "d{a}/dt = ({b} - {a}) / tau"],
}
_ENDS = ["\n", "\n", "\n", "\n\n", ";", "; ", "\r\n", "  # a comment\n", "\t# \n", " \\\n ;"]


def lines_of_shapes(rng: random.Random, n: int) -> str:
    """A spec of ``n`` lines in each kind of block (two blocks of parameters), each line mostly
    of one of two shapes (others now and then), with names, numbers, units, blanks, separators
    and comments of its own (names may be words that are keywords elsewhere, which the
    contextual lexer reads as names there)."""
    names = ["a", "b2", "x_y", "pre", "post", "w", "steps", "of", "every", "Exc"]

    def line(shapes: list) -> str:
        values = {"a": rng.choice(names), "b": rng.choice(names), "i": rng.randrange(1000), "j": rng.randrange(50),
                  "x": rng.choice(["1", "0.5", "2.", ".25", "1e-3", "3E+2", str(rng.random())]),
                  "y": rng.choice(["7", "0.125", "4.5e1"]), "u": rng.choice(["mV", "ms", "nA", "Hz"])}
        text = (rng.choice(shapes[:2]) if rng.random() < 0.8 else rng.choice(shapes)).format(**values)
        return text.replace(" ", rng.choice([" ", "  ", "\t"]), rng.randrange(3))

    def block(kind: str) -> str:
        shapes = rng.sample(_SHAPES[kind], len(_SHAPES[kind]))
        return "".join(line(shapes) + ("\n" if rng.random() < 0.8 else rng.choice(_ENDS)) for _ in range(n))

    return (f"neuron N {{\n  parameters {{\n{block('parameters')}  }}\n  equations {{\n{block('equations')}}}\n}}\n"
            f"synapse S {{ on_pre {{\n{block('on_pre')}}} }}\n"
            f"network net {{\n{block('network')}}}\n"
            f"neuron M {{ parameters {{\n{block('parameters')}}} }}\n")  # (the same states, others below)


def test_traces_give_larks_trees_on_lines_of_the_same_shapes_and_other_values(replays):
    fast = traced_parser()
    for seed in range(12):
        assert same_as_lark(lines_of_shapes(random.Random(seed), 40), fast)
    assert replays[0] > 500


def test_traces_give_larks_trees_on_every_spec_of_the_repository(replays):
    fast = traced_parser()
    for path in SPEC_FILES:
        assert same_as_lark(path.read_text(encoding="utf-8-sig"), fast), path
    assert replays[0] > 100


def test_traces_give_way_where_a_line_differs_from_them_midway(replays):
    """Lines of one shape, so that a trace is made of it, then one that begins as they do and
    differs later (another token, a keyword where a name was, a new line, an error...): the
    usual loop takes over there, and the trace applies again after it."""
    same = "".join(f"    connect a -> b{k} {{ p = 0.{k}; on_pre: I_post += {k} nA }}\n" for k in range(12))
    variants = ["connect a -> b { p = 0.5; on_pre: I_post -= 1 nA }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA * 2 }",
                "connect a -> b { p = 0.5; on_post: I_post += 1 nA }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA; }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA } # done",
                "connect a -> b { p = 0.5; if i != j }",
                "connect a -> b { p = 0.5; one_to_one; on_pre: x += 1 }",
                "connect a -> b { p = 0.5\n on_pre: I_post += 1 nA }",
                "connect a -> b { p = 0.5; on_pre: \\\n I_post += 1 nA }",
                "connect a -> b { p = 0.5; on_pre: from_file += 1 nA }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 using }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA }}",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA } connect a -> b",
                "connect a -> b { method = 0.5; on_pre: I_post += 1 nA }",
                "connect a -> b { if = 0.5; on_pre: I_post += 1 nA }",
                "connect a -> b { p = 0.5; on_pre: I_post += \"s\" nA }",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 nA }\r",
                "connect a -> b { p = 0.5; on_pre: I_post += 1 n$ }"]
    fast = traced_parser()
    accepted = 0
    for variant in variants:
        before = replays[0]
        ok = same_as_lark(f"network n {{\n{same}    {variant}\n{same}}}\n", fast)
        assert replays[0] - before > (18 if ok else 8)  # before the variant (and after it if accepted)
        accepted += ok
    assert 6 < accepted < len(variants) - 4
    assert same_as_lark(f"network n {{\n{same}    {same.strip()}}}", fast)  # the text ends after a line


def test_traces_accept_and_refuse_what_lark_does_on_mutated_lines(replays):
    """Specs of lines of the same shapes, mutated in their second half (where traces are made
    by then) as the specs above are."""
    rng = random.Random(5)
    accepted = refused = 0
    for _ in range(60):
        text = lines_of_shapes(rng, 12)
        pieces = len(_PIECE.findall(text))
        text = mutated(rng, text, PIECES, near=rng.randrange(pieces // 2, pieces))
        if same_as_lark(text, traced_parser()):
            accepted += 1
        else:
            refused += 1
    assert accepted > 10 and refused > 10 and replays[0] > 300


def test_a_trace_after_the_first_is_made_only_once_the_traces_made_have_been_replayed_enough(monkeypatch):
    made: list = []
    make = lalr._Trace.__init__

    def counted(self, *args):
        make(self, *args)
        made.append(self)

    monkeypatch.setattr(lalr._Trace, "__init__", counted)
    text = lines_of_shapes(random.Random(3), 40)
    fast = traced_parser()
    fast.replays_per_trace = 10**9
    assert same_as_lark(text, fast) and len(made) == 1
    made.clear()
    fast.replays_per_trace = 0
    assert same_as_lark(text, fast) and len(made) > 4


def test_long_specs_are_parsed_with_traces_by_default(replays):
    """(fast_parser(), as parse() uses it: traces in texts of FastParser.trace_above characters
    or more, a line recorded at most every FastParser.record_after characters)"""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import check_time
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    text = check_time.connect_lines(2000)
    assert len(text) > fast_parser().trace_above
    assert same_as_lark(text, fast_parser())
    assert replays[0] > 1500
    replays[0] = 0
    assert same_as_lark(check_time.parameter_lines(100), fast_parser())
    assert replays[0] == 0  # a short text: no traces


def test_traces_of_a_grammar_whose_strings_may_span_lines(replays):
    """A token of a type that may hold new lines ends a trace where it holds some: a trace of
    lines whose strings hold none does not apply where one does (its lines would be wrong)."""
    grammar = r"""
        start: (item | _NL)*
        item: NAME "=" STRING NAME
        NAME: /[a-z]+/
        STRING: /"[^"]*"/
        _NL: /(\r?\n)+/
        %ignore /[ \t\f]+/
    """
    p = lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)
    fast = traced_parser(p)
    same = "".join(f'a = "{k}" b\n' for k in range(10))
    text = f'{same}c = "x\ny" d\ne = "z" f\n{same}'
    assert_same_tree(p.parse(text), fast.parse(text))
    assert replays[0] > 12


@pytest.mark.parametrize("grammar, text", [
    (r"""
        start: _NL* (item _NL+)*
        ?item: "(" _elems ")" | NAME
        _elems: elem (_NL+ elem)*
        elem: _pre NAME [NAME]
        _pre: | "~"
    """, "(a b\nc\nd e)\n" * 4 + "(x)\n" + "(~a\n~b c\nd e)\n" * 3 + "(x\ny)\nz\n"),
    (r"""
        start: item*
        ?item: _opt _NL NAME ";"
        _opt: | "~"
    """, "~\na ;" * 3 + "\nb ;" * 6 + "~\nc ;" * 3),
])
def test_traces_of_a_grammar_whose_lists_go_on_over_lines(grammar, text, replays):
    """Lists that start on a line before a trace's, which its reductions spread into their
    parent (after the parent's other children, or into a ``?rule`` that a single kid may
    stand for: the trace ends there, as it cannot know how many kids there are)."""
    p = lark.Lark(grammar + r"""
        _NL: /(\r?\n)+/
        NAME: /[a-z]+/
        %ignore /[ \t\f]+/
    """, parser="lalr", propagate_positions=True, maybe_placeholders=True)
    assert_same_tree(p.parse(text), traced_parser(p).parse(text))
    assert replays[0] > 5
