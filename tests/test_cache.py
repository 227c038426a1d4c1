"""The package cache and the driver (snnlang/cache.py, snnlang/driver.py).

The key is on the exact text of the spec and of every file it imports (comments
and white space included: they reach the package through its SPEC_HASH), found
as the compiler finds them (parsed with the grammar, imports resolved with
``find_import``), and on every file of the compiler. Entries are published by an
atomic rename, so concurrent first runs of one spec all succeed and share one
package. A cached package is found and imported without SymPy or pydantic.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snnlang import cache, driver
from snnlang.frontend.diagnostics import SpecError
from snnlang.resources import grammar_path, stdlib_dir, templates_dir

from helpers import SPECS, TEST_SPECS, tree_digest, write_spec

ROOT = Path(__file__).resolve().parent.parent

CELL = """
neuron Cell {
    parameters { decay = %s; v_th = 1.0 }
    state { v = 0.0 }
    inputs { I = 0.0 }
    update { v = v * decay + I }
    spike when v >= v_th
    reset { v = 0.0 }
}
"""

TINY = """
import "%s"
network tiny {
    population n = %s(2) { I = 0.3 }
    monitor spikes of n
}
simulate tiny { dt = 1 ms; steps = 20; seed = 0 }
"""


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def tiny(folder: Path, decay: str = "0.9") -> Path:
    write_spec(CELL % decay, folder, "cell")
    return write_spec(TINY % ("cell.snn", "Cell"), folder, "tiny")


def entries(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir()) if store.exists() else []


def key_of(path: Path) -> str:
    found = cache.spec_key(path, "numpy")
    assert found is not None
    return found.key


# ---------------------------------------------------------------------------------------
# The compiler's files
# ---------------------------------------------------------------------------------------

def test_compiler_files_are_the_whole_compiler():
    """Every module (recursively), the grammar, every template and the stdlib are hashed."""
    listed = {path.resolve() for _, path in cache.compiler_files()}
    package = Path(cache.__file__).resolve().parent
    expected = {p.resolve() for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    expected |= {p.resolve() for p in templates_dir().rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    expected |= {grammar_path().resolve()} | {p.resolve() for p in stdlib_dir().glob("*.snn")}
    assert {package / "plan" / "build.py", package / "training" / "bptt.py", package / "driver.py"} <= expected
    assert expected <= listed, sorted(str(p) for p in expected - listed)
    assert not [p for p in listed if p.suffix == ".pyc" or "__pycache__" in p.parts]


@pytest.fixture
def compiler_copy(tmp_path, monkeypatch):
    """A copy of the compiler's files that the key reads instead of the real ones."""
    roots = []
    for index, root in enumerate(cache.compiler_roots()):
        copy = tmp_path / "compiler" / f"{index}_{root.name}"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        roots.append(copy)
    monkeypatch.setattr(cache, "compiler_roots", lambda: roots)
    return roots


def test_every_compiler_file_changes_the_key(compiler_copy, tmp_path):
    spec = tiny(tmp_path / "spec")
    base_hash, base_key = cache.compiler_hash(), key_of(spec)
    files = cache.compiler_files()
    assert len(files) > 40 and all(str(path).startswith(str(tmp_path)) for _, path in files)
    for name, path in files:
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        try:
            assert cache.compiler_hash() != base_hash, name
            assert key_of(spec) != base_key, name
        finally:
            path.write_bytes(original)
        assert cache.compiler_hash() == base_hash, name  # the bytes count, not the time stamps
    # a new module, or a renamed one, is a new compiler too
    new = compiler_copy[0] / "plan" / "extra.py"
    new.write_text("")
    assert cache.compiler_hash() != base_hash
    new.unlink()
    some = compiler_copy[1] / "snn.lark"
    some.rename(compiler_copy[1] / "snn2.lark")
    assert cache.compiler_hash() != base_hash


def test_a_changed_compiler_builds_a_new_package(compiler_copy, tmp_path, store):
    spec = tiny(tmp_path / "spec")
    first, _ = driver.package(spec)
    assert len(entries(store)) == 1
    template = compiler_copy[2] / "numpy" / "network.py.j2"
    template.write_text(template.read_text() + "\n")
    second, _ = driver.package(spec)
    assert len(entries(store)) == 2 and first.__path__[0] != second.__path__[0]
    again, _ = driver.package(spec)
    assert again.__path__[0] == second.__path__[0] and len(entries(store)) == 2


