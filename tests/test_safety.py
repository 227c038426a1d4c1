"""A spec cannot run code: no Python name, attribute or call is reachable from spec text, and
the front end never hands text to eval, exec, sympify or parse_expr."""
from __future__ import annotations

import ast
import builtins
import sys
from pathlib import Path

import pytest
import sympy
import sympy.parsing.sympy_parser

from snnlang.frontend import analyse

ROOT = Path(__file__).resolve().parent.parent
FRONT_END = ["parse", "lower", "check", "dims", "units", "diagnostics", "functions", "frontend", "model"]


@pytest.mark.parametrize("text, message", [
    ('neuron A { parameters { a = __import__("os") } }', "'__import__': names starting or ending with '__' are reserved"),
    ("neuron A { parameters { a = __builtins__ } }", "'__builtins__': names starting or ending with '__' are reserved"),
    ("neuron A { parameters { a = x.__class__ } }", "attribute access ('.__class__') is not allowed in a spec"),
    ("neuron A { parameters { a = v.real } }", "attribute access ('.real') is not allowed in a spec"),
    ('neuron A { parameters { a = open("/etc/passwd") } }', "'open' is not a function a spec may call"),
    ('neuron A { parameters { a = eval("1") } }', "'eval' is not a function a spec may call"),
    ('neuron A { parameters { a = exec("1") } }', "'exec' is not a function a spec may call"),
    ("neuron A { parameters { a = getattr(x, y) } }", "'getattr' is not a function a spec may call"),
    ("neuron A { parameters { a = globals() } }", "'globals' is not a function a spec may call"),
    ("neuron A { parameters { a = sympify(x) } }", "'sympify' is not a function a spec may call"),
    ("neuron A { parameters { a = Symbol(x) } }", "'Symbol' is not a function a spec may call"),
    ('neuron A { parameters { a = os.system("rm") } }', "only the maths functions can be called"),
    ("neuron A { parameters { a = exp.__globals__ } }", "attribute access ('.__globals__') is not allowed in a spec"),
    ("neuron A { parameters { a = [exp][0](1) } }", "indexing is not allowed in an expression"),
    ("neuron A { parameters { a = [exp] } }", "a list is not allowed in an expression"),
    ("neuron A { parameters { a = exp(1)(2) } }", "only the maths functions can be called"),
    ("neuron A { parameters { a = x[0] } }", "indexing is not allowed in an expression"),
    ('neuron A { parameters { a = "__import__(\'os\')" } }', "a string is not allowed in an expression"),
    ("neuron __A__ { }", "'__A__': names starting or ending with '__' are reserved"),
    ("neuron A { state { __dict__ = 1 } }", "'__dict__': names starting or ending with '__' are reserved"),
    ("neuron A { state { v = 0 }\n reset { __x = 1 } }", "'__x': names starting or ending with '__' are reserved"),
    ('train t { network = n; method = bptt; optimizer = __import__("os") }',
     "'__import__': names starting or ending with '__' are reserved"),
    ("train t { network = n; method = bptt; optimizer = os.system(1) }",
     "only a named setting such as adam(...) can be called here"),
    ("train t { network = n; method = bptt; data = digits(__class__ = 1) }",
     "'__class__': names starting or ending with '__' are reserved"),
])
def test_python_is_out_of_reach(specs, text, message):
    result = specs.analyse(text)
    assert result.model is None
    assert any(e.split(": ", 1)[1].startswith(message) for e in result.errors), result.errors


@pytest.mark.parametrize("name", ["nan", "oo", "zoo", "E", "I", "Symbol", "Integer", "os", "sys", "self", "true"])
def test_names_sympy_or_python_know_are_plain_undefined_names(specs, name):
    result = specs.analyse(f"neuron A {{ equations {{ y = 1 + {name} }} }}")
    assert result.errors == [f"spec.snn:1:32: undefined name '{name}' in neuron 'A'"]


@pytest.mark.parametrize("name", ["lambda", "class", "None", "True", "import", "def", "in"])
def test_python_keywords_are_not_names(specs, name):
    result = specs.analyse(f"neuron A {{ parameters {{ x = 1; {name} = 2 }} }}")
    assert result.errors == [f"spec.snn:1:32: '{name}' is a reserved word (of Python, which the generated code is); "
                             "choose another name"]


