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

import importlib.util
import shutil
import sys
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


def _on_threads(c_pkg, steps):
    """The package's network run for `steps` on 1 and on 2 threads."""
    return [c_pkg.Network(threads=threads).run(steps=steps) for threads in (1, 2)]


def test_threads_give_identical_results(tmp_path):
    """A population large enough for the parallel loops: 1 and 2 threads, bit for bit."""
    text = (SPECS / "cuba.snn").read_text().replace("CubaLIF(4000)", "CubaLIF(20000)") \
        .replace("cells[0:3200]", "cells[0:16000]").replace("cells[3200:4000]", "cells[16000:20000]") \
        .replace("p = 0.02", "p = 0.004")
    spec = write_spec(text, tmp_path, "cuba20k")
    build(spec, tmp_path / "c_net", "c")
    c_pkg = import_package(tmp_path / "c_net")
    one, two = _on_threads(c_pkg, 300)
    assert len(one.spikes("cells")[0]) > 100
    assert all(np.array_equal(x, y) for x, y in zip(one.spikes("cells"), two.spikes("cells")))
    for key, value in one.state.items():
        assert np.array_equal(value, two.state[key]), key


def _busy_spec() -> str:
    """The delivery-heavy network of benchmarks/native_delivery.py (its SPEC)."""
    found = importlib.util.spec_from_file_location("native_delivery", SPECS.parent / "benchmarks" / "native_delivery.py")
    module = importlib.util.module_from_spec(found)
    sys.path.insert(0, str(SPECS.parent / "benchmarks"))  # it imports benchmarks/native.py
    try:
        found.loader.exec_module(module)
    finally:
        sys.path.remove(str(SPECS.parent / "benchmarks"))
    return module.SPEC


def test_parallel_deliveries_give_the_numpy_targets_sums(tmp_path):
    """Deliveries busy enough to run over threads (each thread its slice of the targets) through
    every path: compressed rows from the last step's list and from a delay group, a weight matrix
    from both, and a gathered constant weight. 1 and 2 threads bit for bit; spikes as NumPy's."""
    from snnlang.backends.c.source import PARALLEL_MIN

    spec = write_spec(_busy_spec(), tmp_path, "busy")
    np_pkg, c_pkg = packages(spec, tmp_path)
    step_c = (tmp_path / "c_net" / "step.c").read_text()
    for kind in ("csr, one step of delay", "dense, one step of delay", "gathered, one step of delay",
                 "src -> a, csr\n", "a -> b, dense\n"):
        assert kind in step_c, kind
    one, two = _on_threads(c_pkg, 200)
    assert one.synops / 200 > 5 * PARALLEL_MIN  # most steps run the deliveries on threads
    for key, value in one.state.items():
        assert np.array_equal(value, two.state[key]), key
    reference = np_pkg.Network()
    reference.run(steps=200)
    assert assert_same_run(reference, two, np_pkg.MONITORS, "busy") > 1000


def test_what_the_target_refuses_is_reported_at_its_place(tmp_path):
    spec = write_spec(SELECTIONS, tmp_path, "selections")
    with pytest.raises(SpecError) as err:
        build(spec, tmp_path / "net", "c")
    text = err.value.diagnostics.render()
    assert "selections.snn:4:" in text and "target c:" in text and "several selections" in text
    assert "--target numpy" in text
    assert not (tmp_path / "net").exists()


SELECTIONS = """
import "lif.snn"

network selected {
    population cells = LIF(5) { I_ext = 2 nA }
    monitor v of cells[0:2], cells[3:5]
}

simulate selected { dt = 0.1 ms; steps = 50; seed = 1 }
"""


def test_a_monitor_of_a_parameter(tmp_path):
    """A parameter that is one number is recorded as that number, as the NumPy target records it."""
    text = SELECTIONS.replace("monitor v of cells[0:2], cells[3:5]", "monitor tau_m, v of cells\n    monitor spikes of cells")
    np_pkg, c_pkg = packages(write_spec(text, tmp_path, "parameter"), tmp_path)
    a, b = np_pkg.Network(), c_pkg.Network(threads=1)
    a.run()
    b.run()
    assert_same_run(a, b, np_pkg.MONITORS, "a monitor of tau_m")
    times, values = b.trace("cells", "tau_m")
    assert len(times) == 50 and np.all(values == a.params["cells.tau_m"])


