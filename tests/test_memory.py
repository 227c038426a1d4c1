"""The memory estimate (snnlang/plan/memory.py) and the limit (snnlang/limits.py).

What cannot fit is refused with the estimate and the limit, at the part of the spec that
needs the most, before anything large is allocated (the planner included); the estimate
holds against what a run of the NumPy target really allocates; ``--max-memory`` raises
the limit for build and run; ``check --emit-ir`` reports the estimate.
"""
from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from snnlang import limits
from snnlang.cli import main
from snnlang.frontend.diagnostics import SpecError
from snnlang.driver import load, package, refuse_oversized
from snnlang.limits import GiB, max_memory, memory_limit, parse_size
from snnlang.plan import make_plan
from snnlang.plan.memory import estimate

MiB = 2**20


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SNNLANG_MAX_MEMORY", raising=False)
    return tmp_path / "cache"


def token_at(text: str, loc) -> str:
    """The text of the spec from a diagnostic's place to the end of its line."""
    return text.split("\n")[loc.line - 1][loc.column - 1:]


# ---- what cannot fit is refused, at its place, before anything is allocated -------------------------

HUGE = {
    "population": ("""
        import "lif.snn"
        network n {
            population cells = LIF(1000000000)
        }
        simulate n { dt = 0.1 ms; steps = 1000 }
        """, "population cells", "cells = LIF"),
    "all_to_all": ("""
        import "lif.snn"
        import "static.snn"
        network n {
            population a = LIF(1000000)
            population b = LIF(1000000)
            connect a -> b using Static { all_to_all; w = 0.1; on_pre: I_syn_post += w * nA }
        }
        simulate n { dt = 0.1 ms; steps = 100 }
        """, "connection a_b", "connect a -> b"),
    "events": ("""
        import "lif.snn"
        network n {
            input cam = events(width = 100000, height = 100000)
            population a = LIF(10)
            monitor spikes of a
        }
        simulate n { dt = 1 ms; steps = 100 }
        """, "input cam", "cam = events"),
    "delay": ("""
        import "lif.snn"
        network n {
            population a = LIF(100)
            connect a -> a { p = 0.1; delay = 100000 s; on_pre: I_syn_post += 1 nA }
        }
        simulate n { dt = 0.1 ms; steps = 1000 }
        """, "history a", "100000 s"),
    "state monitor": ("""
        import "lif.snn"
        network n {
            population a = LIF(1000)
            monitor v of a
        }
        simulate n { dt = 0.1 ms; steps = 2147483647 }
        """, "monitor v of a", "monitor v of a"),
    "spike monitor": ("""
        import "lif.snn"
        network n {
            population a = LIF(1000)
            monitor spikes of a
        }
        simulate n { dt = 0.1 ms; steps = 2147483647 }
        """, "monitor spikes of a", "monitor spikes of a"),
}


@pytest.mark.parametrize("case", sorted(HUGE))
def test_what_cannot_fit_is_refused_at_its_place_before_anything_is_allocated(specs, case):
    text, part, place = HUGE[case]
    model = specs.analyse(text).ok()
    tracemalloc.start()
    try:
        with max_memory(16 * GiB), pytest.raises(SpecError) as refused:
            make_plan(model)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * MiB  # planning and estimating 1e9 neurons or 1e12 synapses allocates nothing per element
    error, = refused.value.diagnostics.errors
    written = (specs.root / "spec.snn").read_text()
    assert error.loc.file == "spec.snn" and token_at(written, error.loc).startswith(place), error
    assert "more than the limit of 16.0 GiB (--max-memory)" in error.message
    assert f"{part} alone needs" in error.message and "allow more with --max-memory" in error.message
    found = estimate(make_plan(model, check_memory=False))
    assert found.total > 16 * GiB and f"needs about {limits.format_bytes(found.total)}" in error.message


def test_the_estimate_counts_what_the_spec_says(specs):
    """Sizes and counts straight from the spec: neurons, synapses of each pattern, delay steps,
    monitor samples; a spike monitor's figure is marked as an assumption."""
    model = specs.analyse("""
        import "lif.snn"
        import "static.snn"
        network n {
            population a = LIF(1000)
            population b = LIF(400)
            connect a -> b using Static { p = 0.25; w = 0.5; delay = 3 ms; on_pre: I_syn_post += w * nA }
            connect a -> b using Static { indegree = 7; w = 0.5; on_pre: I_syn_post += w * nA }
            connect a[0:100] -> b using Static { all_to_all; w = 0.5; on_pre: I_syn_post += w * nA }
            connect a -> a using Static { one_to_one; w = 0.5; on_pre: I_syn_post += w * nA }
            monitor v of b[0:400:4] every 1 ms
            monitor spikes of a
        }
        simulate n { dt = 0.1 ms; steps = 1000 }
        """).ok()
    found = estimate(make_plan(model))
    parts = {(p.kind, p.name): p for p in found.parts}
    assert parts["population", "a"].count == 1000 and parts["population", "b"].count == 400
    assert [parts["connection", name].count for name in ("a_b", "a_b_2", "a_b_3", "a_a")] == [
        round(0.25 * 1000 * 400), 7 * 400, 100 * 400, 1000]
    history = parts["history", "a"]
    assert "30 steps" in history.detail and history.bytes == 2 * 30 * 1000
    v = parts["monitor", "v of b"]
    assert v.count == 100 and v.detail.startswith("100 samples (every 10 steps)") and not v.assumed
    spikes = parts["monitor", "spikes of a"]
    assert spikes.assumed and spikes.bytes == 1000 * 1000 and spikes.per_step == 1000
    longer = found.with_steps(5000)  # monitors grow with the steps, nothing else does
    assert longer.total - found.total == 4000 * found.per_step and longer.fixed == found.fixed


