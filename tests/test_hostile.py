"""A hostile-names corpus: no file or folder name, ``-o`` name or identifier runs code.

Each hostile name carries a payload that would create the sentinel file PWNED in the
working directory if it ever became code. The spec is built for every target (building
needs neither a GPU nor Lava) and run on NumPy through the command line, and every
generated file is checked: Python files parse, no file holds a raw control character,
and the payload appears only inside escaped literals (a string token, or the header
comment's repr of the spec path).
"""
from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from snnlang.cli import main

SENTINEL = "PWNED"
#: Creates the sentinel; once it is code, the name PWNED is a token outside any literal.
PAYLOAD = f'{SENTINEL} = open("{SENTINEL}", "w")'

#: name -> a file-name component (no '/', no NUL) with the payload where it could become code.
HOSTILE = {
    "newline": f"x\nimport os; {PAYLOAD}\n#",
    "carriage_return": f"x\r{PAYLOAD}\r#",
    "double_quote": f'q"; {PAYLOAD}; "',
    "single_quote": f"q'; {PAYLOAD}; '",
    "triple_quotes": f'q"""\n{PAYLOAD}\n"""',
    "triple_single_quotes": f"q'''\n{PAYLOAD}\n'''",
    "both_quotes": f"q'\"; {PAYLOAD}; '\"",
    "jinja_expression": "{{ cycler.__init__.__globals__.os.popen('touch " + SENTINEL + "') or " + SENTINEL + " }}",
    "jinja_statement": "{% raw %}{% endraw %}{% if 1 %}" + PAYLOAD + "{% endif %}{#",
    "format_braces": "{0.__class__}{spec!r}{}{{}}%s%(x)s%%" + SENTINEL,
    "dots": f"..{SENTINEL}..",
    "control_characters": f"c\x1b[31m\x07\x08\x0b\x0c\x7f{SENTINEL}",
    "unicode_line_breaks": f"u\x85{PAYLOAD}\u2028{PAYLOAD}\u2029#",
    "bidi_controls": f"b\u202e{SENTINEL}\u2066#",
    "undecodable_bytes": f"bad\udcff\udcfe{SENTINEL}",  # the bytes 0xff 0xfe: not UTF-8, as os.fsdecode gives them
    "trailing_backslash": f"{SENTINEL}\\",  # a backslash at the end of a C // comment continues it
    # a name cannot hold '/', a path can: the folder's "*" and its separator make "*/", "??" and it "??/"
    "c_comment_end": f"{PAYLOAD} *",
    "trigraph": f"{SENTINEL}??",
}