# ---------------------------------------------------------------------------------------
# The spec as the compiler reads it
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [SPECS / "cuba.snn", SPECS / "brief_lif.snn", SPECS / "stdp_song.snn",
                                  SPECS / "digits_bptt.snn", TEST_SPECS / "izhikevich_fig2.snn"])
def test_key_reads_the_files_the_compiler_reads(spec):
    """Same texts in the same order as the lowering: the key's spec hash is the model's."""
    found = cache.spec_key(spec, "numpy")
    assert found is not None and found.spec_hash == driver.load(spec).spec_hash


def test_import_graph_order_and_cycles(tmp_path):
    a = write_spec('import "b.snn"\nimport "c.snn"\n' + TINY.split("\n", 2)[2] % "Cell", tmp_path, "a")
    write_spec('import "c.snn"\n' + CELL % "0.9", tmp_path, "b")
    write_spec('import "b.snn"\n', tmp_path, "c")  # a cycle back to b, read once
    files = cache.spec_files(a)
    assert [Path(shown).name for shown, _ in files] == ["a.snn", "b.snn", "c.snn"]
    assert cache.spec_key(a).spec_hash == driver.load(a).spec_hash


def test_imported_file_change_changes_key_and_package(tmp_path, store):
    spec = tiny(tmp_path, "0.9")
    first, _ = driver.package(spec)
    assert first.PARAMETERS["n.decay"] == pytest.approx(0.9)
    key = key_of(spec)
    write_spec(CELL % "0.5", tmp_path, "cell")
    assert key_of(spec) != key
    second, _ = driver.package(spec)
    assert second.PARAMETERS["n.decay"] == pytest.approx(0.5)
    assert len(entries(store)) == 2


def test_a_changed_data_file_builds_a_new_package(tmp_path, store):
    """The synapses of ``from_file`` are read at build: the key covers the file's contents."""
    import numpy as np

    np.savez(tmp_path / "edges.npz", pre=np.array([0, 1]), post=np.array([1, 0]))
    spec = write_spec("""
        import "lif.snn"
        network n {
            population a = LIF(2)
            connect a -> a { from_file("edges.npz"); on_pre: I_syn_post += 1 nA }
        }
        simulate n { dt = 0.1 ms; steps = 10 }
    """, tmp_path, "filed")
    first, _ = driver.package(spec)
    key = key_of(spec)
    np.savez(tmp_path / "edges.npz", pre=np.array([0, 1, 1]), post=np.array([1, 0, 1]))
    assert key_of(spec) != key
    second, _ = driver.package(spec)
    assert len(second.Network().state["a_a_pre"]) == 3 and len(first.Network().state["a_a_pre"]) == 2


def test_import_written_without_space_is_found_by_the_parser(tmp_path):
    """``import"cell.snn"`` is an import for the grammar (a regex wanting a space missed it)."""
    write_spec(CELL % "0.9", tmp_path, "cell")
    spec = write_spec(TINY.replace('import "%s"', 'import"%s"') % ("cell.snn", "Cell"), tmp_path, "tiny")
    assert [Path(s).name for s, _ in cache.spec_files(spec)] == ["tiny.snn", "cell.snn"]
    key = key_of(spec)
    write_spec(CELL % "0.8", tmp_path, "cell")
    assert key_of(spec) != key
    # an import in a comment is no import: changing its file leaves the key alone
    spec.write_text('# import "other.snn"\n' + spec.read_text())
    write_spec(CELL % "0.1", tmp_path, "other")
    key = key_of(spec)
    write_spec(CELL % "0.2", tmp_path, "other")
    assert key_of(spec) == key


