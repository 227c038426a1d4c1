"""The native CPU target (--target c): step.c compiled with the system C compiler, against the NumPy target.

Every spec here runs on both targets from the same seed: the spikes must be identical, state
and traces equal within rounding (the NumPy target integrates a linear population with one
matrix product, whose sums BLAS orders its own way; libm's log1p in the normal draws may differ
from NumPy's in the last bit), and the synaptic event counts equal. Then the Network API:
save/load in the middle of a run, parameters changed without a rebuild, inputs set between
chunks, threads, the located refusal of what the target does not print, and the message
without a C compiler.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import SPECS, TEST_SPECS, import_package, write_spec
from snnlang.backends.c import compile_package
from snnlang.build import build
from snnlang.frontend.diagnostics import SpecError

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="the c target needs a C compiler")

CONFORMANCE = TEST_SPECS / "conformance"
RTOL = 1e-9


def packages(spec: Path, folder: Path):
    """The NumPy and c packages of a spec (the c one compiled, as snnlang build does)."""
    build(spec, folder / "np_net", "numpy")
    build(spec, folder / "c_net", "c")
    compile_package(folder / "c_net")
    return import_package(folder / "np_net"), import_package(folder / "c_net")


def assert_close(actual, expected, what: str) -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    scale = max(float(np.abs(expected).max(initial=0)), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale, err_msg=what)


def assert_same_run(a, b, monitors, label: str) -> int:
    """Spikes identical, traces and float state within rounding, synaptic events equal; the spikes compared."""
    spikes = 0
    for kind, pop, variables, *_ in monitors:
        if kind == "spikes":
            ta, ia = a.spikes(pop)
            tb, ib = b.spikes(pop)
            assert np.array_equal(ia, ib) and np.array_equal(ta, tb), \
                f"{label}: spikes of {pop} differ ({len(ta)} NumPy, {len(tb)} c)"
            spikes += len(ta)
        else:
            for var in variables:
                ta, va = a.trace(pop, var)
                tb, vb = b.trace(pop, var)
                assert np.array_equal(ta, tb), f"{label}: sample times of {pop}.{var}"
                assert_close(vb, va, f"{label}: trace {pop}.{var}")
    for key, value in a.state.items():
        if np.asarray(value).dtype.kind == "f":
            assert_close(b.state[key], value, f"{label}: state {key}")
    assert b.synops == a.synops, f"{label}: {b.synops} synaptic events, NumPy {a.synops}"
    return spikes


CASES = [
    (SPECS / "cuba.snn", 2000),
    (SPECS / "brief_lif.snn", None),
    (SPECS / "izhikevich_network.snn", 600),
    (TEST_SPECS / "lif_current.snn", None),
    (TEST_SPECS / "synops.snn", None),
    (CONFORMANCE / "delays.snn", None),  # one delay a connection, dense and from sources
    (CONFORMANCE / "synapse_delays.snn", None),  # a delay per synapse, grouped
    (CONFORMANCE / "poisson.snn", None),
    (CONFORMANCE / "spike_times.snn", None),
    (CONFORMANCE / "monitors.snn", None),
]


@pytest.mark.parametrize("spec, steps", CASES, ids=lambda x: x.stem if isinstance(x, Path) else str(x))
def test_the_same_spikes_as_the_numpy_target(tmp_path, spec, steps):
    if not spec.exists():
        pytest.skip(f"{spec} is not in this tree")
    np_pkg, c_pkg = packages(spec, tmp_path)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    a.run(steps=steps)
    b.run(steps=steps)
    assert a.step == b.step > 0
    spikes = assert_same_run(a, b, np_pkg.MONITORS, spec.stem)
    if spec.stem in ("cuba", "izhikevich_network", "delays", "synapse_delays", "poisson"):
        assert spikes > 100, f"{spec.stem}: too few spikes ({spikes}) to compare anything"


def test_a_run_split_by_save_and_load_is_one_run(tmp_path):
    """Delayed spikes in flight, refractory periods and Poisson draws continue across the split."""
    _, c_pkg = packages(CONFORMANCE / "delays.snn", tmp_path)
    whole = c_pkg.Network(threads=1)
    whole.run(steps=600)
    first = c_pkg.Network(threads=1)
    first.run(steps=237)
    first.save(tmp_path / "half.npz")
    second = c_pkg.Network.load(tmp_path / "half.npz", threads=1)
    second.run(steps=363)
    assert second.step == whole.step == 600
    for kind, pop, variables, *_ in c_pkg.MONITORS:
        if kind == "spikes":
            assert all(np.array_equal(x, y) for x, y in zip(whole.spikes(pop), second.spikes(pop))), pop
        else:
            for var in variables:
                assert all(np.array_equal(x, y) for x, y in zip(whole.trace(pop, var), second.trace(pop, var)))
    for key, value in whole.state.items():
        assert np.array_equal(value, second.state[key]), key
    assert second.synops == whole.synops


def test_parameters_change_without_a_rebuild(tmp_path):
    """set_params between runs: the c package follows the NumPy target's spikes at the new values."""
    np_pkg, c_pkg = packages(CONFORMANCE / "delays.snn", tmp_path)
    default = c_pkg.Network(threads=1)
    default.run(steps=300)
    changed = {"a.tau_m": 0.012, "b.t_ref": 0.004, "a_b.w": 1.0} if "a_b.w" in c_pkg.PARAMETERS else \
        {"a.tau_m": 0.012, "b.t_ref": 0.004}
    a, b = np_pkg.Network(params=changed), c_pkg.Network(params=changed, threads=1)
    for net in (a, b):
        net.run(steps=150)
        net.set_params({"a.v_th": -0.052})  # between chunks, too
        net.run(steps=150)
    assert_same_run(a, b, np_pkg.MONITORS, "delays with other parameters")
    assert not np.array_equal(default.spikes("a")[1], b.spikes("a")[1]), "the parameters changed nothing"