# ---- precision = float32 ------------------------------------------------------------------------

def build_float32(spec: Path, out: Path, monkeypatch) -> None:
    """Build with precision = float32 (snnlang.plan.build.PRECISION, as --precision sets it)."""
    from snnlang.plan.build import PRECISION

    token = PRECISION.set("float32")
    try:
        build(spec, out, "c")
    finally:
        PRECISION.reset(token)
    compile_package(out)


def test_float32_from_the_command_line_and_refused_elsewhere(tmp_path, capsys):
    from snnlang.cli import main

    spec = tmp_path / "cuba32.snn"
    spec.write_text((SPECS / "cuba.snn").read_text().replace("duration = 1 s", "duration = 50 ms"))
    assert main(["build", str(spec), "--target", "c", "--precision", "float32", "-o", str(tmp_path / "p")]) == 0
    assert "typedef float real;" in (tmp_path / "p" / "step.c").read_text()
    assert main(["build", str(spec), "--precision", "float32", "-o", str(tmp_path / "q")]) != 0
    assert "target numpy does not print precision = float32; use --target c" in capsys.readouterr().err


@pytest.mark.parametrize("spec", [TEST_SPECS / "lif_current.snn", CONFORMANCE / "spike_times.snn"], ids=lambda x: x.stem)
def test_float32_the_same_spikes_where_rounding_cannot_matter(tmp_path, monkeypatch, spec):
    """One neuron under a constant current (its threshold crossings are far from a tie), and
    spike-time sources through delays: float32 gives the float64 NumPy target's spikes."""
    build(spec, tmp_path / "np_net", "numpy")
    build_float32(spec, tmp_path / "f32", monkeypatch)
    np_pkg, f32 = import_package(tmp_path / "np_net"), import_package(tmp_path / "f32")
    assert "typedef float real;" in (tmp_path / "f32" / "step.c").read_text()
    a, b = np_pkg.Network(), f32.Network(threads=1)
    a.run()
    b.run()
    potentials = [v for k, v in b.state.items() if k.endswith("_v")]  # the state of the neurons
    assert potentials and all(v.dtype == np.float32 for v in potentials)
    spikes = 0
    for kind, pop, *_ in np_pkg.MONITORS:
        if kind == "spikes":
            (ta, ia), (tb, ib) = a.spikes(pop), b.spikes(pop)
            assert np.array_equal(ta, tb) and np.array_equal(ia, ib), pop
            spikes += len(ta)
    assert spikes > 5


@pytest.mark.parametrize("spec, tolerance", [(SPECS / "cuba.snn", 0.03), (SPECS / "izhikevich_network.snn", 0.05)],
                         ids=lambda x: x.stem if isinstance(x, Path) else str(x))
def test_float32_spike_counts_close_to_float64(tmp_path, monkeypatch, spec, tolerance):
    """A recurrent network is chaotic: float32 rounding changes which neuron spikes when, but
    not the rates (1 s of CUBA: 0.6 % more spikes; Izhikevich: 1.3 % fewer, 1.7 % more)."""
    build(spec, tmp_path / "np_net", "numpy")
    build_float32(spec, tmp_path / "f32", monkeypatch)
    np_pkg, f32 = import_package(tmp_path / "np_net"), import_package(tmp_path / "f32")
    a, b = np_pkg.Network(), f32.Network(threads=1)
    a.run()
    b.run()
    for kind, pop, *_ in np_pkg.MONITORS:
        if kind == "spikes":
            n64, n32 = len(a.spikes(pop)[0]), len(b.spikes(pop)[0])
            assert n64 > 500 and abs(n32 - n64) <= tolerance * n64, f"{pop}: {n32} spikes in float32, {n64} in float64"
            assert n32 != n64 or not np.array_equal(a.spikes(pop)[1], b.spikes(pop)[1]), "float32 changed nothing"


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