def test_an_import_that_resolves_elsewhere_changes_key_and_package(tmp_path, store):
    """``import "steplif.snn"`` reads the standard library until a steplif.snn appears beside the spec."""
    spec = write_spec(TINY % ("steplif.snn", "StepLIF"), tmp_path, "tiny")
    first, _ = driver.package(spec)
    assert first.PARAMETERS["n.decay"] == pytest.approx(0.9)
    key = key_of(spec)
    stdlib_text = (stdlib_dir() / "steplif.snn").read_text()
    (tmp_path / "steplif.snn").write_text(stdlib_text)  # the same text, found elsewhere
    assert key_of(spec) != key
    (tmp_path / "steplif.snn").write_text(stdlib_text.replace("decay = 0.9", "decay = 0.7"))
    second, _ = driver.package(spec)
    assert second.PARAMETERS["n.decay"] == pytest.approx(0.7)
    (tmp_path / "steplif.snn").unlink()
    assert key_of(spec) == key
    third, _ = driver.package(spec)
    assert third.__path__[0] == first.__path__[0]


def test_comment_edit_is_a_new_key_and_the_package_records_it(tmp_path, store):
    """The key is on the exact text: a comment changes the spec hash the package records."""
    spec = tiny(tmp_path)
    key = key_of(spec)
    spec.write_text("# a comment\n" + spec.read_text())
    assert key_of(spec) != key
    module, _ = driver.package(spec)
    assert module.SPEC_HASH == driver.load(spec).spec_hash


def test_unparsable_spec_falls_through_to_the_located_error(tmp_path, store, capsys):
    spec = write_spec("network x {\n    population n = \n}\n", tmp_path, "bad")
    assert cache.spec_key(spec, "numpy") is None
    with pytest.raises(SpecError) as error:
        driver.package(spec)
    assert "bad.snn:2:" in error.value.diagnostics.render()
    from snnlang.cli import main

    assert main(["run", str(spec), "-o", str(tmp_path / "run")]) == 1
    assert "bad.snn:2:" in capsys.readouterr().err
    assert entries(store) == [] or all(not cache.is_complete(store / e) for e in entries(store))


def test_unreadable_import_falls_through(tmp_path, store):
    spec = write_spec(TINY % ("missing.snn", "Cell"), tmp_path, "tiny")
    assert cache.spec_key(spec, "numpy") is None
    with pytest.raises(SpecError, match="missing.snn"):
        driver.package(spec)


def test_a_model_older_than_its_files_is_never_published(tmp_path, store):
    """A caller's model read before the files changed gets its own package, kept out of the cache."""
    spec = tiny(tmp_path, "0.9")
    model = driver.load(spec)
    write_spec(CELL % "0.4", tmp_path, "cell")
    module, _ = driver.package(spec, "numpy", model=model)
    assert module.PARAMETERS["n.decay"] == pytest.approx(0.9) and module.SPEC_HASH == model.spec_hash
    assert entries(store) == []
    module, _ = driver.package(spec)
    assert module.PARAMETERS["n.decay"] == pytest.approx(0.4) and len(entries(store)) == 1


# ---------------------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------------------

def test_publish_keeps_an_entry_published_first(tmp_path):
    entry = tmp_path / "run_k"
    assert cache.publish({"__init__.py": "X = 1\n"}, entry) == entry / "net"
    before = tree_digest(entry)
    assert cache.publish({"__init__.py": "X = 2\n"}, entry) == entry / "net"  # theirs, untouched
    assert tree_digest(entry) == before and (entry / "net" / "__init__.py").read_text() == "X = 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_k"]  # our temporary folder is gone


def test_publish_leaves_an_incomplete_entry_alone(tmp_path):
    entry = tmp_path / "run_k"
    (entry / "net").mkdir(parents=True)
    (entry / "net" / "network.py").write_text("partial")
    folder = cache.publish({"__init__.py": "X = 3\n"}, entry)
    assert folder != entry / "net" and (folder / "__init__.py").read_text() == "X = 3\n"
    assert sorted(p.name for p in (entry / "net").iterdir()) == ["network.py"]


def _first_run(spec: Path, barrier, results) -> None:
    """One process of the race: wait for the others, then find or build the package and run it."""
    try:
        barrier.wait(timeout=60)
        module, _ = driver.package(spec)
        net = module.Network()
        net.run(steps=module.STEPS)
        t, i = net.spikes("n")
        results.put({"folder": module.__path__[0], "hash": module.SPEC_HASH, "spikes": [t.tolist(), i.tolist()]})
    except BaseException as e:  # noqa: BLE001 - reported to the test
        results.put({"error": f"{type(e).__name__}: {e}"})