SPEC = """\
import "lif.snn"

network hostile {
    population cells = LIF(4) { I_ext = 2 nA }
    input drive = poisson(4, rate = 200 Hz)
    connect drive -> cells { p = 1; on_pre: I_syn_post += 0.5 nA }
    monitor spikes of cells
    monitor v of cells[0]
}

simulate hostile { dt = 0.1 ms; duration = 5 ms; seed = 3 }
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The working directory (where a payload would write the sentinel), with its own cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    return tmp_path


def no_sentinel(root: Path) -> None:
    found = list(root.rglob(SENTINEL)) + list(Path.cwd().glob(SENTINEL))
    assert found == [], f"a payload ran: {found}"


def hostile_spec(root: Path, name: str) -> Path:
    """The spec under a hostile folder and file name (relative to the working directory)."""
    text = HOSTILE[name]
    folder = root / f"d{text}"  # the folder's name is the spec's path too
    folder.mkdir()
    path = folder / f"{text}.snn"
    path.write_text(SPEC, encoding="utf-8")
    return path.relative_to(root)


def _printable(text: str) -> bool:
    return all(c.isprintable() or c == "\n" for c in text)


def code_outside_literals(text: str, literal: str) -> str:
    """The tokens of a Python file that are code: string literals dropped, and comments with the
    one literal the header may hold (the repr of the spec path) taken out."""
    kept = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING:
            continue
        kept.append(tok.string.replace(literal, "") if tok.type == tokenize.COMMENT else tok.string)
    return " ".join(kept)


def check_generated(folder: Path, shown: str) -> int:
    """Every file below ``folder``: no raw control character, Python parses, the payload is inert."""
    literal = repr(shown)
    count = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        assert _printable(text), f"{path.name}: a raw control character"
        if path.suffix == ".py":
            ast.parse(text, filename=str(path))
            assert SENTINEL not in code_outside_literals(text, literal), f"{path.name}: the name escaped a literal"
            count += 1
        elif path.suffix == ".cu":
            for line in text.splitlines():
                if SENTINEL in line:
                    assert line.startswith("// ") and literal in line, f"kernels.cu: {line!r}"
                if line.startswith("//"):
                    assert not line.rstrip().endswith(("\\", "??/")), "a // comment continued onto the next line"
        else:
            assert SENTINEL not in text, path.name
    return count


def test_the_checks_catch_an_escaped_name():
    """The scan is not vacuous: a header written the old way (the raw path) fails it."""
    shown = HOSTILE["newline"] + ".snn"
    unsafe = f"# Generated by snnlang from {shown} (spec hash 0),\nx = 1\n"
    assert SENTINEL in code_outside_literals(unsafe, repr(shown))
    assert SENTINEL not in code_outside_literals(f"# from {shown!r}\nx = 1\n", repr(shown))
    assert not _printable(HOSTILE["control_characters"]) and not _printable(HOSTILE["unicode_line_breaks"])
    assert all(SENTINEL in text for text in HOSTILE.values())  # so the scan sees each name


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_spec_paths_build_and_run_inert(work, capsys, name):
    from snnlang.frontend.diagnostics import display_path

    spec = hostile_spec(work, name)
    shown = display_path(spec)
    assert HOSTILE[name] in shown
    for target in ("numpy", "cupy", "lava"):
        out = work / f"o{HOSTILE[name]}" / f"net_{target}"  # a hostile folder above the package
        assert main(["build", str(spec), "--target", target, "-o", str(out)]) == 0, capsys.readouterr().err
        printed = capsys.readouterr()
        assert _printable(printed.out + printed.err), "a control character reached the terminal"
        count = check_generated(out, shown)
        assert count >= 3, target
        assert "spec hash" in (out / "__init__.py").read_text(encoding="utf-8").splitlines()[0]
    no_sentinel(work)

    run_dir = work / f"r{HOSTILE[name]}"
    assert main(["run", str(spec), "-o", str(run_dir), "--no-plots"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    assert _printable(printed.out + printed.err), "a control character reached the terminal"
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["spec"] == shown  # the generated package holds the path exactly, as a literal
    assert summary["populations"]["cells"]["n"] == 4
    for entry in (work / "cache").iterdir():  # the package the run imported (and cached)
        if entry.is_dir() and (entry / "net").is_dir():
            check_generated(entry / "net", shown)
    no_sentinel(work)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_package_names_are_refused(work, capsys, name):
    spec = work / "spec.snn"
    spec.write_text(SPEC, encoding="utf-8")
    for target in ("numpy", "cupy", "lava"):
        out = work / HOSTILE[name]
        assert main(["build", str(spec), "--target", target, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert "is not a Python identifier" in err and "Traceback" not in err
        assert _printable(err.replace("\n", "")), "the message quotes the name escaped"
        assert not os.path.lexists(out)
    assert sorted(p.name for p in work.iterdir()) == ["spec.snn"]  # nothing written, no temporary folder left
    no_sentinel(work)


@pytest.mark.parametrize("package", ["my-net", "1net", "class", "net.v2", "ré"])
def test_package_names_must_be_identifiers(work, capsys, package):
    spec = work / "spec.snn"
    spec.write_text(SPEC, encoding="utf-8")
    assert main(["build", str(spec), "-o", str(work / package)]) == 1
    err = capsys.readouterr().err
    assert f"snnlang build: the package name {package!r}" in err and "Try '" in err
    suggestion = err.split("Try '")[1].split("'")[0]
    assert main(["build", str(spec), "-o", str(work / suggestion)]) == 0  # the suggestion is a valid name
    assert (work / suggestion / "__init__.py").is_file()


def test_hostile_names_through_the_real_commands(work):
    """``snnlang build`` and ``python -m <package>`` as processes, from a hostile folder."""
    spec = hostile_spec(work, "triple_quotes")
    out = work / f"o{HOSTILE['newline']}"
    env = {**os.environ, "SNNLANG_CACHE": str(work / "cache")}
    proc = subprocess.run([sys.executable, "-m", "snnlang", "build", str(spec), "-o", str(out / "net")],
                          capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "net", "--steps", "20", "--out", "s.npz"], capture_output=True,
                          text=True, env=env, cwd=out, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "hostile: 20 steps" in proc.stdout
    help_text = subprocess.run([sys.executable, "-m", "net", "--help"], capture_output=True, text=True,
                               env=env, cwd=out, timeout=300).stdout
    assert help_text.startswith("usage: python -m net ")
    proc = subprocess.run([sys.executable, "-m", "snnlang", "run", str(spec), "-o", "run", "--no-plots"],
                          capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert proc.returncode == 0, proc.stderr
    no_sentinel(work)


#: Names the grammar allows that are also names in the generated code or in Python.
# (the language's own built-in names, t, dt, i, j, N, pi, ..., are refused as declared names: see below)
SHADOWING = ["np", "rt", "os", "sys", "self", "state", "params", "Network", "step", "steps", "tt", "net",
             "print", "len", "range", "float", "int", "object", "time", "array", "math", "cp", "exp", "where",
             "spikes", "rng", "seed", "ms", "out", "result", "spk", "syn"]


def _shadow_spec(names: dict[str, str]) -> str:
    n = names
    return f"""\