def test_the_planner_allocates_nothing_per_neuron(specs):
    model = specs.analyse("""
        import "lif.snn"
        network n {
            population cells = LIF(2147483647) { v = uniform(-65 mV, -50 mV) }
            connect cells -> cells { p = 0.000001; delay = uniform(1 ms, 2 ms); on_pre: I_syn_post += 1 nA }
            monitor v of cells[0:2000000000:2], cells[1:4]
            monitor spikes of cells[0:100], cells
        }
        simulate n { dt = 0.1 ms; steps = 100 }
        """).ok()
    tracemalloc.start()
    try:
        found = estimate(make_plan(model, check_memory=False))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * MiB
    assert found.total > 2147483647 * 100
    v, spikes = (next(p for p in found.parts if p.name == name) for name in ("v of cells", "spikes of cells"))
    assert v.count == 10**9 + 3 and spikes.count == 2147483647  # the sum of the selections bounds their union


# ---- the estimate against what a run allocates -----------------------------------------------------------

MEASURED = {
    "population": """
        import "lif.snn"
        network n { population cells = LIF(300000) { I_ext = 2 nA } }
        simulate n { dt = 0.1 ms; steps = 50 }
        """,
    "all_to_all with plasticity": """
        import "lif.snn"
        import "stdp.snn"
        network n {
            input src = poisson(1000, rate = 50 Hz)
            population b = LIF(1000)
            connect src -> b using STDP { all_to_all; on_pre: I_syn_post += w * nA }
        }
        simulate n { dt = 0.1 ms; steps = 50 }
        """,
    "per-synapse delays": """
        import "lif.snn"
        import "static.snn"
        network n {
            population a = LIF(20000) { I_ext = 1.6 nA }
            connect a -> a using Static { p = 0.005; delay = uniform(1 ms, 5 ms); w = uniform(0, 0.1);
                                          on_pre: I_syn_post += w * nA }
        }
        simulate n { dt = 0.1 ms; steps = 50 }
        """,
    "dense": """
        import "lif.snn"
        network n {
            population a = LIF(2000) { I_ext = 1.6 nA }
            connect a -> a { p = 0.5; w = uniform(0, 0.1); on_pre: I_syn_post += w * nA }
        }
        simulate n { dt = 0.1 ms; steps = 50 }
        """,
    "state monitor": """
        import "lif.snn"
        network n {
            population a = LIF(2000) { I_ext = 1.6 nA }
            monitor v, I_syn of a
        }
        simulate n { dt = 0.1 ms; steps = 1000 }
        """,
}


