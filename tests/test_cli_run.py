"""The command line: ``snnlang run`` outputs, ``--set``, and ``snnlang build`` failures.

Most commands run in process through ``snnlang.cli.main`` (fast); one of each
kind also runs as a real ``snnlang`` process. SNNLANG_CACHE points into tmp_path.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from snnlang.cli import main

from helpers import SPECS, TEST_SPECS, tree_digest, write_spec

try:
    import matplotlib  # noqa: F401

    HAVE_MATPLOTLIB = True
except ImportError:  # pragma: no cover
    HAVE_MATPLOTLIB = False


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


def snnlang_cmd():
    exe = shutil.which("snnlang")
    return [exe] if exe else [sys.executable, "-m", "snnlang"]


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def summary_of(folder):
    return json.loads((folder / "summary.json").read_text())


# ---------------------------------------------------------------------------------------
# 11. snnlang run: what it writes
# ---------------------------------------------------------------------------------------

def test_run_brief_lif_outputs(tmp_path, cache):
    run_dir = tmp_path / "run"
    env = {**os.environ, "SNNLANG_CACHE": str(cache)}
    proc = subprocess.run(snnlang_cmd() + ["run", str(SPECS / "brief_lif.snn"), "-o", str(run_dir)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "brief_lif" in proc.stdout
    with np.load(run_dir / "spikes.npz") as spikes:
        assert set(spikes.files) == {"n_t", "n_i"}
        t, i = spikes["n_t"], spikes["n_i"]
    # v = 0.9 v + 0.3 reaches 1 after 4 updates (step 3); then 5 refractory steps + 4 updates.
    expected = np.arange(3, 100, 9)
    assert np.array_equal(np.rint(t / 1e-3).astype(int), expected) and np.all(i == 0)
    with np.load(run_dir / "state.npz") as state:
        assert "n_v" in state.files
        v = state["n_v"]
        assert v.shape == (100, 1)
        np.testing.assert_allclose(v[:3, 0], [0.3, 0.57, 0.813])
    summary = summary_of(run_dir)
    required = {"populations", "steps", "dt", "build_s", "run_s", "synops"}
    assert required <= set(summary)
    assert summary["populations"] == {"n": {"n": 1, "spikes": 11, "rate_hz": pytest.approx(110.0)}}
    for pop in summary["populations"].values():
        assert set(pop) == {"n", "spikes", "rate_hz"}
    assert summary["steps"] == 100 and summary["dt"] == pytest.approx(1e-3)
    assert summary["synops"] == 0
    assert summary["build_s"] >= 0 and summary["run_s"] >= 0
    if HAVE_MATPLOTLIB:
        assert (run_dir / "raster.png").stat().st_size > 0
        assert (run_dir / "traces.png").stat().st_size > 0
    else:  # pragma: no cover
        assert (run_dir / "plots-skipped.txt").exists()
    # The build was cached under SNNLANG_CACHE.
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1


def test_synops_counted_by_hand(tmp_path, cache, capsys):
    code, out, err = cli(capsys, "run", TEST_SPECS / "synops.snn", "-o", tmp_path / "run")
    assert code == 0, err
    summary = summary_of(tmp_path / "run")
    assert summary["synops"] == 5 * 3 + 4  # see the comment in the spec
    assert summary["populations"] == {"src": {"n": 2, "spikes": 5, "rate_hz": pytest.approx(5 / 2 / 0.02)}}
    with np.load(tmp_path / "run" / "state.npz") as state:
        assert np.allclose(state["fan_v"][-1], 5e-3)
        assert np.allclose(state["pair_v"][-1], [2e-3, 2e-3])


def test_run_state_monitors_of_populations_with_underscores(tmp_path, cache, capsys):
    code, _, err = cli(capsys, "run", TEST_SPECS / "izhikevich_fig2.snn", "-o", tmp_path / "run")
    assert code == 0, err
    with np.load(tmp_path / "run" / "state.npz") as state:
        assert set(state.files) == {"rs_v", "rs_u", "rs_t", "rz_sub_v", "rz_sub_u", "rz_sub_t",
                                    "rs_v_neurons", "rs_u_neurons", "rz_sub_v_neurons", "rz_sub_u_neurons"}
        assert state["rz_sub_v"].shape == (1200, 1) and state["rz_sub_t"].shape == (1200,)
    with np.load(tmp_path / "run" / "spikes.npz") as spikes:
        assert len(spikes["rz_sub_t"]) == 0 and len(spikes["fs_t"]) > 20
    assert set(summary_of(tmp_path / "run")["populations"]) == {"rs", "ib", "ch", "fs", "lts", "tc", "rz", "rz_sub"}
    if HAVE_MATPLOTLIB:
        assert (tmp_path / "run" / "traces.png").stat().st_size > 0


def test_run_duration_and_seed(tmp_path, cache, capsys):
    code, out, err = cli(capsys, "run", TEST_SPECS / "lif_current.snn", "-o", tmp_path / "a", "--duration", "50ms",
                         "--seed", "3")
    assert code == 0, err
    summary = summary_of(tmp_path / "a")
    assert summary["steps"] == 500 and summary["seed"] == 3
    code, out, err = cli(capsys, "run", TEST_SPECS / "lif_current.snn", "-o", tmp_path / "b", "--duration", "5mV")
    assert code == 2 and "--duration" in err


# ---------------------------------------------------------------------------------------
# 8. --set: run-time parameters, no rebuild, clear errors
# ---------------------------------------------------------------------------------------

def lif_isi(run_dir):
    with np.load(run_dir / "spikes.npz") as spikes:
        return np.diff(spikes["n_t"])


def test_set_changes_result_without_rebuild(tmp_path, cache, capsys):
    spec = TEST_SPECS / "lif_current.snn"
    code, _, err = cli(capsys, "run", spec, "-o", tmp_path / "default")
    assert code == 0, err
    packages = sorted(p.name for p in cache.iterdir())
    before = tree_digest(cache)
    assert len(packages) == 1 and before
    for setting in ("tau_m=30ms", "n.tau_m=0.03s"):
        out = tmp_path / setting.replace("=", "_")
        code, _, err = cli(capsys, "run", spec, "-o", out, "--set", setting)
        assert code == 0, err
        isi = lif_isi(out)
        expected = 2e-3 + 30e-3 * math.log(20 / 5)
        assert len(isi) >= 3 and np.all(np.abs(isi - expected) <= 1e-4 + 1e-12), isi
    code, _, err = cli(capsys, "run", spec, "-o", tmp_path / "two", "--set", "t_ref=5ms", "--set", "v_th=-55mV")
    assert code == 0, err
    expected = 5e-3 + 20e-3 * math.log(20 / 10)
    assert np.all(np.abs(lif_isi(tmp_path / "two") - expected) <= 1e-4 + 1e-12)
    assert np.all(np.abs(lif_isi(tmp_path / "default") - (2e-3 + 20e-3 * math.log(4))) <= 1e-4 + 1e-12)
    assert sorted(p.name for p in cache.iterdir()) == packages
    assert tree_digest(cache) == before  # the generated files are untouched


def test_set_dimensionless_parameter(tmp_path, cache, capsys):
    code, _, err = cli(capsys, "run", SPECS / "brief_lif.snn", "-o", tmp_path / "r", "--set", "t_ref=2")
    assert code == 0, err
    # 2 refractory steps + 4 updates: spikes at steps 3, 9, ..., 99
    assert summary_of(tmp_path / "r")["populations"]["n"]["spikes"] == 17


@pytest.mark.parametrize("setting, words", [
    ("tau_m=10mV", ["tau_m", "s", "V"]),  # a voltage for a time
    ("v_th=-50", ["v_th", "V", "dimensionless"]),  # a plain number for a voltage
    ("nosuch=1ms", ["no parameter", "nosuch"]),
    ("tau_m", ["name=value"]),
    ("tau_m=fast", ["tau_m=fast"]),
])
def test_set_errors_are_clear(tmp_path, cache, capsys, setting, words):
    out = tmp_path / "run"
    code, stdout, err = cli(capsys, "run", TEST_SPECS / "lif_current.snn", "-o", out, "--set", setting)
    assert code == 2
    assert err.startswith("snnlang run:") and "Traceback" not in err
    for word in words:
        assert word in err, (word, err)
    assert not (out / "summary.json").exists()


# ---------------------------------------------------------------------------------------
# 10. A failed build leaves the output as it was
# ---------------------------------------------------------------------------------------

GOOD = """
    neuron Cell {
        parameters { tau = 10 ms }
        state { v = 0 mV }
        equations { dv/dt = -v / tau }
    }
    network good { population p = Cell(3) }
