"""The Python API (snnlang.compile / check / train / load_weights), the version in output
files, and the example notebook run by a Jupyter kernel."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import snnlang
from snnlang.frontend.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent

SPEC = """import "lif.snn"

network demo {
    population cells = LIF(20) { I_ext = 1.5 nA + 1 nA * i / N }
    connect cells -> cells { p = 0.2; if i != j; w = uniform(0 mV, 1 mV); on_pre: v_post += w }
    monitor spikes of cells
}

simulate demo { dt = 0.1 ms; duration = 100 ms; seed = 3 }
"""


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache"


def _spikes(Network, seed=3):
    net = Network(seed=seed)
    net.run()
    return net.spikes("cells")


def test_import_is_cheap():
    code = "import sys, snnlang; print(sorted(m for m in ('sympy', 'numpy', 'lark', 'pydantic', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"


def test_compile_text_is_the_spec_file(tmp_path):
    """A spec given as text builds the same network as the same text in a file."""
    path = tmp_path / "demo.snn"
    path.write_text(SPEC)
    t_text, i_text = _spikes(snnlang.compile(SPEC))
    t_file, i_file = _spikes(snnlang.compile(path))
    assert len(t_text) > 20
    np.testing.assert_array_equal(t_text, t_file)
    np.testing.assert_array_equal(i_text, i_file)
    # another text is another network
    t_other, _ = _spikes(snnlang.compile(SPEC.replace("1.5 nA", "2.5 nA")))
    assert len(t_other) > len(t_text)


def test_compile_text_is_cached(cache):
    snnlang.compile(SPEC)
    entries = sorted(p.name for p in cache.iterdir() if p.name.startswith("run_"))
    texts = sorted(p.name for p in (cache / "specs").iterdir())
    Network = snnlang.compile(SPEC)  # the same text: the same file, the same package
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith("run_")) == entries and len(entries) == 1
    assert sorted(p.name for p in (cache / "specs").iterdir()) == texts and len(texts) == 1
    assert Network.__name__ == "Network" and sys.modules[Network.__module__].NETWORK == "demo"


def test_diagnostics_point_into_the_text():
    bad = SPEC.replace("w = uniform(0 mV, 1 mV)", "w = uniform(0 mV, 1 ms)")
    with pytest.raises(SpecError) as info:
        snnlang.compile(bad)
    line = bad.split("\n").index(next(l for l in bad.split("\n") if "1 ms" in l)) + 1
    assert str(info.value).startswith(f"<string>:{line}:")
    assert "cache" not in str(info.value)
    report = snnlang.check(bad, name="cell[2]")
    assert not report.ok and len(report.errors) == 1
    d = report.errors[0]
    assert (d.file, d.line, d.severity) == ("cell[2]", line, "error")
    assert "V and s" in d.message
    assert d.source_line == bad.split("\n")[line - 1]
    assert d.source_line[d.column - 1:].startswith("uniform")  # the column is the place in the text
    assert str(d).startswith(f"cell[2]:{line}:{d.column}: error: ")


def test_check_a_path_and_a_clean_spec(tmp_path):
    path = tmp_path / "bad.snn"
    path.write_text("network n {\n    population a = Nope(3)\n}\n")
    report = snnlang.check(path)
    assert [(d.file, d.line, d.column) for d in report] == [("bad.snn", 2, 20)]
    assert "unknown neuron model 'Nope'" in report[0].message and "^" in report[0].render()
    assert snnlang.check(SPEC).ok and str(snnlang.check(SPEC)) == "ok"


def test_text_imports_only_from_include(tmp_path):
    (tmp_path / "mine.snn").write_text(
        "neuron Mine { parameters { a = 0.5 }; state { v = 0.0 }; inputs { I = 0.0 }; update { v = a * v + I } }\n")
    text = 'import "mine.snn"\nnetwork n { population p = Mine(3) }\n'
    report = snnlang.check(text)
    assert not report.ok and report.errors[0].file == "<string>" and report.errors[0].line == 1
    assert snnlang.check(text, include=[tmp_path]).ok
    with pytest.raises(ValueError, match="not a folder"):
        snnlang.check(text, include=[tmp_path / "nope"])


def test_the_api_functions_and_the_modules_behind_them_do_not_meet():
    """snnlang.check / train / sweep are functions; the modules are snnlang.frontend.check,
    snnlang.training and snnlang.sweeps, and importing them changes nothing."""
    import importlib

    for module in ("snnlang.frontend.check", "snnlang.training", "snnlang.training.optim", "snnlang.sweeps"):
        importlib.import_module(module)
    import snnlang.frontend.check  # noqa: F401

    assert all(callable(f) and f.__module__ in ("snnlang.api", "snnlang.sweeps")
               for f in (snnlang.check, snnlang.train, snnlang.compile, snnlang.load_weights, snnlang.sweep))
    assert callable(sys.modules["snnlang.frontend.check"].check)
    from snnlang.training import TRAIN_FILES

    assert "metrics.json" in TRAIN_FILES


def test_train_writes_versioned_metrics_and_weights_load(tmp_path):
    pytest.importorskip("sklearn")
    metrics = snnlang.train(ROOT / "specs" / "digits_bptt.snn", tmp_path / "run", epochs=1, progress=False)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["snnlang"] == saved["snnlang"] == snnlang.__version__
    assert len(saved["epochs"]) == 1 and 0.3 < saved["test_accuracy"] <= 1
    # the trained weights replace the spec's initial ones
    Network = snnlang.compile(ROOT / "specs" / "digits_bptt.snn")
    net = Network()
    before = net.state["x_hidden_w"].copy()
    snnlang.load_weights(net, tmp_path / "run" / "weights.npz")
    with np.load(tmp_path / "run" / "weights.npz") as data:
        np.testing.assert_array_equal(net.state["x_hidden_w"], data["x_hidden_w"])
    assert not np.array_equal(before, net.state["x_hidden_w"])


def test_run_summary_has_the_version(tmp_path):
    from snnlang.run import run

    (tmp_path / "demo.snn").write_text(SPEC)
    summary = run(tmp_path / "demo.snn", tmp_path / "out", plots=False)
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["snnlang"] == saved["snnlang"] == snnlang.__version__
    assert (tmp_path / "out" / ".snnlang-run").read_text().startswith(f"snnlang {snnlang.__version__}")


def test_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (pip install '.[test]')")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (pip install '.[test]')")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        pytest.skip("no Jupyter kernel 'python3' (pip install ipykernel)")
    pytest.importorskip("matplotlib")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",  # the kernel inherits SNNLANG_CACHE
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the raster plot is shown inline"
    # the spikes the notebook counted are the spikes of its spec run here
    code = next(c.source for c in nb.cells if c.cell_type == "code" and "SPEC = " in c.source)
    spec = code.split("'''")[1]
    net = snnlang.compile(spec)(seed=1)
    net.run()
    assert f"{len(net.spikes('cells')[0])} spikes" in text
    assert "error 6 " in text  # the mistake made on line 6 of the cell's spec is reported there
