"""One network over several processes (MPI): the spikes, traces and synaptic events of a run
split over R processes are those of the single-process run (docs/scale.md).

The in-process tests need no MPI: a package's Partition can be built for any process of any
R without a communicator, and the split code can run as one process of one. The tests that
start processes (``mpiexec -n 2``, ``-n 3``; oversubscribed on a 2-core machine) are skipped,
with the reason, where mpi4py or an mpiexec is missing (pip install mpi4py mpich).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snnlang.build import render
from snnlang.frontend import load
from snnlang.plan import make_plan

from helpers import write_spec

CUBA = """
neuron CubaLIF {{
    parameters {{ tau_m = 20 ms; tau_e = 5 ms; tau_i = 10 ms; V_t = -50 mV; V_r = -60 mV; E_l = -49 mV; t_ref = 5 ms }}
    state {{ v = V_r; ge = 0 mV; gi = 0 mV }}
    equations {{
        dv/dt  = (ge + gi - (v - E_l)) / tau_m   unless refractory
        dge/dt = -ge / tau_e
        dgi/dt = -gi / tau_i
    }}
    spike when v > V_t
    reset {{ v = V_r }}
    refractory t_ref
}}
network cuba {{
    input drive = poisson(50, rate = 20 Hz)
    population cells = CubaLIF(800) {{ v = uniform(-60 mV, -50 mV) }}
    connect cells[0:640] -> cells   {{ p = 0.05{delay}; on_pre: ge_post += 1.62 mV }}
    connect cells[640:800] -> cells {{ p = 0.05{delay}; on_pre: gi_post += -9 mV }}
    connect drive -> cells[0:400]   {{ p = 0.1{delay}; on_pre: ge_post += 2 mV }}
    monitor spikes of cells, drive
    monitor v, ge of cells[0:800:97]
}}
simulate cuba {{ dt = 0.1 ms; steps = 600; seed = 3 }}
"""

#: LIF populations driven by Poisson input: fixed probability, indegree and pairwise-free
#: connectivity, random weights, one delay per connection and one drawn per synapse.
MIXED = """
import "lif.snn"
network mixed {{
    input drive = poisson(60, rate = 200 Hz)
    population exc = LIF(90) {{ I_ext = 1.1 nA; v = uniform(-65 mV, -52 mV) }}
    population inh = LIF(30) {{ I_ext = 1.0 nA }}
    connect drive -> exc {{ indegree = 6; delay = 2 ms; w = uniform(0.5, 1.5); on_pre: I_syn_post += w * nA }}
    connect drive -> inh {{ p = 0.2{d1}; w = uniform(0, 2); on_pre: I_syn_post += w * nA }}
    connect exc -> exc {{ p = 0.1; delay = 1.5 ms; w = uniform(0, 1); on_pre: I_syn_post += w * nA }}
    connect exc -> inh {{ p = 0.2{d2}; w = 0.8; on_pre: I_syn_post += w * nA }}
    connect inh -> exc {{ p = 0.3; delay = uniform({lo}, 4 ms); w = uniform(-2, 0); on_pre: I_syn_post += w * nA }}
    monitor spikes of drive, exc, inh
    monitor v, I_syn of exc[0:90:7]
    monitor v of inh[3], inh[17]
}}
simulate mixed {{ dt = 0.5 ms; steps = 400; seed = 5 }}
"""

#: name -> (spec text, the exchange period: the shortest delay in steps)
SPECS = {
    "cuba_delay_1": (CUBA.format(delay=""), 1),  # one step: spikes exchanged every step
    "cuba_delay_3": (CUBA.format(delay="; delay = 0.3 ms"), 3),
    "mixed_delay_1": (MIXED.format(d1="", d2="", lo="0.5 ms"), 1),
    "mixed_delay_3": (MIXED.format(d1="; delay = 1.5 ms", d2="; delay = 2 ms", lo="1.5 ms"), 3),
}

ROOT = Path(__file__).resolve().parent.parent


def _mpiexec() -> str | None:
    found = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    return found


def _mpi_missing() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py mpich)"
    if _mpiexec() is None:
        return "no mpiexec on PATH or beside the interpreter (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=_mpi_missing() or "")


def _package(tmp_path: Path, name: str):
    """The spec built for the NumPy target into tmp_path/<name>, imported: (folder, module)."""
    text, _ = SPECS[name]
    spec = write_spec(text, tmp_path, name)
    folder = tmp_path / name
    folder.mkdir()
    for file, source in render(make_plan(load(spec)), "numpy", name).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(source)
    module_name = f"mpi_test_{name}_{abs(hash(str(tmp_path)))}"
    found = importlib.util.spec_from_file_location(module_name, folder / "__init__.py",
                                                   submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(found)
    sys.modules[module_name] = module
    found.loader.exec_module(module)
    return spec, folder, module


def _records(module, net) -> dict:
    out = {"synops": np.array(net.synops)}
    for kind, pop, variables, *_ in module.MONITORS:
        if kind == "spikes":
            out[f"{pop}_t"], out[f"{pop}_i"] = net.spikes(pop)
        else:
            for v in variables:
                out[f"{pop}_{v}_t"], out[f"{pop}_{v}"] = net.trace(pop, v)
    return out


def _same(expected: dict, got: dict) -> None:
    assert sorted(expected) == sorted(got)
    for key in expected:
        assert expected[key].shape == got[key].shape, key
        assert np.array_equal(expected[key], got[key]), key  # bit for bit


class _Process:
    """Process ``rank`` of ``ranks`` without MPI: builds that process's part (no collectives)."""

    def __init__(self, module, rank: int, ranks: int):
        self.base = module.network.parallel.OneProcess
        self.rank, self.ranks = rank, ranks

    def make(self):
        rank, ranks = self.rank, self.ranks

        class Process(self.base):
            def Get_rank(self):
                return rank

            def Get_size(self):
                return ranks

        return Process()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_split_code_in_one_process_equals_the_whole_network_code(tmp_path, name):
    _, _, module = _package(tmp_path, name)
    whole = module.Network().run()
    split = module.Network(comm=module.network.parallel.OneProcess()).run()
    assert split.part is not None and whole.part is None
    assert len(whole.spikes(module.MONITORS[0][1])[0]) > 0
    _same(_records(module, whole), _records(module, split))


