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
from snnlang.resources import include_dirs

ROOT = Path(__file__).resolve().parent.parent
FRONT_END = ["parse", "lower", "check", "dims", "units", "diagnostics", "functions", "__init__", "model", "settings"]


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
    tree = ast.parse((ROOT / "snnlang" / "frontend" / f"{module}.py").read_text(encoding="utf-8"))
    banned = {"eval", "exec", "compile", "sympify", "parse_expr", "S", "__import__", "import_module", "literal_eval"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in banned:
                found.append(f"{module}.py:{node.lineno}: {name}()")
    assert found == []


# ---------------------------------------------------------------------------------------
# Reading: only the spec's folder (and below), --include folders and the standard library;
# only regular files of at most 10 MiB.
# ---------------------------------------------------------------------------------------

SECRET = "SECRET-FIRST-LINE not a spec"  # a syntax error: a diagnostic would quote it if the file were read


def _imports(tmp_path, *names: str) -> Path:
    spec = tmp_path / "project" / "main.snn"
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text("".join(f'import "{n}"\n' for n in names) + "network n { population p = LIF(1) }\n")
    return spec


@pytest.fixture
def secret(tmp_path) -> Path:
    path = tmp_path / "outside" / "secret.snn"
    path.parent.mkdir()
    path.write_text(SECRET + "\n")
    return path


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked_folder"])
def test_an_import_outside_the_specs_folder_is_refused_unread(tmp_path, monkeypatch, secret, how):
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    name = {"absolute": str(secret), "dotdot": "../outside/secret.snn", "symlink": "link.snn",
            "symlinked_folder": "linked/secret.snn"}[how]
    if how == "symlink":
        (project / "link.snn").symlink_to(secret)
    if how == "symlinked_folder":
        (project / "linked").symlink_to(secret.parent, target_is_directory=True)
    spec = _imports(tmp_path, "lif.snn", name)
    model, diags = analyse(spec.relative_to(tmp_path))
    text = diags.render()
    assert model is None
    assert f"project/main.snn:2:1: error: cannot import '{name}': it is outside the spec's folder" in text
    assert "--include DIR" in text and "SECRET" not in text


def test_include_allows_a_folder(tmp_path, monkeypatch, secret, capsys):
    from snnlang.cli import main

    monkeypatch.chdir(tmp_path)
    spec = _imports(tmp_path, "lif.snn", "../outside/secret.snn")
    assert main(["check", str(spec)]) == 1
    assert "outside the spec's folder" in capsys.readouterr().err
    assert main(["check", str(spec), "--include", str(secret.parent)]) == 1  # allowed, so read: its syntax error
    err = capsys.readouterr().err
    assert "secret.snn:1:" in err and "SECRET-FIRST-LINE" in err and "outside the spec's folder" not in err
    secret.write_text("neuron Secret { state { v = 0 } }\n")
    bare = _imports(tmp_path, "lif.snn", "secret.snn")  # an --include folder is searched as well
    assert main(["check", str(bare)]) == 1
    assert main(["check", str(bare), "--include", str(secret.parent)]) == 0, capsys.readouterr().err
    assert main(["check", str(bare), "--include", str(tmp_path / "missing")]) == 2
    assert "--include" in capsys.readouterr().err


def test_imports_may_go_up_and_down_inside_the_specs_folder(specs):
    specs.write("common/base.snn", "neuron Base { state { v = 0 } }\n")
    specs.write("models/cell.snn", 'import "../common/base.snn"\nneuron Cell { state { v = 0 } }\n')
    result = specs.analyse('import "models/cell.snn"\nnetwork n { population a = Base(1)\n population b = Cell(1) }\n')
    assert set(result.ok().neurons) == {"Base", "Cell"}


def test_an_imported_file_cannot_leave_the_specs_folder(tmp_path, monkeypatch):
    """An import of an imported file is bound by the folder of the spec itself."""
    monkeypatch.chdir(tmp_path)
    Path("elsewhere.snn").write_text("neuron E { state { v = 0 } }\n")
    Path("a/sub").mkdir(parents=True)
    Path("a/sub/b.snn").write_text('import "../../elsewhere.snn"\n')
    Path("a/main.snn").write_text('import "sub/b.snn"\nnetwork n { population p = E(1) }\n')
    model, diags = analyse("a/main.snn")
    assert model is None
    assert [f"{d.loc}: {d.message}" for d in diags.errors][0] == (
        "a/sub/b.snn:1:1: cannot import '../../elsewhere.snn': it is outside the spec's folder and the "
        "standard library; allow its folder with --include DIR")
    assert analyse("a/main.snn")[0] is None
    with include_dirs([tmp_path]):
        assert analyse("a/main.snn")[0] is not None


def _check_process(tmp_path, *args):
    import subprocess

    return subprocess.run([sys.executable, "-m", "snnlang", "check", *map(str, args)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)  # a read of a FIFO or /dev/zero would never end


def test_non_regular_files_are_refused_before_reading(tmp_path):
    import os

    fifo = tmp_path / "pipe.snn"
    os.mkfifo(fifo)
    proc = _check_process(tmp_path, "pipe.snn")
    assert proc.returncode == 1 and "pipe.snn:1:1: error: cannot read 'pipe.snn': it is a FIFO" in proc.stderr
    proc = _check_process(tmp_path, "/dev/zero")
    assert proc.returncode == 1 and "/dev/zero:1:1: error: cannot read '/dev/zero': it is a device" in proc.stderr
    proc = _check_process(tmp_path, ".")
    assert proc.returncode == 1 and "it is a folder, not a spec file" in proc.stderr
    spec = _imports(tmp_path, "lif.snn", "/dev/zero", "../pipe.snn")
    proc = _check_process(tmp_path, spec, "--include", "/dev", "--include", tmp_path)
    assert proc.returncode == 1
    assert "main.snn:2:1: error: cannot import '/dev/zero': it is a device, not a spec file" in proc.stderr
    assert "main.snn:3:1: error: cannot import '../pipe.snn': it is a FIFO" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_spec_files_over_the_limit_are_refused(specs, monkeypatch):
    from snnlang import resources

    monkeypatch.setattr(resources, "MAX_SPEC_BYTES", 100)
    text = "network n { }\n"
    ok = text + "#" * (99 - len(text)) + "\n"
    assert len(ok.encode()) == 100
    assert specs.analyse(ok).model is not None
    result = specs.analyse(ok + "#")
    assert result.errors == ["spec.snn:1:1: cannot read 'spec.snn': it is 0.0 MiB; a spec file may be at most 0 MiB"]
    specs.write("big.snn", ok + "#")
    result = specs.analyse('import "big.snn"\nnetwork m { }\n', name="main.snn")
    assert result.errors[0].startswith("main.snn:1:1: cannot import 'big.snn': it is")


def test_the_real_limit_is_ten_mib(specs):
    path = specs.write("big.snn", b"#" * (10 * 2**20) + b"\n")
    model, diags = analyse(path.name)
    assert [d.message for d in diags.errors] == ["cannot read 'big.snn': it is 10.0 MiB; a spec file may be at most 10 MiB"]


@pytest.mark.parametrize("command", ["check", "build", "run", "train"])
def test_a_symlink_loop_is_a_message(tmp_path, monkeypatch, capsys, command):
    from snnlang.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    Path("a.snn").symlink_to("b.snn")
    Path("b.snn").symlink_to("a.snn")
    args = [command, "a.snn"] + ([] if command == "check" else ["-o", "out"])
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("a.snn:1:1: error: cannot read 'a.snn': a loop of symbolic links") and "Traceback" not in err
    Path("main.snn").write_text('import "a.snn"\nnetwork n { }\n')
    assert main(["check", "main.snn"]) == 1
    assert "main.snn:1:1: error: cannot import 'a.snn': it is a loop of symbolic links" in capsys.readouterr().err