"""

BROKEN = {
    # a dimension error, found by check
    "units": """
        neuron Cell {
            parameters { tau = 10 ms }
            state { v = 0 mV }
            equations { dv/dt = -v * tau }
        }
        network good { population p = Cell(3) }
    """,
    # a syntax error, found by the parser
    "syntax": """
        neuron Cell {
            state { v = 0 mV
        }
    """,
    # an integration method that cannot apply, found by the planner
    "method": """
        neuron Cell {
            parameters { tau = 10 ms }
            state { v = 1 mV }
            equations { dv/dt = v * v / (tau * mV) }
            method exact
        }
        network good { population p = Cell(3) }
    """,
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_failed_build_keeps_existing_output(tmp_path, capsys, kind):
    out = tmp_path / "pkgs" / "net"
    good = write_spec(GOOD, tmp_path, "good")
    code, _, err = cli(capsys, "build", good, "-o", out)
    assert code == 0, err
    before = tree_digest(out)
    siblings = sorted(os.listdir(out.parent))
    bad = write_spec(BROKEN[kind], tmp_path, f"bad_{kind}")
    code, _, err = cli(capsys, "build", bad, "-o", out)
    assert code == 1
    assert f"bad_{kind}.snn:" in err and "error" in err and "Traceback" not in err
    assert tree_digest(out) == before
    assert sorted(os.listdir(out.parent)) == siblings  # no temporary folders left behind


def test_failed_build_exit_code_of_the_command(tmp_path):
    out = tmp_path / "net"
    good = write_spec(GOOD, tmp_path, "good")
    assert subprocess.run(snnlang_cmd() + ["build", str(good), "-o", str(out)], capture_output=True,
                          timeout=300).returncode == 0
    before = tree_digest(out)
    bad = write_spec(BROKEN["units"], tmp_path, "bad")
    proc = subprocess.run(snnlang_cmd() + ["build", str(bad), "-o", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert "bad.snn:4:" in proc.stderr
    assert tree_digest(out) == before