@pytest.mark.parametrize("text, column", [
    ("network __n { }", 9),
    ("import \"lif.snn\"\nnetwork n { population __p = LIF(1) }", 24),
    ("network n { input __x = poisson(1, rate = 1 Hz) }", 19),
    ("neuron A { equations { d__v/dt = 1 } }", 24),
    ("network n { monitor spikes of __p }", 31),
    ("train t { network = n; method = bptt; data = digits(__class__ = 1) }", 53),
    ("simulate __main__ { }", 10),
])
def test_dunder_names_are_refused_everywhere(specs, text, column):
    result = specs.analyse(text)
    line = text.count("\n") + 1
    assert any(e.startswith(f"spec.snn:{line}:{column}: '__") and "are reserved" in e for e in result.errors), \
        result.errors


def _all_specs() -> list[Path]:
    return sorted((ROOT / "specs").glob("*.snn")) + sorted((ROOT / "snnlang" / "stdlib").glob("*.snn"))


KITCHEN_SINK = """
import "lif.snn"
import "stdp.snn"
neuron N {
    parameters { tau = 10 ms; a = 0.04/ms/mV; k = 2 * pi }
    state { v = normal(-65 mV, 2 mV); u = 0 }
    inputs { I = 0 mV/ms }
    equations {
        dv/dt = a * v**2 + (-v / tau) * (1 + sqrt(abs(u))) + I * where(v > 0 mV, 1, heaviside(u))  unless refractory
        du/dt = (clip(u, 0, 1) - u + log(1 + exp(-k))) / tau
        z = min(v, 0 mV) + max(v, -80 mV, -90 mV)
    }
    spike when v >= 30 mV and not u > 1 or v > 50 mV
    reset { v = -65 mV; u += 1 }
    refractory 2 ms
}
network net {
    population p = N(10) { I = 5 mV/ms * randn() + 1 mV/ms * (t >= 1 ms) }
    population q = LIF(5)
    input x = poisson(10, rate = 10 Hz)
    input y = spike_times(indices = [0, 1], times = [1, 2] ms)
    connect x -> p { p = 0.5; on_pre: v_post += 1 mV }
    connect p -> q using STDP { if i != j; delay = uniform(1 ms, 2 ms); on_pre: I_syn_post += w * nA }
    monitor spikes of p, x
    monitor v of p[0:5:2] every 1 ms
}
simulate net { dt = 0.1 ms; duration = 10 ms; seed = 1 }
"""


def test_lowering_never_calls_eval_exec_sympify_or_parse_expr(specs, monkeypatch):
    """Patch the dangerous entry points to fail, then lower every spec and a spec using every construct.

    SymPy calls its own ``sympify`` on SymPy objects all the time; what must never happen is
    text reaching it, so every binding of ``sympify`` (in every loaded module) fails on a string."""
    kitchen = specs.write("kitchen.snn", KITCHEN_SINK)
    paths = _all_specs() + [kitchen]
    for path in paths:  # warm up: lazy imports (which exec module code) happen before the patches
        assert analyse(path)[0] is not None, path

    calls: list[str] = []

    def forbidden(name):
        def guard(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called while lowering a spec")
        return guard

    original = sys.modules["sympy.core.sympify"].sympify

    def sympify_guard(a, *args, **kwargs):
        if isinstance(a, (str, bytes)):
            calls.append("sympify(str)")
            raise AssertionError("spec text reached sympify")
        return original(a, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden("eval"))
    monkeypatch.setattr(builtins, "exec", forbidden("exec"))
    monkeypatch.setattr(builtins, "compile", forbidden("compile"))
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", forbidden("parse_expr"))
    monkeypatch.setattr(sympy, "parse_expr", forbidden("parse_expr"), raising=False)
    for module in list(sys.modules.values()):
        if getattr(module, "sympify", None) is original:
            monkeypatch.setattr(module, "sympify", sympify_guard)
    assert sympy.sympify is sympify_guard

    for path in paths:
        model, diags = analyse(path)
        assert model is not None and not diags.errors, diags.render()
    assert calls == []


def test_the_guards_would_catch_a_call(monkeypatch):
    """The test above is not vacuous: the patched sympify refuses text."""
    original = sys.modules["sympy.core.sympify"].sympify
    monkeypatch.setattr(sympy, "sympify", lambda a, *r, **k: (_ for _ in ()).throw(AssertionError("text"))
                        if isinstance(a, str) else original(a, *r, **k))
    with pytest.raises(AssertionError):
        sympy.sympify("__import__('os')")


@pytest.mark.parametrize("module", FRONT_END)
def test_the_front_end_source_has_no_call_that_evaluates_text(module):
    tree = ast.parse((ROOT / "snnlang" / f"{module}.py").read_text(encoding="utf-8"))
    banned = {"eval", "exec", "compile", "sympify", "parse_expr", "S", "__import__", "import_module", "literal_eval"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in banned:
                found.append(f"{module}.py:{node.lineno}: {name}()")
    assert found == []