INPUTS = """
import "lif.snn"

network driven {
    population cells = LIF(6) { v = uniform(-65 mV, -55 mV) }
    monitor spikes of cells
    monitor v of cells
}

simulate driven { dt = 0.1 ms; steps = 400; seed = 2 }
"""


def test_inputs_set_between_chunks(tmp_path):
    """A constant, one value per neuron, a table and a function of the step, as the NumPy target takes them."""
    np_pkg, c_pkg = packages(write_spec(INPUTS, tmp_path, "driven"), tmp_path)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    table = np.linspace(1.5e-9, 4e-9, 6)[None, :] * np.linspace(1, 1.5, 50)[:, None]  # (steps, neurons)
    for value in (3e-9, np.linspace(2e-9, 4e-9, 6), table, lambda step: 2.5e-9 + 1e-11 * (step % 97)):
        for net in (a, b):
            net.set_input("cells.I_ext", value)
            net.run(steps=250)
    spikes = assert_same_run(a, b, np_pkg.MONITORS, "inputs")
    assert spikes > 10


def test_threads_give_identical_results(tmp_path):
    """A population large enough for the parallel loops: 1 and 2 threads, bit for bit."""
    text = (SPECS / "cuba.snn").read_text().replace("CubaLIF(4000)", "CubaLIF(20000)") \
        .replace("cells[0:3200]", "cells[0:16000]").replace("cells[3200:4000]", "cells[16000:20000]") \
        .replace("p = 0.02", "p = 0.004")
    spec = write_spec(text, tmp_path, "cuba20k")
    build(spec, tmp_path / "c_net", "c")
    c_pkg = import_package(tmp_path / "c_net")
    runs = []
    for threads in (1, 2):
        net = c_pkg.Network(threads=threads)
        net.run(steps=300)
        runs.append(net)
    one, two = runs
    assert len(one.spikes("cells")[0]) > 100
    assert all(np.array_equal(x, y) for x, y in zip(one.spikes("cells"), two.spikes("cells")))
    for key, value in one.state.items():
        assert np.array_equal(value, two.state[key]), key


def test_plasticity_is_refused_at_its_place(tmp_path):
    spec = CONFORMANCE / "stdp_sparse.snn"
    if not spec.exists():
        pytest.skip(f"{spec} is not in this tree")
    with pytest.raises(SpecError) as err:
        build(spec, tmp_path / "net", "c")
    text = err.value.diagnostics.render()
    assert "stdp_sparse.snn:" in text and "target c:" in text and "x_out" in text and "--target numpy" in text
    assert not (tmp_path / "net").exists()


def test_without_a_compiler_one_message_with_the_fix(tmp_path, monkeypatch, capsys):
    from snnlang.cli import main

    build(TEST_SPECS / "lif_current.snn", tmp_path / "net", "c")  # printing needs no compiler
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(ValueError) as err:
        compile_package(tmp_path / "net")
    message = str(err.value)
    assert "C compiler" in message and "apt install gcc" in message and "--target numpy" in message
    assert main(["build", str(TEST_SPECS / "lif_current.snn"), "--target", "c", "-o", str(tmp_path / "net2")]) == 1
    printed = capsys.readouterr().err
    assert printed.count("\n") == 1 and "apt install gcc" in printed and "Traceback" not in printed
    monkeypatch.setenv("CC", "no-such-cc")
    with pytest.raises(ValueError, match="CC='no-such-cc' was not found"):
        compile_package(tmp_path / "net")


def test_the_build_records_compiler_flags_and_threads(tmp_path):
    from snnlang.cli import main

    assert main(["build", str(TEST_SPECS / "lif_current.snn"), "--target", "c", "-o", str(tmp_path / "net"),
                 "--threads", "3"]) == 0
    import json

    record = json.loads((tmp_path / "net" / "native.json").read_text())
    assert "-O3" in record["flags"] and "-ffp-contract=off" in record["flags"] and record["threads"] == 3
    assert (tmp_path / "net" / record["library"]).is_file()
    net = import_package(tmp_path / "net").Network()
    assert net.threads == 3