@pytest.mark.parametrize("case", sorted(MEASURED))
def test_the_estimate_is_within_a_factor_of_two_of_what_a_run_allocates(specs, cache, case):
    from snnlang.run import write_outputs

    path = specs.write("spec.snn", MEASURED[case])
    found = estimate(make_plan(load(path)))
    module, _ = package(path)
    tracemalloc.start()  # NumPy reports its arrays to tracemalloc
    try:
        net = module.Network()
        net.run()
        write_outputs(module, net, Path(tempfile.mkdtemp(dir=specs.root)), 0, 0, plots=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak > 10 * MiB  # large enough to measure
    assert 0.5 < found.total / peak < 2, f"estimate {found.total / MiB:.1f} MiB, run {peak / MiB:.1f} MiB"


def test_expected_synapses_match_the_built_connections(specs, cache):
    """Counted from p (a number, or a function of i and j sampled at pairs), indegree and a condition."""
    path = specs.write("spec.snn", """
        import "lif.snn"
        import "static.snn"
        network n {
            population a = LIF(600)
            population b = LIF(500)
            connect a -> b using Static { p = 0.05; w = 1; on_pre: I_syn_post += w * nA }
            connect a -> b using Static { p = 0.8 * j / N_post; w = 1; on_pre: I_syn_post += w * nA }
            connect a -> b using Static { all_to_all; if i < j; w = 1; on_pre: I_syn_post += w * nA }
            connect a -> a using Static { indegree = 9; w = 1; on_pre: I_syn_post += w * nA }
        }
        simulate n { dt = 0.1 ms; steps = 10 }
        """)
    plan = make_plan(load(path))
    expected = {p.name: p.count for p in estimate(plan).parts if p.kind == "connection"}
    net = package(path)[0].Network()
    for c in plan.connections:
        built = net.state[c.local["w"]].size
        assert abs(expected[c.name] - built) <= 0.1 * built, (c.name, expected[c.name], built)


# ---- build, run and check ---------------------------------------------------------------------------------

def test_build_and_run_refuse_it_and_max_memory_allows_more(specs, cache, capsys):
    specs.write("big.snn", HUGE["population"][0])
    assert main(["build", "big.snn", "-o", "pkg", "--max-memory", "16GiB"]) == 1
    err = capsys.readouterr().err
    assert "big.snn:3:16: error: network 'n' needs about" in err and "limit of 16.0 GiB (--max-memory)" in err
    assert not (specs.root / "pkg").exists()
    assert main(["run", "big.snn", "-o", "out", "--max-memory", "16GiB"]) == 1
    assert "big.snn:3:16: error:" in capsys.readouterr().err and not (specs.root / "out").exists()
    # a build allocates nothing: with the limit raised, the package is written
    assert main(["build", "big.snn", "-o", "pkg", "--max-memory", "4TiB"]) == 0
    assert (specs.root / "pkg" / "network.py").is_file()
    with pytest.raises(SystemExit) as usage:
        main(["build", "big.snn", "-o", "pkg", "--max-memory", "lots"])
    assert usage.value.code == 2 and "argument --max-memory: 'lots' is not a size" in capsys.readouterr().err


def test_a_cached_package_is_refused_under_a_lower_limit_and_for_more_steps(specs, cache, capsys):
    text = """
        import "lif.snn"
        network n {
            population a = LIF(50) { I_ext = 2 nA }
            monitor v of a
        }
        simulate n { dt = 0.1 ms; steps = 200 }
        """
    path = specs.write("small.snn", text)
    assert main(["run", "small.snn", "-o", "out", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["run", "small.snn", "-o", "out2", "--no-plots", "--max-memory", "64KiB"]) == 1  # found in the cache
    assert "small.snn:4:5: error: network 'n' needs about" in capsys.readouterr().err
    module, _ = package(path)
    folder = Path(module.__path__[0])
    refuse_oversized(path, folder)  # the spec's steps fit
    with pytest.raises(SpecError) as refused:  # what run --duration asks for a longer run
        refuse_oversized(path, folder, steps=2147483647)
    error, = refused.value.diagnostics.errors
    assert (error.loc.line, error.loc.column) == (4, 5) and "2147483647 samples" in error.message


def test_check_emit_ir_reports_the_estimate_and_keeps_the_json(specs, capsys):
    specs.write("big.snn", HUGE["population"][0])
    specs.write("small.snn", 'import "lif.snn"\nnetwork m { population p = LIF(10) }\n'
                             'simulate m { dt = 0.1 ms; steps = 100 }\n')
    with max_memory(16 * GiB):
        assert main(["check", "--emit-ir", "small.snn"]) == 0
        out, err = capsys.readouterr()
        assert json.loads(out)["networks"]["m"]["populations"][0]["size"] == 10
        assert err.startswith("small.snn: memory: network 'm': about ") and "the limit is 16.0 GiB" in err
        assert "over it" not in err
        assert main(["check", "--emit-ir", "big.snn"]) == 0  # a check says it; build and run refuse it
        out, err = capsys.readouterr()
        json.loads(out)
        assert "big.snn: memory: network 'n': about" in err and "over it: build and run refuse it" in err


# ---- the limit ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("64GiB", 64 * 2**30), ("64G", 64 * 2**30), ("64GB", 64 * 10**9), ("64gib", 64 * 2**30),
    ("512MiB", 512 * 2**20), ("1.5TiB", int(1.5 * 2**40)), ("1e9", 10**9), ("100", 100), ("2 KB", 2000),
    ("3k", 3072),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "-1G", "10XB", "0", "0.1", "1e999", "iB", "5iB", "1 G B"])
def test_what_is_not_a_size(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_the_limit_is_a_share_of_the_machine_unless_given(monkeypatch):
    monkeypatch.delenv("SNNLANG_MAX_MEMORY", raising=False)
    monkeypatch.setattr(limits, "physical_memory", lambda: 8 * GiB)
    assert memory_limit() == (6 * GiB, "75% of this machine's 8.0 GiB")
    monkeypatch.setattr(limits, "physical_memory", lambda: None)
    assert memory_limit()[0] == 16 * GiB
    monkeypatch.setenv("SNNLANG_MAX_MEMORY", "3GiB")
    assert memory_limit() == (3 * GiB, "SNNLANG_MAX_MEMORY")
    with max_memory(5 * GiB):
        assert memory_limit() == (5 * GiB, "--max-memory")
    assert memory_limit()[0] == 3 * GiB
    assert limits.physical_memory is not None


def test_the_machine_memory_is_read():
    found = limits.physical_memory()
    assert found is None or 2**26 < found < 2**50