neuron {n['neuron']} {{
    parameters {{ {n['tau']} = 10 ms; {n['thr']} = 1 }}
    state {{ {n['v']} = 0 }}
    inputs {{ {n['inp']} = 0 }}
    equations {{ d{n['v']}/dt = ({n['inp']} - {n['v']}) / {n['tau']} }}
    spike when {n['v']} >= {n['thr']}
    reset {{ {n['v']} = 0 }}
}}
network {n['network']} {{
    population {n['pop']} = {n['neuron']}(3) {{ {n['inp']} = 1.5 }}
    population {n['pop2']} = {n['neuron']}(2)
    connect {n['pop']} -> {n['pop2']} {{ on_pre: {n['v']}_post += 0.6 }}
    monitor spikes of {n['pop']}, {n['pop2']}
    monitor {n['v']} of {n['pop']}
}}
simulate {n['network']} {{ dt = 0.5 ms; duration = 40 ms; seed = 1 }}
"""


def test_identifiers_that_shadow_generated_names_change_nothing(work, capsys):
    """Every identifier of a spec may be a name the generated code (or Python) uses itself:
    the package builds for every target, parses, and simulates exactly as with plain names."""
    plain = {"neuron": "Cell", "tau": "tau", "thr": "thr", "v": "v", "inp": "drive", "network": "plain",
             "pop": "a", "pop2": "b"}
    keys = list(plain)
    results = {}
    for label, names in (("plain", plain), *((f"shadow{k}", {key: SHADOWING[(k + i) % len(SHADOWING)]
                                                             for i, key in enumerate(keys)})
                                             for k in range(0, len(SHADOWING), 4))):
        if len(set(names.values())) < len(names):
            continue
        spec = work / f"{label}.snn"
        spec.write_text(_shadow_spec(names), encoding="utf-8")
        for target in ("numpy", "cupy", "lava"):
            out = work / f"{label}_{target}"
            code = main(["build", str(spec), "--target", target, "-o", str(out)])
            assert code == 0, (names, capsys.readouterr().err)
            check_generated(out, str(spec.relative_to(work)))
        run_dir = work / f"run_{label}"
        assert main(["run", str(spec), "-o", str(run_dir), "--no-plots"]) == 0, (names, capsys.readouterr().err)
        summary = json.loads((run_dir / "summary.json").read_text())
        pops = summary["populations"]
        results[label] = (pops[names["pop"]]["spikes"], pops[names["pop2"]]["spikes"])
    assert len(results) > 3
    assert results["plain"][0] > 0 and results["plain"][1] > 0
    assert set(results.values()) == {results["plain"]}, results
    no_sentinel(work)


@pytest.mark.parametrize("builtin", ["dt", "N"])
@pytest.mark.parametrize("key", ["tau", "thr", "v", "inp"])
def test_a_builtin_name_declared_is_refused_or_means_the_same(work, capsys, builtin, key):
    plain = {"neuron": "Cell", "tau": "tau", "thr": "thr", "v": "v", "inp": "drive", "network": "plain",
             "pop": "a", "pop2": "b"}
    spikes = []
    for label, names in (("plain", plain), ("builtin", {**plain, key: builtin})):
        spec = work / f"{label}.snn"
        spec.write_text(_shadow_spec(names), encoding="utf-8")
        try:
            code = main(["run", str(spec), "-o", str(work / label), "--no-plots"])
        except Exception as e:  # noqa: BLE001 - a traceback is the failure this test reports
            pytest.fail(f"{type(e).__name__}: {e}")
        err = capsys.readouterr().err
        if code:
            assert label == "builtin" and f"{label}.snn:" in err and builtin in err, err
            return  # refused, with its place
        pops = json.loads((work / label / "summary.json").read_text())["populations"]
        spikes.append((pops["a"]["spikes"], pops["b"]["spikes"]))
    assert spikes[0] == spikes[1]


@pytest.mark.parametrize("name", ["newline", "triple_quotes", "unicode_line_breaks", "trailing_backslash"])
def test_the_training_module_header_is_inert(work, name):
    """training.py (built for a train block) begins with the same escaped header."""
    from snnlang.build import render_training
    from snnlang.frontend.diagnostics import display_path
    from snnlang.frontend import load
    from snnlang.plan.train import make_training_plan

    spec = hostile_spec(work, name)
    spec.write_text((Path(__file__).resolve().parent.parent / "specs" / "digits_lif.snn").read_text())
    model = load(spec)
    text = render_training(make_training_plan(model, next(iter(model.trainings.values()))), "net")["training.py"]
    (work / "training").mkdir()
    (work / "training" / "training.py").write_text(text, encoding="utf-8")
    assert check_generated(work / "training", display_path(spec)) == 1
    assert text.startswith("# Generated by snnlang ") and repr(display_path(spec)) in text.splitlines()[0]
