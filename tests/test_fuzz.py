"""Fuzzing the front end: whatever the bytes of a spec, the result is diagnostics, never a
Python exception. Random bytes and text, truncated and mutated valid specs, and random
expressions go through ``analyse`` and through ``snnlang check``."""
from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from snnlang.cli import main
from snnlang.frontend import analyse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = [p.read_text(encoding="utf-8") for p in
          sorted((ROOT / "specs").glob("*.snn")) + sorted((ROOT / "snnlang" / "stdlib").glob("*.snn"))]
TOKEN = re.compile(r"\s+|[A-Za-z_][A-Za-z0-9_]*|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|\*\*|[-+*/<>=!]=|->|.", re.S)
TOKENS = sorted({t for text in CORPUS for t in TOKEN.findall(text)})
NASTY = ["__import__", "os.system", "(", ")", "[", "]", "{", "}", ",", ";", "\n", "1e999", "9" * 50, "0", "0 mV",
         "**", "-", "/", "dv/dt", "unless refractory", "steps", "uniform(", "rand()", "\"", "'", "\\", "\x00",
         "\u00b5", "\ufeff", "\r", "\t", "\x0c", "é", "#", "import \"lif.snn\"", "a.b", "x[0]", "1 and 2"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "spec.snn"


def front_end_survives(path: Path, data: bytes) -> None:
    """``analyse`` gives a model or diagnostics; every diagnostic has a place and renders."""
    path.write_bytes(data)
    model, diags = analyse(path)
    assert (model is None) == bool(diags.errors)
    for d in diags.items:
        assert d.loc.line >= 1 and d.loc.column >= 1 and d.message
    diags.render()
    if model is not None:
        model.model_dump_json()  # what check --emit-ir prints


def check_command_survives(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check", str(path)])
    assert status in (0, 1)
    assert "Traceback" not in err.getvalue()
    assert (status == 1) == (": error: " in err.getvalue())


@FAST
@given(data=st.binary(max_size=300))
@example(data=b"\xff\xfe\x00neuron")
@example(data=b"\xef\xbb\xbfneuron A { }")  # a UTF-8 byte-order mark
def test_random_bytes(spec_path, data):
    front_end_survives(spec_path, data)


@FAST
@given(text=st.text(max_size=300))
@example(text="neuron A { parameters { a = " + "(" * 5000 + "1" + ")" * 5000 + " } }")
@example(text="neuron A { parameters { a = " + "-" * 5000 + "1 } }")
@example(text="neuron A { parameters { a = " + " + ".join(["x"] * 3000) + " } }")
@example(text="neuron A { equations { " + "; ".join(f"a{k} = a{k + 1}" for k in range(3000)) + " } }")
@example(text="neuron A { parameters { a = 2**2**2**2**2**2; b = 1e300 * 1e300; c = 0**-1; d = log(0) } }")
def test_random_text(spec_path, text):
    front_end_survives(spec_path, text.encode("utf-8", "surrogatepass"))


@FAST
@given(index=st.integers(0, len(CORPUS) - 1), cut=st.floats(0, 1))
def test_truncated_valid_specs(spec_path, index, cut):
    text = CORPUS[index]
    front_end_survives(spec_path, text[: int(len(text) * cut)].encode())


def _mutate(text: str, edits, by_token: bool) -> str:
    parts = TOKEN.findall(text) if by_token else list(text)
    for kind, where, piece in edits:
        i = int(where * len(parts))
        if kind == "delete" and parts:
            del parts[min(i, len(parts) - 1)]
        elif kind == "insert":
            parts.insert(i, piece)
        elif parts:
            parts[min(i, len(parts) - 1)] = piece
    return "".join(parts)


EDITS = st.lists(st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.floats(0, 1),
                           st.one_of(st.sampled_from(TOKENS), st.sampled_from(NASTY), st.text(max_size=3))),
                 min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(CORPUS) - 1), edits=EDITS, by_token=st.booleans())
def test_mutated_valid_specs(spec_path, index, edits, by_token):
    text = _mutate(CORPUS[index], edits, by_token)
    front_end_survives(spec_path, text.encode("utf-8", "surrogatepass"))


@FAST
@given(index=st.integers(0, len(CORPUS) - 1), edits=EDITS)
def test_the_check_command_on_mutated_specs(spec_path, index, edits):
    text = _mutate(CORPUS[index], edits, by_token=True)
    check_command_survives(spec_path, text.encode("utf-8", "surrogatepass"))


# ---- random, grammatical expressions: odd combinations for SymPy and the dimension checker ----

ATOMS = st.sampled_from(["v", "w", "tau", "I", "t", "dt", "i", "j", "N", "pi", "0", "1", "2", "0.5", "1e-3", "1e300",
                         "1e-300", "0 mV", "1 mV", "20 ms", "3 nA", "5 Hz", "mV", "ms", "x_pre", "v_post", "rand()",
                         "randn()", "[1, 2]", "\"s\"", "true", "a.b", "f(1)"])
FUNCTIONS = ["exp", "log", "log10", "sqrt", "abs", "sin", "tanh", "floor", "ceil", "sign", "heaviside", "min", "max",
             "clip", "where", "uniform", "normal"]


def _combine(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**", "<", ">=", "==", "!=", "and", "or"]),
                       children).map(lambda t: f"{t[0]} {t[1]} {t[2]}")
    unary = st.tuples(st.sampled_from(["-", "not ", "("]), children).map(
        lambda t: f"({t[1]})" if t[0] == "(" else t[0] + t[1])
    call = st.tuples(st.sampled_from(FUNCTIONS), st.lists(children, max_size=3)).map(
        lambda t: f"{t[0]}({', '.join(t[1])})")
    return st.one_of(binary, unary, call)


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=8)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=st.lists(EXPRESSIONS, min_size=8, max_size=8))
def test_random_expressions_in_every_place(spec_path, e):
    text = f"""
neuron A {{
    parameters {{ tau = 10 ms; a = {e[0]} }}
    state {{ v = {e[1]}; w = 0 }}
    inputs {{ I = 0 mV/ms }}
    equations {{ dv/dt = {e[2]} unless refractory
                 z = {e[3]} }}
    spike when {e[4]}
    reset {{ v = {e[5]}; w += 1 }}
    refractory {e[6]}
}}
network n {{
    population p = A(3) {{ I = {e[7]} }}
    connect p -> p {{ p = {e[0]}; delay = {e[1]}; if {e[4]}; on_pre: v_post += {e[5]} }}
    monitor v of p every {e[2]}
}}
simulate n {{ dt = {e[3]}; duration = 1 s }}
"""
    front_end_survives(spec_path, text.encode())


def test_deep_recursion_limit_is_restored(spec_path):
    """Deeply nested input is reported, and leaves the interpreter as it found it."""
    limit = sys.getrecursionlimit()
    front_end_survives(spec_path, ("neuron A { parameters { a = " + "-" * 20000 + "1 } }").encode())
    assert sys.getrecursionlimit() == limit
