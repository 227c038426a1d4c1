"""One network over several processes (MPI) on the c target: the spikes, traces and synaptic
events of a run split over R processes are those of the single-process c run (bit for bit),
whose spikes are the NumPy target's (docs/scale.md, docs/native.md).

The split is the NumPy target's (the same parallel.py, the same partitioned builders); the
in-process tests need no MPI: the split code runs as one process of one (``OneProcess``), and a
package's part can be built for any process of any R. The tests that start processes
(``mpiexec -n 2``, ``-n 3``, ``-n 4``; oversubscribed on a 2-core machine) are skipped, with the
reason, where mpi4py or an mpiexec is missing (pip install mpi4py mpich).
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from helpers import import_package, write_spec
from snnlang.build import build
from test_mpi import CUBA, LOAD, MIXED, SAVE, ROOT, _Process, _cli_runs_agree, _python_m_agrees, _records, _run_mpi, _same, _split_run, needs_mpi

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="the c target needs a C compiler")

#: Poisson input, per-step normal draws keyed on the neuron, per-neuron refractory periods and
#: time constants, a weight matrix (dense), event statements that write the synapses (on_pre of
#: Depressing, by rows and by all pairs), per-synapse drawn delays onto a slice (round robin).
VARIED = """
neuron Noisy {
    parameters { tau = 10 ms; v_th = 1.0; t_ref = 2 ms }
    state { v = 0.0 }
    inputs { I = 0.0 }
    update { v = v * exp(-dt / tau) + I }
    spike when v > v_th
    reset { v = 0.0 }
    refractory t_ref
}
synapse Depressing {
    parameters { f = 0.95 }
    state { w = 0.3 }
    on_pre {
        I_post += w
        w = w * f
    }
}
network varied {
    input drive = poisson(40, rate = 40 Hz)
    population a = Noisy(70) { t_ref = 1 ms + 2 ms * uniform(0, 1); I = 0.01 + 0.0005 * i + 0.05 * randn() }
    population b = Noisy(30) { tau = 5 ms + 10 ms * uniform(0, 1) }
    connect drive -> a { p = 0.3; w = uniform(0, 0.5); on_pre: I_post += w }
    connect a -> b using Depressing { p = 0.2; delay = 1 ms; w = uniform(0, 0.4) }
    connect b -> a[10:60] { p = 0.3; delay = uniform(1 ms, 3 ms); w = uniform(-0.3, 0); on_pre: I_post += w }
    connect b -> b using Depressing { all_to_all; w = uniform(0, 0.05) }
    monitor spikes of drive, a, b
    monitor v, I of a[0:70:9]
    monitor v of b[2:30:5]
}
simulate varied { dt = 0.5 ms; steps = 400; seed = 7 }
"""

#: name -> (spec text, the exchange period: the shortest delay in steps)
SPECS = {
    "cuba_delay_1": (CUBA.format(delay=""), 1),
    "cuba_delay_3": (CUBA.format(delay="; delay = 0.3 ms"), 3),
    "mixed_delay_1": (MIXED.format(d1="", d2="", lo="0.5 ms"), 1),
    "mixed_delay_3": (MIXED.format(d1="; delay = 1.5 ms", d2="; delay = 2 ms", lo="1.5 ms"), 3),
    "varied": (VARIED, 1),
}

#: Traces that the NumPy target sums in another order (a matrix product, BLAS): equal within rounding.
RTOL = 1e-9


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """(spec, folder, module) of each spec built for a target, built once for the module."""
    root = tmp_path_factory.mktemp("mpi_c")
    found = {}

    def get(name: str, target: str = "c"):
        if (name, target) not in found:
            spec = write_spec(SPECS[name][0], root, name)
            folder = root / f"{name}_{target}"
            build(spec, folder, target)  # the c target compiles step.c here
            found[name, target] = spec, folder, import_package(folder)
        return found[name, target]

    return get


def _within_rounding(expected: dict, got: dict) -> None:
    """Spikes, sample times and synaptic events identical; traces within rounding."""
    assert sorted(expected) == sorted(got)
    for key in expected:
        assert expected[key].shape == got[key].shape, key
        if expected[key].dtype.kind == "f" and not key.endswith("_t"):
            np.testing.assert_allclose(got[key], expected[key], rtol=RTOL, atol=RTOL * np.abs(expected[key]).max(),
                                       err_msg=key)
        else:
            assert np.array_equal(expected[key], got[key]), key


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_split_code_in_one_process_equals_the_single_process_run(packages, name):
    _, _, module = packages(name)
    whole = module.Network().run()
    split = module.Network(comm=module.network.parallel.OneProcess()).run()
    assert split.part is not None and whole.part is None
    for kind, pop, *_ in module.MONITORS:
        if kind == "spikes":
            assert len(whole.spikes(pop)[0]) > 0, pop
    _same(_records(module, whole), _records(module, split))
    _, _, numpy_module = packages(name, "numpy")  # and the NumPy target's spikes
    _within_rounding(_records(numpy_module, numpy_module.Network().run()), _records(module, whole))


@pytest.mark.parametrize("name", ["mixed_delay_3", "varied"])
@pytest.mark.parametrize("ranks", [2, 3])
def test_each_process_builds_its_part_with_the_numpy_builders(packages, name, ranks):
    """A process of the c package holds what the NumPy package's process holds: its neurons'
    initial state and parameters and the synapses onto them, drawn by the same builders."""
    _, _, module = packages(name)
    _, _, numpy_module = packages(name, "numpy")
    assert module.network.PARTITION == numpy_module.network.PARTITION
    for rank in range(ranks):
        c_part = module.Network(comm=_Process(module, rank, ranks).make())
        np_part = numpy_module.Network(comm=_Process(numpy_module, rank, ranks).make())
        for population, held in c_part.part.own.items():
            assert 0 < held.size < module.SIZES[population] and np.array_equal(held, np_part.part.own[population])
        assert sorted(c_part.state) == sorted(np_part.state)
        for key, value in np_part.state.items():
            assert np.array_equal(c_part.state[key], value), key
        assert c_part.every == np_part.every


@pytest.mark.parametrize("name", sorted(SPECS))
def test_exchange_period_is_the_shortest_delay(packages, name):
    _, _, module = packages(name)
    _, every = SPECS[name]
    net = module.Network(comm=module.network.parallel.OneProcess())
    assert net.every == every
    net.run(steps=90)
    assert net.part.exchanges == -(-90 // every)  # one gather every min-delay steps, the last at the end


def test_a_split_network_is_not_saved(packages, tmp_path):
    _, _, module = packages("cuba_delay_3")
    net = module.Network(comm=module.network.parallel.OneProcess()).run(steps=10)
    with pytest.raises(ValueError, match="split over 1 processes"):
        net.save(tmp_path / "net.npz")


@needs_mpi
@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("ranks", [2, 3])
def test_mpi_run_equals_the_single_process_run(packages, tmp_path, name, ranks):
    _, folder, module = packages(name)
    expected = _records(module, module.Network().run())
    _same(expected, _split_run(folder, ranks, tmp_path))


@needs_mpi
@pytest.mark.parametrize("name", ["cuba_delay_1", "varied"])
def test_four_processes_equal_one(packages, tmp_path, name):
    _, folder, module = packages(name)
    expected = _records(module, module.Network().run())
    _same(expected, _split_run(folder, 4, tmp_path))


#: Outside inputs and per-neuron parameters given to a split network: a table of rates (steps x
#: neurons), a function of the step, an array per neuron, set between two runs.
INPUTS = LOAD + """
net = m.Network(params={"b.tau": np.linspace(0.004, 0.02, 30)})
net.set_input("drive.rate", np.outer(np.linspace(10, 80, 50), np.linspace(0.5, 1.5, 40)))
net.set_input("a.I", lambda step: 0.02 + 0.01 * np.sin(step / 7.0 + np.arange(70) / 10))
net.run(steps=150)
net.set_input("drive.rate", 30.0)
net.set_input("a.I", np.linspace(0.0, 0.06, 70))
net.run(steps=150)
""" + SAVE


@needs_mpi
def test_outside_inputs_and_parameter_arrays_reach_the_neurons_held_here(packages, tmp_path):
    _, folder, _ = packages("varied")
    _, numpy_folder, _ = packages("varied", "numpy")
    script = tmp_path / "inputs.py"
    script.write_text(INPUTS)
    for args in ([str(folder), str(tmp_path / "one.npz")], [str(numpy_folder), str(tmp_path / "numpy.npz")]):
        done = subprocess.run([sys.executable, str(script)] + args, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
    done = _run_mpi([sys.executable, str(script), str(folder), str(tmp_path / "three.npz")], 3, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(tmp_path / "one.npz") as one, np.load(tmp_path / "three.npz") as three, \
            np.load(tmp_path / "numpy.npz") as numpy_run:
        _same(dict(one), dict(three))
        _within_rounding(dict(numpy_run), dict(one))
        assert one["drive_i"].size > 0 and one["b_i"].size > 0


@needs_mpi
def test_mpirun_snnlang_run_target_c_writes_the_single_process_outputs(packages, tmp_path):
    spec, _, _ = packages("mixed_delay_1")
    _cli_runs_agree(spec, tmp_path, "--target", "c")


@needs_mpi
def test_python_m_c_package_under_mpirun(packages, tmp_path):
    _, folder, module = packages("cuba_delay_3")
    _python_m_agrees(folder, module, tmp_path)


@needs_mpi
def test_what_does_not_split_is_refused_with_a_message(tmp_path):
    plastic = ROOT / "specs" / "stdp_song.snn"
    done = _run_mpi([sys.executable, "-m", "snnlang", "run", str(plastic), "--target", "c", "-o", str(tmp_path / "p"),
                     "--no-plots", "--duration", "5ms"], 2, tmp_path)
    assert done.returncode == 2
    assert "cannot be split over 2 processes" in done.stderr and "plastic" in done.stderr
    assert "Traceback" not in done.stderr


@needs_mpi
def test_a_nan_on_one_process_ends_every_process_with_the_single_process_message(tmp_path):
    spec = tmp_path / "blowup.snn"
    spec.write_text((ROOT / "tests" / "specs" / "blowup.snn").read_text())
    one = subprocess.run([sys.executable, "-m", "snnlang", "run", str(spec), "--target", "c", "--no-plots", "-o",
                          str(tmp_path / "one")], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert one.returncode == 1 and "became inf at step 1516" in one.stderr
    said = one.stderr.split("; the ")[0].replace("snnlang run: ", "")  # the variable, step and neuron
    two = _run_mpi([sys.executable, "-m", "snnlang", "run", str(spec), "--target", "c", "--no-plots", "-o",
                    str(tmp_path / "two")], 2, tmp_path, timeout=120)
    assert two.returncode != 0 and said in two.stderr, two.stderr[-2000:]
    assert "Traceback" not in two.stderr