@pytest.mark.parametrize("name", ["cuba_delay_1", "mixed_delay_3"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_each_process_draws_only_the_synapses_onto_its_neurons(tmp_path, name, ranks):
    """The synapses every process draws, together, are the single process's (pairs, weights,
    delays), each once; no process holds another's."""
    _, _, module = _package(tmp_path, name)
    whole = module.Network()
    plan_conns = [c for c in make_plan(load(tmp_path / f"{name}.snn")).connections]
    parts = [module.Network(comm=_Process(module, r, ranks).make()) for r in range(ranks)]
    for c in plan_conns:
        pre_key, post_key = f"{c.name}_pre", f"{c.name}_post"
        extra = [k for k in whole.state if k.startswith(c.name + "_") and whole.state[k].dtype.kind == "f"
                 and whole.state[k].shape == whole.state[pre_key].shape]
        rows = lambda net, post: np.rec.fromarrays([net.state[pre_key], post] + [net.state[k] for k in extra])
        expected = np.sort(rows(whole, whole.state[post_key]))
        held = [rows(p, p.part.own[c.target][p.state[post_key]]) for p in parts]
        assert all(0 < h.size < expected.size for h in held)  # every process holds some, none all
        assert np.array_equal(np.sort(np.concatenate(held)), expected)
        for p, h in zip(parts, held):  # onto its own neurons only
            assert np.isin(h.f1, p.part.own[c.target]).all()


@pytest.mark.parametrize("name", sorted(SPECS))
def test_exchange_period_is_the_shortest_delay(tmp_path, name):
    _, _, module = _package(tmp_path, name)
    _, every = SPECS[name]
    net = module.Network(comm=module.network.parallel.OneProcess())
    assert net.every == every
    net.run(steps=90)
    assert net.part.exchanges == -(-90 // every)  # one exchange every `every` steps (and the last, at the end)
    if name.startswith("cuba"):  # a slice of cells is targeted: round robin balances its synapses
        assert module.network.PARTITION == {"cells": "round_robin", "drive": "blocks"}


def _run_mpi(args: list[str], ranks: int, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    # MPICH's Hydra starts as many processes as asked on one host (oversubscribed when cores are fewer)
    return subprocess.run([_mpiexec(), "-n", str(ranks)] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


# Scripts run under mpirun: LOAD imports the package in argv[1] as `m`; SAVE writes, on rank 0 (or
# the only process), the synaptic-event counts and every monitor's records to argv[2].
LOAD = """
import importlib.util, sys
import numpy as np
found = importlib.util.spec_from_file_location("net", sys.argv[1] + "/__init__.py", submodule_search_locations=[sys.argv[1]])
m = importlib.util.module_from_spec(found); sys.modules["net"] = m; found.loader.exec_module(m)
"""
SAVE = """
if net.part is None or net.part.rank == 0:
    out = {"synops": np.array(net.synops)}
    for kind, pop, variables, *_ in m.MONITORS:
        if kind == "spikes":
            out[f"{pop}_t"], out[f"{pop}_i"] = net.spikes(pop)
        else:
            for v in variables:
                out[f"{pop}_{v}_t"], out[f"{pop}_{v}"] = net.trace(pop, v)
    np.savez(sys.argv[2], **out)
"""
DUMP = LOAD + """
net = m.Network().run()
assert net.part is not None and net.part.ranks == int(sys.argv[3]), "not split"
""" + SAVE


def _split_run(folder, ranks, tmp_path):
    """The records of the package in `folder` run with DUMP over `ranks` processes."""
    script = tmp_path / "dump.py"
    script.write_text(DUMP)
    done = _run_mpi([sys.executable, str(script), str(folder), str(tmp_path / "got.npz"), str(ranks)], ranks, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "got.npz") as got:
        return dict(got)


@needs_mpi
@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("ranks", [2, 3])
def test_mpi_run_equals_the_single_process_run(tmp_path, name, ranks):
    _, folder, module = _package(tmp_path, name)
    expected = _records(module, module.Network().run())
    _same(expected, _split_run(folder, ranks, tmp_path))


def _cli_runs_agree(spec, tmp_path, *options):
    """`snnlang run SPEC *options` alone and under mpirun -n 2 write the same outputs."""
    command = [sys.executable, "-m", "snnlang", "run", str(spec), *options, "--no-plots", "-o"]
    one = subprocess.run(command + [str(tmp_path / "one")], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    two = _run_mpi(command + [str(tmp_path / "two")], 2, tmp_path)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("mixed:") == 1  # the first process reports for both
    for name in ("spikes.npz", "state.npz"):
        with np.load(tmp_path / "one" / name) as a, np.load(tmp_path / "two" / name) as b:
            _same(dict(a), dict(b))
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("one", "two"))
    assert a["populations"] == b["populations"] and a["synops"] == b["synops"] > 0


@needs_mpi
def test_mpirun_snnlang_run_writes_the_single_process_outputs(tmp_path):
    spec, _, _ = _package(tmp_path, "mixed_delay_1")
    _cli_runs_agree(spec, tmp_path)


def _python_m_agrees(folder, module, tmp_path):
    """`python -m PACKAGE` under mpirun -n 2 saves the spikes of one process's run."""
    expected = module.Network().run()
    done = _run_mpi([sys.executable, "-m", folder.name, "--out", str(tmp_path / "s.npz")], 2, folder.parent)
    assert done.returncode == 0, done.stderr
    assert "over 2 processes" in done.stdout and done.stdout.count("cuba:") == 1
    with np.load(tmp_path / "s.npz") as got:
        times, neurons = expected.spikes("cells")
        assert np.array_equal(got["cells_t"], times) and np.array_equal(got["cells_i"], neurons)


@needs_mpi
def test_python_m_package_under_mpirun(tmp_path):
    _, folder, module = _package(tmp_path, "cuba_delay_3")
    _python_m_agrees(folder, module, tmp_path)


@needs_mpi
def test_what_does_not_split_is_refused_with_a_message(tmp_path):
    plastic = ROOT / "specs" / "stdp_song.snn"
    done = _run_mpi([sys.executable, "-m", "snnlang", "run", str(plastic), "-o", str(tmp_path / "p"), "--no-plots",
                     "--duration", "5ms"], 2, tmp_path)
    assert done.returncode == 2
    assert "cannot be split over 2 processes" in done.stderr and "plastic" in done.stderr
    assert "Traceback" not in done.stderr
    spec, _, _ = _package(tmp_path, "cuba_delay_1")
    done = _run_mpi([sys.executable, "-m", "snnlang", "run", str(spec), "--target", "cupy", "-o", str(tmp_path / "c"),
                     "--no-plots"], 2, tmp_path)
    assert done.returncode == 2 and "--target cupy runs a network in one process" in done.stderr

def test_a_per_neuron_parameter_array_is_split_with_its_neurons(tmp_path):
    """Network(params={key: one value per neuron}) gives each process its neurons' values."""
    text = MIXED.format(d1="", d2="", lo="0.5 ms").replace(
        "population inh = LIF(30) { I_ext = 1.0 nA }",
        "population inh = LIF(30) { I_ext = 1.0 nA; tau_m = 15 ms + 10 ms * uniform(0, 1) }")
    spec = write_spec(text, tmp_path, "per_neuron")
    folder = tmp_path / "per_neuron"
    folder.mkdir()
    for file, source in render(make_plan(load(spec)), "numpy", "per_neuron").items():
        (folder / file).write_text(source)
    found = importlib.util.spec_from_file_location(f"mpi_pe_{abs(hash(str(tmp_path)))}", folder / "__init__.py",
                                                   submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module
    found.loader.exec_module(module)
    assert module.network.PER_ELEMENT == {"inh.tau_m": 30}
    values = np.linspace(0.012, 0.03, 30)
    whole = module.Network(params={"inh.tau_m": values})
    for rank in range(2):
        part = module.Network(params={"inh.tau_m": values}, comm=_Process(module, rank, 2).make())
        own = part.part.own["inh"]
        assert np.array_equal(part.state["inh_tau_m"], values[own])
        assert np.array_equal(whole.state["inh_tau_m"][own], values[own])
