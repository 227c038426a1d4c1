"""``snnlang sweep`` and ``snnlang.sweeps.sweep`` (``snnlang.sweep``): the runs of a grid, a zip, a table and seeds;
results against the same runs done here, one by one, with the built package; failures,
interrupts and resume; the command line end to end.

The sweeps run on one Dask LocalCluster of 2 worker processes (a fixture of this file);
the spec is small and short, so the file takes seconds. SNNLANG_CACHE points into a
temporary folder.
"""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from snnlang.cli import main  # noqa: E402
from snnlang.driver import package  # noqa: E402
from snnlang.sweeps import (expand, parse_seeds, parse_values, read_table, sweep,  # noqa: E402
                           worker_module)

SPEC = """\
neuron LIF {
    parameters { tau_m = 10 ms; I0 = 1.2; v_th = 1.0; growth = 0.0 }
    state { v = 0 }
    equations { dv/dt = (I0 - v + growth * v * v) / tau_m }
    spike when v > v_th
    reset { v = 0 }
}
network small {
    population cells = LIF(40) { v = uniform(0, 1); I0 = 0.9 + 0.6 * uniform(0, 1) }
    connect cells -> cells { p = 0.2; w = uniform(0, 0.1); on_pre: v_post += w }
    monitor spikes of cells
}
simulate small { dt = 0.1 ms; duration = 60 ms; seed = 1 }
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """The spec, the cache it is built into (once) and the built package."""
    root = tmp_path_factory.mktemp("sweep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNLANG_CACHE", str(root / "cache"))
        spec = root / "small.snn"
        spec.write_text(SPEC)
        module, _ = package(spec)
        yield spec, module


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def direct(module, settings: dict, seed: int, steps: int):
    """The same run done here with the package: (spike count, times, indices)."""
    net = module.Network(params=settings, seed=seed)
    net.run(steps=steps)
    times, index = net.spikes("cells")
    return len(times), times, index


def records(result) -> list[dict]:
    """The rows of what sweep returned: a pandas DataFrame, or a list of dicts without pandas."""
    return result.to_dict("records") if hasattr(result, "to_dict") else list(result)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- the runs ---------------------------------------------------------------------------

def test_values_lists_ranges_and_units():
    si = lambda text: [v.si for v in parse_values("x", text)]  # noqa: E731
    assert si("10ms,15ms,20ms") == [0.01, 0.015, 0.02]
    assert si("10,15,20 ms") == si("10ms,15ms,20ms")  # a bare number takes the unit written last
    assert si("10:20:5 ms") == si("10ms:20ms:5ms") == si("10ms,15ms,20ms")  # the end included
    assert si("4:6:0.5") == [4.0, 4.5, 5.0, 5.5, 6.0]
    assert si("0.1:0.3:0.1") == [0.1, 0.2, 0.3]  # no float noise, no lost end
    assert si("6:4:-1") == [6.0, 5.0, 4.0]
    assert si("1,4:5:1,-50 mV") == [1e-3, 4e-3, 5e-3, -0.05]
    assert [round(v, 12) for v in si("-50:-40:5mV")] == [-0.05, -0.045, -0.04]
    for bad, says in [("1:2", "start:stop:step"), ("1:0:1", "does not reach"), ("1:2:0", "does not reach"),
                      ("10ms:20:5mV", "take one unit"), ("abc", "not a number"), ("3 parsecs", "unknown unit"),
                      ("1,,2", "expected values"), ("0:1:1e-9", "at most")]:
        with pytest.raises(ValueError, match=says) as e:
            parse_values("x", bad)
        assert f"'x={bad}'" in str(e.value)


def test_seeds():
    assert parse_seeds("1-4,10") == [1, 2, 3, 4, 10]
    assert parse_seeds("7") == [7]
    for bad in ("a", "4-1", "1-", "-2"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_grid_is_every_combination_times_seeds(env):
    _, module = env
    runs = expand(module, {"tau_m": "10ms,20ms", "I0": "1:2:0.5"}, "3-4")
    assert len(runs) == 2 * 3 * 2
    assert [r.index for r in runs] == list(range(12))
    combos = [(r.settings["tau_m"], r.settings["I0"], r.seed) for r in runs]
    assert combos == [(t, i, s) for t in (0.01, 0.02) for i in (1.0, 1.5, 2.0) for s in (3, 4)]
    # Python values: SI numbers and strings with units mix
    assert [r.settings for r in expand(module, {"tau_m": [0.01, "20 ms"]})] == [{"tau_m": 0.01}, {"tau_m": 0.02}]
    assert {r.seed for r in expand(module, {"tau_m": "10ms"})} == {module.SEED}  # default: the spec's seed
    # a list of runs: each its settings, its own seed or every seed
    runs = expand(module, [{"tau_m": "10ms", "seed": 3}, {"I0": 1.2}], seeds=[1, 2])
    assert [(r.settings, r.seed) for r in runs] == [({"tau_m": 0.01}, 3), ({"I0": 1.2}, 1), ({"I0": 1.2}, 2)]


def test_grid_refuses_unknown_names_and_wrong_units(env):
    _, module = env
    with pytest.raises(ValueError, match="no parameter 'tau_x'; parameters: cells.tau_m"):
        expand(module, {"tau_x": "1ms"})
    with pytest.raises(ValueError, match=r"tau_m = 10: cells.tau_m is in s, the value is in 1"):
        expand(module, {"tau_m": "10,20"})
    with pytest.raises(ValueError, match="seed is not a parameter"):
        expand(module, {"seed": "1,2"})


def test_zip_pairs_values(env):
    _, module = env
    runs = expand(module, {"tau_m": "10ms,20ms,30ms", "I0": "1.1,1.2,1.3", "v_th": "1"}, [5, 6], zip_values=True)
    assert [(r.settings["tau_m"], r.settings["I0"], r.settings["v_th"], r.seed) for r in runs] == [
        (t, i, 1.0, s) for t, i in [(0.01, 1.1), (0.02, 1.2), (0.03, 1.3)] for s in (5, 6)]
    with pytest.raises(ValueError, match="--zip pairs"):
        expand(module, {"tau_m": "10ms,20ms", "I0": "1,2,3"}, zip_values=True)


def test_table_of_runs(env, tmp_path):
    _, module = env
    table = tmp_path / "runs.csv"
    table.write_text("tau_m [ms],I0,seed\n10,1.1,3\n0.02 s,1.2,4\n\n15,1.3,5\n")
    runs = expand(module, table=table)
    assert [(r.settings, r.seed) for r in runs] == [({"tau_m": 0.01, "I0": 1.1}, 3), ({"tau_m": 0.02, "I0": 1.2}, 4),
                                                    ({"tau_m": 0.015, "I0": 1.3}, 5)]
    no_seed = tmp_path / "no_seed.csv"
    no_seed.write_text("I0\n1.1\n1.2\n")
    assert [(r.settings["I0"], r.seed) for r in expand(module, seeds="1-2", table=no_seed)] == [
        (1.1, 1), (1.1, 2), (1.2, 1), (1.2, 2)]
    bad = tmp_path / "bad.csv"
    bad.write_text("tau_m [ms],I0\n10,1.1\n12,fast\n")
    with pytest.raises(ValueError, match=rf"{bad}:3: I0 = 'fast' is not a number"):
        read_table(bad)
    bad.write_text("tau_m,I0\n10 ms,1.1,7\n")
    with pytest.raises(ValueError, match=rf"{bad}:2: 3 values for 2 columns"):
        read_table(bad)
    bad.write_text("tau_m,I0\n10 mV,1.1\n")
    with pytest.raises(ValueError, match="cells.tau_m is in s, the value is in V"):
        expand(module, table=bad)
    with pytest.raises(ValueError, match="not both"):
        expand(module, {"I0": "1"}, table=table)


# ---- on Dask ----------------------------------------------------------------------------

def test_results_equal_runs_done_here(env, client, tmp_path):
    spec, module = env
    grid = {"tau_m": "8ms,12ms", "I0": "1.1,1.4"}
    frame = sweep(spec, grid, "1-3", client=client, out=tmp_path / "out", progress=False)
    rows = records(frame)
    assert [r["run"] for r in rows] == list(range(12))
    assert {r["status"] for r in rows} == {"ok"}
    seconds = module.STEPS * module.DT
    counts = set()
    for row in rows:
        settings = {"tau_m": row["tau_m"], "I0": row["I0"]}
        count, times, index = direct(module, settings, row["seed"], module.STEPS)
        assert row["cells.spikes"] == count
        assert row["cells.rate_hz"] == pytest.approx(count / 40 / seconds)
        counts.add(count)
        summary = json.loads((tmp_path / "out" / "runs" / str(row["run"]) / "summary.json").read_text())
        assert summary["settings"] == settings and summary["seed"] == row["seed"]
        assert summary["populations"]["cells"]["spikes"] == count and summary["status"] == "ok"
        # CV of ISIs: per neuron std/mean of its intervals, averaged (written out by hand)
        cvs = []
        for n in range(40):
            t = np.sort(times[index == n])
            if len(t) >= 3:
                isi = np.diff(t)
                cvs.append(np.std(isi) / np.mean(isi))
        assert summary["populations"]["cells"]["cv_isi"] == pytest.approx(np.mean(cvs), rel=1e-9, abs=1e-12)
    assert len(counts) > 4  # the settings and seeds matter: the comparison can fail
    table = read_csv(tmp_path / "out" / "results.csv")
    assert [int(r["cells.spikes"]) for r in table] == [r["cells.spikes"] for r in rows]
    assert [float(r["tau_m"]) for r in table] == [r["tau_m"] for r in rows]
    pd = pytest.importorskip("pandas")
    assert isinstance(frame, pd.DataFrame)
    pytest.importorskip("pyarrow")
    parquet = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert list(parquet["cells.spikes"]) == [r["cells.spikes"] for r in rows]
    assert list(parquet["tau_m"]) == [r["tau_m"] for r in rows]


def test_workers_need_only_numpy_and_the_package(env, client, tmp_path):
    spec, _ = env
    sweep(spec, {"I0": "1.2"}, "1-4", client=client, progress=False)
    loaded = client.run(worker_module().imported)
    assert len(loaded) == 2
    for modules in loaded.values():
        assert "numpy" in modules and "snnlang_sweep_worker" in modules
        assert "snnlang" not in modules and "sympy" not in modules


def test_a_failing_run_is_recorded_not_fatal(env, client, tmp_path):
    spec, module = env
    # tau_m < 0: refused; growth < 0 makes v run off to -inf and NaN within a few steps
    rows = records(sweep(spec, {"tau_m": "10ms,-1ms", "growth": "0,-1000"}, 2, client=client,
                         out=tmp_path / "out", progress=False))
    by = {(r["tau_m"], r["growth"]): r for r in rows}
    assert {k: r["status"] for k, r in by.items()} == {(0.01, 0.0): "ok", (0.01, -1000.0): "failed",
                                                       (-0.001, 0.0): "failed", (-0.001, -1000.0): "failed"}
    assert "must be positive" in by[(-0.001, 0.0)]["message"]
    assert by[(0.01, -1000.0)]["message"].startswith("SimulationError: v of population cells became")
    ok = by[(0.01, 0.0)]
    assert ok["cells.spikes"] == direct(module, {"tau_m": 0.01, "growth": 0.0}, 2, module.STEPS)[0]
    rate = by[(0.01, -1000.0)]["cells.rate_hz"]
    assert rate is None or math.isnan(rate)
    table = read_csv(tmp_path / "out" / "results.csv")
    assert [r["status"] for r in table] == [r["status"] for r in rows] and table[1]["cells.rate_hz"] == ""
    failed = json.loads((tmp_path / "out" / "runs" / "1" / "summary.json").read_text())
    assert failed["status"] == "failed" and "became" in failed["message"]


def test_interrupt_keeps_finished_runs_and_resume_finishes(env, client, tmp_path):
    spec, _ = env
    out = tmp_path / "out"
    grid = {"I0": "1.1:1.4:0.1"}
    seen = []

    def stop_after_two(row):
        seen.append(row["run"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(spec, grid, "1-3", client=client, out=out, progress=False, callback=stop_after_two)
    finished = sorted(int(p.parent.name) for p in out.glob("runs/*/summary.json"))
    assert finished == sorted(seen)
    assert [int(r["run"]) for r in read_csv(out / "results.csv")] == finished
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    before = {k: (out / "runs" / str(k) / "summary.json").read_bytes() for k in finished}
    stamps = {k: (out / "runs" / str(k) / "summary.json").stat().st_mtime_ns for k in finished}

    with pytest.raises(ValueError, match="holds a sweep already: --resume"):
        sweep(spec, grid, "1-3", client=client, out=out, progress=False)
    with pytest.raises(ValueError, match="holds another sweep"):
        sweep(spec, grid, "1-4", client=client, out=out, progress=False, resume=True)

    again = []
    rows = records(sweep(spec, grid, "1-3", client=client, out=out, progress=False, resume=True,
                         callback=lambda row: again.append(row["run"])))
    assert sorted(again) == sorted(set(range(12)) - set(finished))  # only the runs not finished
    assert [r["run"] for r in rows] == list(range(12)) and {r["status"] for r in rows} == {"ok"}
    for k in finished:
        assert (out / "runs" / str(k) / "summary.json").read_bytes() == before[k]
        assert (out / "runs" / str(k) / "summary.json").stat().st_mtime_ns == stamps[k]
    assert len(read_csv(out / "results.csv")) == 12
    # a finished sweep resumed runs nothing
    third = []
    sweep(spec, grid, "1-3", client=client, out=out, progress=False, resume=True, callback=third.append)
    assert third == []


def test_without_pandas_a_list_of_rows(env, tmp_path, monkeypatch):
    spec, module = env
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas fails
    rows = sweep(spec, {"I0": "1.1,1.3"}, 1, workers=0, out=tmp_path / "out", progress=False, plots=False)
    assert isinstance(rows, list) and [r["I0"] for r in rows] == [1.1, 1.3]
    assert rows[0]["cells.spikes"] == direct(module, {"I0": 1.1}, 1, module.STEPS)[0]
    assert (tmp_path / "out" / "results.csv").exists() and not (tmp_path / "out" / "results.parquet").exists()


# ---- the command line -------------------------------------------------------------------

def test_cli_on_a_scheduler(env, client, tmp_path, capsys):
    spec, module = env
    out = tmp_path / "out"
    code = main(["sweep", str(spec), "--set", "tau_m=8ms,12ms", "--set", "I0=1.1:1.3:0.2", "--seeds", "1-2",
                 "--duration", "30ms", "-o", str(out), "--scheduler", client.scheduler.address])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "sweep: 8 runs (8 ok, 0 failed, 0 lost; 0 finished before)" in captured.out
    rows = read_csv(out / "results.csv")
    assert [(float(r["tau_m"]), float(r["I0"]), int(r["seed"])) for r in rows] == [
        (t, i, s) for t in (0.008, 0.012) for i in (1.1, 1.3) for s in (1, 2)]
    for r in rows:
        count = direct(module, {"tau_m": float(r["tau_m"]), "I0": float(r["I0"])}, int(r["seed"]), 300)[0]
        assert int(r["cells.spikes"]) == count
    pytest.importorskip("matplotlib")
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors(env, tmp_path, capsys):
    spec, _ = env
    for args, says in [(["--set", "tau_m=10,20"], "cells.tau_m is in s"),
                       (["--set", "tau_m=1:2"], "start:stop:step"),
                       (["--set", "I0=1", "--set", "I0=2"], "given twice"),
                       (["--duration", "3 mV"], "not a time"),
                       (["--seeds", "x"], "--seeds 'x'")]:
        code = main(["sweep", str(spec), "-o", str(tmp_path / "out"), "--workers", "0", *args])
        err = capsys.readouterr().err
        assert code == 2 and says in err and "Traceback" not in err


def test_cli_local_cluster_end_to_end(env, tmp_path):
    """A real ``snnlang sweep`` process with its own LocalCluster of 2 workers."""
    spec, module = env
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "snnlang", "sweep", str(spec), "--set", "I0=1.1,1.3", "--seeds", "1-2",
           "--workers", "2", "--duration", "20ms", "-o", str(out), "--no-plots"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = read_csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["ok"] * 4
    for r in rows:
        assert int(r["cells.spikes"]) == direct(module, {"I0": float(r["I0"])}, int(r["seed"]), 200)[0]
    assert not (out / "summary.png").exists()
    proc = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert proc.returncode == 0 and "4 finished before" in proc.stdout