@pytest.mark.skipif(sys.platform == "win32", reason="forks processes that share the loaded compiler")
def test_concurrent_first_runs_share_one_package(tmp_path, store, monkeypatch):
    """16 processes (forked after the compiler is loaded and warm, so that the race is not
    drowned in imports) build one fresh spec at the same moment: all succeed and all import
    the same package."""
    import multiprocessing

    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "warm"))
    driver.package(tiny(tmp_path / "warm_spec"))  # loads the compiler once, for all the forks
    monkeypatch.setenv("SNNLANG_CACHE", str(store))
    context = multiprocessing.get_context("fork")
    n = 16
    for round in range(3):  # a few rounds: the race is a matter of timing
        spec = tiny(tmp_path / f"spec{round}")
        barrier, results = context.Barrier(n), context.Queue()
        procs = [context.Process(target=_first_run, args=(spec, barrier, results)) for _ in range(n)]
        for p in procs:
            p.start()
        seen = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=30)
        assert [s.get("error") for s in seen] == [None] * n
        assert [p.exitcode for p in procs] == [0] * n
        assert len({s["folder"] for s in seen}) == 1
        assert len({json.dumps(s["spikes"]) for s in seen}) == 1 and seen[0]["spikes"][0]
        folder = Path(seen[0]["folder"])
        assert folder.parent.parent == store and folder.parent.name in entries(store)
        assert seen[0]["hash"] == driver.load(spec).spec_hash
    assert len(entries(store)) == 3  # one entry per spec, no temporary folder left


# ---------------------------------------------------------------------------------------
# A cached run stays light
# ---------------------------------------------------------------------------------------

LIGHT = r"""
import json, sys
from snnlang.cli import main
code = main(["run", sys.argv[1], "-o", sys.argv[2], "--no-plots"])
print(json.dumps({"code": code, "sympy": "sympy" in sys.modules, "pydantic": "pydantic" in sys.modules}))
"""


def test_cached_run_imports_neither_sympy_nor_pydantic(tmp_path, store):
    spec = tiny(tmp_path / "spec")
    env = {**os.environ, "SNNLANG_CACHE": str(store), "PYTHONPATH": str(ROOT)}

    def run() -> dict:
        proc = subprocess.run([sys.executable, "-c", LIGHT, str(spec), str(tmp_path / "run")], capture_output=True,
                              text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.splitlines()[-1])

    assert run() == {"code": 0, "sympy": True, "pydantic": True}  # the first run builds
    assert run() == {"code": 0, "sympy": False, "pydantic": False}


# ---------------------------------------------------------------------------------------
# Train packages
# ---------------------------------------------------------------------------------------

def test_training_package_is_published_once(store):
    from snnlang.training.package import load_block, training_package

    model, block = load_block(SPECS / "digits_bptt.snn")
    first = training_package(model, block)
    assert first.folder.parent.parent == store and first.folder.parent.name.startswith("train_")
    assert (first.folder / "training.py").is_file() and first.training.OUTPUT == "out"
    start = time.perf_counter()
    second = training_package(model, block)
    assert second.folder == first.folder and entries(store) == [first.folder.parent.name]
    assert time.perf_counter() - start < 5


def test_imports_are_bounded_as_the_compiler_bounds_them(tmp_path, store):
    """An import from another folder resolves only under ``--include`` (resources.include_dirs),
    for the key as for the compiler."""
    from snnlang.resources import include_dirs

    library = tmp_path / "library"
    write_spec(CELL % "0.6", library, "cell")
    spec = write_spec(TINY % ("cell.snn", "Cell"), tmp_path / "spec", "tiny")
    assert cache.spec_key(spec, "numpy") is None
    with pytest.raises(SpecError):
        driver.package(spec)
    with include_dirs([library]):
        found = cache.spec_key(spec, "numpy")
        assert found is not None and found.spec_hash == driver.load(spec).spec_hash
        module, _ = driver.package(spec)
    assert module.PARAMETERS["n.decay"] == pytest.approx(0.6)
