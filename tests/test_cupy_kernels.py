"""The CuPy target without a GPU.

(a) Every kernel of a generated ``kernels.cu`` compiles with nvcc to PTX for compute
    capability 9.0 (skipped where nvcc is absent).
(b) The same ``kernels.cu``, compiled for the CPU through ``tests/cuda_shim`` and driven by
    the generated ``network.py`` -- the very code that drives the GPU, through its device
    interface -- gives the NumPy target's results on the same spec and seed: the same
    spikes, the same synaptic event counts, state equal to the last bits of float64.

Most comparisons run the shim "serially" (every launch as one thread): the kernels loop
grid-stride, so the result is the GPU's, with the floating-point additions in the NumPy
target's order. ``test_launch_shape_does_not_change_results`` runs the real launch shapes.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_shim.shim import ShimDevice, compile_ptx, signatures
from helpers import SPECS, TEST_SPECS, import_package, write_spec
from snnlang.build import build, header, write_package
from snnlang.frontend import load
from snnlang.plan import make_plan

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the kernels for the CPU")
requires_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA toolkit) is not installed")

# ---------------------------------------------------------------------------------------
# Specs
# ---------------------------------------------------------------------------------------

from test_numpy_target import DELAY_SPEC  # noqa: E402  (the same delays, on both targets)

PLASTIC_SPEC = """
    # STDP (lazy traces) on LIF neurons: Poisson input with delays drawn per synapse, a
    # recurrent connection between slices, state monitors of a strided slice.
    import "lif.snn"
    import "stdp.snn"

    network plastic {
        input x = poisson(200, rate = 30 Hz)
        population cells = LIF(50) { I_ext = 1.6 nA; v = uniform(-65 mV, -50 mV) }
        connect x -> cells using STDP { p = 0.3; delay = uniform(1 ms, 4 ms); on_pre: I_syn_post += w * nA }
        connect cells[0:40] -> cells[10:50] using STDP { p = 0.1; delay = 1.5 ms; on_pre: I_syn_post += w * nA }
        monitor spikes of x, cells
        monitor v, I_syn of cells[3:50:7] every 0.5 ms
    }

    simulate plastic { dt = 0.1 ms; duration = 300 ms; seed = 4 }
"""

INPUTS_SPEC = """
    network sources {
        input noise = poisson(1000, rate = 40 Hz)
        input times = spike_times(indices = [2, 0, 1, 2, 0], times = [0.26, 1, 1, 3.04, 9.96] ms)
        input cam = events(width = 4, height = 3)
        monitor spikes of noise, times, cam
    }

    simulate sources { dt = 0.1 ms; duration = 1 s; seed = 5 }
"""

LIF_SPEC = """
    import "lif.snn"

    network drive {
        population cells = LIF(6)
        monitor spikes of cells
        monitor v, I_ext of cells
    }

    simulate drive { dt = 0.1 ms; duration = 100 ms; seed = 2 }
"""

ORDER_SPEC = """
    # Event statements whose order matters: the weights change with the target's v before the
    # spike adds them to it (every synapse first, then every addition), and a second rule reads
    # what the first added.
    neuron Passive {
        state { v = 0; u = 0 }
    }

    synapse Ordered {
        state { w = 0.5 }
        on_pre {
            w += 0.01 * v_post
            v_post += w
            u_post += 0.1 * v_post
        }
    }

    network ordered {
        input src = poisson(20, rate = 200 Hz)
        population cells = Passive(5)
        connect src -> cells using Ordered { all_to_all; delay = uniform(1 ms, 3 ms) }
        monitor v, u of cells
    }

    simulate ordered { dt = 1 ms; steps = 300; seed = 1 }
"""

EXTRA_SPECS = {"ordered": ORDER_SPEC, "delays": DELAY_SPEC, "plastic": PLASTIC_SPEC, "inputs": INPUTS_SPEC,
               "lif": LIF_SPEC}
REPO_SPECS = sorted(p.stem for p in SPECS.glob("*.snn"))


def spec_path(name: str, folder: Path) -> Path:
    if name in EXTRA_SPECS:
        # a folder of its own: a spec named like a library file (lif.snn) must not shadow the
        # library for the specs written beside it (import "lif.snn" looks beside the importer first)
        return write_spec(EXTRA_SPECS[name], folder / "specs" / name, name)
    if (TEST_SPECS / f"{name}.snn").exists():
        return TEST_SPECS / f"{name}.snn"
    return SPECS / f"{name}.snn"


# ---------------------------------------------------------------------------------------
# Building both targets, and the CPU device
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cupy")


_built: dict = {}


def build_pair(name: str, workdir: Path):
    """The NumPy and the CuPy package of one spec, imported (built once per test module)."""
    if (name, workdir) not in _built:
        spec = spec_path(name, workdir)
        build(spec, workdir / f"np_{name}", "numpy")
        build(spec, workdir / f"cu_{name}", "cupy")
        _built[name, workdir] = (import_package(workdir / f"np_{name}"), import_package(workdir / f"cu_{name}"))
    return _built[name, workdir]


def kernels_of(package) -> Path:
    return Path(package.__path__[0]) / "kernels.cu"


def shim(package, workdir: Path, serial: bool = True) -> ShimDevice:
    return ShimDevice(kernels_of(package), workdir / "shim", serial=serial)


def render_float(spec: Path, out: Path) -> None:
    """A CuPy package in single precision (CupyEmitter(precision="float"))."""
    from snnlang.backends import environment, templates
    from snnlang.backends.cupy import CupyEmitter
    from snnlang.plan.randomness import constants

    plan = make_plan(load(spec))
    context = CupyEmitter(plan, precision="float").context()
    context.update(header=header(plan), package=out.name, rng=constants())
    env = environment()
    write_package({n[:-3]: env.get_template(f"cupy/{n}").render(**context) for n in templates("cupy")}, out)


def assert_same_results(a, b, monitors, state_rtol=1e-9):
    """Same spikes, same traces and state up to float64 rounding, same synaptic event count."""
    for kind, pop, variables, *_ in monitors:
        if kind == "spikes":
            (ta, ia), (tb, ib) = a.spikes(pop), b.spikes(pop)
            assert len(ta) == len(tb), f"{pop}: {len(ta)} spikes on NumPy, {len(tb)} on the kernels"
            np.testing.assert_array_equal(ta, tb, err_msg=f"spike times of {pop}")
            np.testing.assert_array_equal(ia, ib, err_msg=f"spiking neurons of {pop}")
        else:
            for v in variables:
                (ta, xa), (tb, xb) = a.trace(pop, v), b.trace(pop, v)
                np.testing.assert_array_equal(ta, tb)
                scale = max(np.abs(xa).max(initial=0), 1e-300)
                np.testing.assert_allclose(xb, xa, rtol=state_rtol, atol=state_rtol * scale, err_msg=f"{pop}.{v}")
    for key, value in b.state.items():
        if key in a.state and np.asarray(a.state[key]).dtype.kind == "f":
            expected = np.asarray(a.state[key])
            scale = max(np.abs(expected).max(initial=0), 1e-300)
            np.testing.assert_allclose(b.get(key), expected, rtol=state_rtol, atol=state_rtol * scale, err_msg=key)
    assert a.synops == b.synops


def run_pair(name, workdir, steps=None, serial=True, **kwargs):
    np_pkg, cu_pkg = build_pair(name, workdir)
    a = np_pkg.Network(**kwargs)
    b = cu_pkg.Network(device=shim(cu_pkg, workdir, serial), **kwargs)
    a.run(steps=steps)
    b.run(steps=steps)
    return np_pkg, a, b


# ---------------------------------------------------------------------------------------
# (a) nvcc: every kernel compiles to PTX for compute capability 9.0
# ---------------------------------------------------------------------------------------

@requires_nvcc
@pytest.mark.parametrize("name", REPO_SPECS + ["delays", "plastic", "inputs", "lif", "ordered"])
def test_kernels_compile_to_ptx_for_compute_90(name, workdir):
    _, cu_pkg = build_pair(name, workdir)
    ptx = workdir / f"{name}.ptx"
    result = compile_ptx(kernels_of(cu_pkg), ptx)
    assert result.returncode == 0, result.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)\(", ptx.read_text()))
    assert entries == set(cu_pkg.network.KERNEL_NAMES)
    assert "warning" not in result.stderr.lower(), result.stderr


@requires_nvcc
@pytest.mark.parametrize("name", ["cuba", "plastic"])
def test_single_precision_kernels_compile_to_ptx(name, workdir):
    out = workdir / f"cu32_{name}"
    render_float(spec_path(name, workdir), out)
    source = (out / "kernels.cu").read_text()
    assert "typedef float real;" in source
    result = compile_ptx(out / "kernels.cu", workdir / f"{name}32.ptx")
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------
# (b) the kernels on the CPU against the NumPy target
# ---------------------------------------------------------------------------------------

@requires_gxx
def test_cuba_same_as_numpy(workdir):
    np_pkg, a, b = run_pair("cuba", workdir, steps=2000)
    assert len(a.spikes("cells")[0]) > 1000
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
def test_brief_stdp_same_as_numpy(workdir):
    """Pair STDP of the product brief (traces, on_pre and on_post) under Poisson input, 2 s."""
    np_pkg, a, b = run_pair("brief_stdp", workdir)
    assert len(a.spikes("out")[0]) > 100
    assert_same_results(a, b, np_pkg.MONITORS)
    assert not np.array_equal(b.get("spikes_out_w"), np_pkg.Network().state["spikes_out_w"])  # it learnt


@requires_gxx
def test_izhikevich_network_same_as_numpy(workdir):
    """Dense all-to-all layers (a product per step) and normal draws in the input, 1 s."""
    np_pkg, a, b = run_pair("izhikevich_network", workdir)
    assert len(a.spikes("exc")[0]) > 1000
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
def test_izhikevich_patterns_same_as_numpy(workdir):
    """Input as an expression of t, Euler, state monitors: exactly NumPy's numbers."""
    np_pkg, a, b = run_pair("izhikevich_patterns", workdir)
    assert_same_results(a, b, np_pkg.MONITORS, state_rtol=0)


@requires_gxx
def test_poisson_spike_times_and_events_same_as_numpy(workdir):
    """Poisson sources drawn on the device with the NumPy runtime's hash: the very same spikes."""
    np_pkg, cu_pkg = build_pair("inputs", workdir)
    a, b = np_pkg.Network(), cu_pkg.Network(device=shim(cu_pkg, workdir))
    for net in (a, b):
        net.feed_events("cam", x=[0, 3, 1, 1], y=[0, 2, 1, 1], t=[1e-3, 2e-3, 2e-3, 2e-3], polarity=[1, 0, 1, 1])
        net.run()
    assert len(b.spikes("noise")[0]) > 30000
    assert_same_results(a, b, np_pkg.MONITORS)
    # and the draws are the runtime's: uniform(seed, stream, step, i) < rate * dt
    rt = np_pkg.network.rt
    stream = next(s.stream for s in make_plan(load(spec_path("inputs", workdir))).sources if s.name == "noise")
    t, i = b.spikes("noise")
    for step in (0, 17, 9999):
        expected = np.flatnonzero(rt.uniform(b.seed, stream, step, np.arange(1000)) < 40.0 * b.dt)
        np.testing.assert_array_equal(np.sort(i[np.rint(t / b.dt) == step]), expected)


@requires_gxx
def test_delays_same_as_numpy(workdir):
    """One delay, a delay per synapse (groups in one launch), delays from a distribution."""
    np_pkg, a, b = run_pair("delays", workdir)
    assert_same_results(a, b, np_pkg.MONITORS)
    assert b.synops == a.synops > 0


@requires_gxx
def test_plastic_lif_network_same_as_numpy(workdir):
    """STDP with traces read decayed at events, per-synapse delays, slices, sampled state monitors."""
    np_pkg, a, b = run_pair("plastic", workdir)
    assert len(a.spikes("cells")[0]) > 200
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
@pytest.mark.parametrize("serial", [True, False])
def test_event_statements_keep_their_order(serial, workdir):
    """A statement that reads what a later scatter adds to (or the reverse) gets its own kernel."""
    np_pkg, cu_pkg = build_pair("ordered", workdir)
    kernels = [k for k in cu_pkg.network.KERNEL_NAMES if k.startswith("src_cells_on_pre")]
    assert len(kernels) == 3
    a = np_pkg.Network().run()
    b = cu_pkg.Network(device=shim(cu_pkg, workdir, serial=serial)).run()
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
@pytest.mark.parametrize("name", REPO_SPECS + ["synops", "izhikevich_fig2", "lif_current"])
def test_every_spec_same_as_numpy(name, workdir):
    """Every example spec, its first 600 steps (at most): what a user builds runs as on NumPy."""
    np_pkg, cu_pkg = build_pair(name, workdir)
    steps = min(600, np_pkg.STEPS)
    a = np_pkg.Network().run(steps=steps)
    b = cu_pkg.Network(device=shim(cu_pkg, workdir)).run(steps=steps)
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
def test_outside_rates_and_connection_inputs_as_numpy(workdir):
    """Poisson rates and a synapse input (the reward of R-STDP) set from outside, per step."""
    np_pkg, cu_pkg = build_pair("inputs", workdir)
    a, b = np_pkg.Network(), cu_pkg.Network(device=shim(cu_pkg, workdir))
    for net in (a, b):
        net.set_input("noise.rate", np.outer(np.linspace(0, 200, 500), np.ones(1000)))
        net.run(steps=2000)
    assert_same_results(a, b, np_pkg.MONITORS)
    np_pkg, cu_pkg = build_pair("stdp_rstdp", workdir)
    a, b = np_pkg.Network(), cu_pkg.Network(device=shim(cu_pkg, workdir))
    for net in (a, b):
        net.set_input("sensors_cell.reward", lambda step: 0.3 if step > 100 else 0.0)
        net.run()
    assert_same_results(a, b, np_pkg.MONITORS)
    assert not np.allclose(b.get("sensors_cell_w"), 1.0)  # the reward changed the weights


@requires_gxx
@pytest.mark.parametrize("name, steps", [("cuba", 300), ("plastic", 300), ("izhikevich_network", 100)])
def test_launch_shape_does_not_change_results(name, steps, workdir):
    """The real grids and blocks (threads one after the other, atomics in their order) give the serial result."""
    _, cu_pkg = build_pair(name, workdir)
    serial = cu_pkg.Network(device=shim(cu_pkg, workdir, serial=True)).run(steps=steps)
    shaped_device = shim(cu_pkg, workdir, serial=False)
    shaped = cu_pkg.Network(device=shaped_device).run(steps=steps)
    for kind, pop, *_ in cu_pkg.MONITORS:
        if kind == "spikes":
            for x, y in zip(serial.spikes(pop), shaped.spikes(pop)):
                np.testing.assert_array_equal(x, y)
    for key in serial.state:
        np.testing.assert_allclose(shaped.get(key), serial.get(key), rtol=1e-12, atol=1e-18)
    assert serial.synops == shaped.synops


@requires_gxx
def test_one_kernel_launch_per_population_per_step(workdir):
    _, cu_pkg = build_pair("cuba", workdir)
    device = shim(cu_pkg, workdir)
    net = cu_pkg.Network(device=device)
    device.launches.clear()
    net.run(steps=50)
    assert device.launches == {"cells_step": 50, "cells_cells_on_pre": 50, "cells_cells_2_on_pre": 50}


@requires_gxx
def test_split_run_by_save_and_load_is_one_run(workdir, tmp_path):
    _, cu_pkg = build_pair("plastic", workdir)
    device = shim(cu_pkg, workdir)
    whole = cu_pkg.Network(device=device).run(steps=1500)
    first = cu_pkg.Network(device=device).run(steps=700)
    first.save(tmp_path / "half.npz")
    second = cu_pkg.Network.load(tmp_path / "half.npz", device=device).run(steps=800)
    for pop in ("x", "cells"):
        for x, y in zip(whole.spikes(pop), second.spikes(pop)):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(whole.trace("cells", "v")[1], second.trace("cells", "v")[1])
    for key in whole.state:
        np.testing.assert_array_equal(whole.get(key), second.get(key))
    assert whole.synops == second.synops


@requires_gxx
@pytest.mark.parametrize("value", [
    pytest.param(2.2e-9, id="number"),
    pytest.param(np.linspace(1.0e-9, 3.0e-9, 6), id="per-neuron"),
    pytest.param(np.outer(np.linspace(1, 3, 1000), np.full(6, 1e-9)), id="table"),
    pytest.param(lambda step: 1e-9 * (1 + (step // 100) % 3) * np.ones(6), id="function"),
])
def test_outside_input_and_parameters_as_numpy(value, workdir):
    np_pkg, cu_pkg = build_pair("lif", workdir)
    a, b = np_pkg.Network(), cu_pkg.Network(device=shim(cu_pkg, workdir))
    for net in (a, b):
        net.set_input("cells.I_ext", value)
        net.set_params({"tau_m": 15e-3})
        net.run()
    assert len(a.spikes("cells")[0]) > 10
    assert_same_results(a, b, np_pkg.MONITORS)


@requires_gxx
def test_blowup_raises_simulation_error_at_the_same_step(workdir):
    np_pkg, cu_pkg = build_pair("blowup", workdir)
    errors = []
    for net in (np_pkg.Network(), cu_pkg.Network(device=shim(cu_pkg, workdir))):
        with pytest.raises(RuntimeError) as info, np.errstate(all="ignore"):
            net.run()
        errors.append(str(info.value))
        assert net.step == 1000  # stopped at the chunk of the bad step, state of the chunk before
    assert errors[0] == errors[1]
    assert "step 1516" in errors[1] and "neuron 2" in errors[1]


@requires_gxx
def test_kernels_refuse_arguments_of_the_wrong_type(workdir):
    """The shim checks every launch against the C signature: what CuPy would pass on silently."""
    _, cu_pkg = build_pair("lif", workdir)
    device = shim(cu_pkg, workdir)
    net = cu_pkg.Network(device=device)
    net.state["cells_v"] = net.get("cells_v").astype(np.float32)  # set from outside: converted at run()
    net.run(steps=10)
    assert net.state["cells_v"].dtype == np.float64
    params = signatures(kernels_of(cu_pkg).read_text())["cells_step"]
    with pytest.raises(TypeError, match="scalar"):
        device.launch("cells_step", (1,), (1,), tuple(1 for _ in params))


@requires_gxx
def test_single_precision_package_runs(workdir):
    out = workdir / "cu32_cuba"
    render_float(spec_path("cuba", workdir), out)
    package = import_package(out)
    assert package.PRECISION == "float"
    net = package.Network(device=ShimDevice(out / "kernels.cu", workdir / "shim")).run(steps=2000)
    assert net.get("cells_v").dtype == np.float32
    np_pkg, _ = build_pair("cuba", workdir)
    reference = np_pkg.Network().run(steps=2000)
    n32, n64 = len(net.spikes("cells")[0]), len(reference.spikes("cells")[0])
    assert abs(n32 - n64) < 0.1 * n64


# ---------------------------------------------------------------------------------------
# The package itself
# ---------------------------------------------------------------------------------------

def test_package_imports_only_cupy_numpy_and_the_standard_library(workdir):
    _, cu_pkg = build_pair("plastic", workdir)
    folder = Path(cu_pkg.__path__[0])
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        ".snnlang-package", "__init__.py", "__main__.py", "device.py", "host.py", "kernels.cu", "network.py"]
    stdlib = set(sys.stdlib_module_names)
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert text.startswith("# Generated by snnlang")
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in {"numpy", "cupy"} or top in stdlib, f"{path.name} imports {name}"
    assert (folder / "kernels.cu").read_text().startswith("// Generated by snnlang")
    assert "#include" not in (folder / "kernels.cu").read_text()


def _cupy_works() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.mark.skipif(_cupy_works(), reason="this machine has a usable GPU")
def test_without_a_gpu_the_package_says_so(workdir):
    _, cu_pkg = build_pair("lif", workdir)
    with pytest.raises(RuntimeError, match="cupy"):
        cu_pkg.Network()
    folder = Path(cu_pkg.__path__[0])
    result = subprocess.run([sys.executable, "-m", folder.name], cwd=folder.parent, capture_output=True, text=True)
    assert result.returncode == 1
    assert "cupy" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(_cupy_works(), reason="this machine has a usable GPU")
def test_snnlang_run_target_cupy_without_a_gpu(workdir, tmp_path):
    env = dict(os.environ, SNNLANG_CACHE=str(tmp_path / "cache"))
    spec = spec_path("lif", workdir)
    result = subprocess.run([sys.executable, "-m", "snnlang", "run", str(spec), "--target", "cupy",
                             "-o", str(tmp_path / "run")], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "cupy" in result.stderr and "Traceback" not in result.stderr


@requires_gxx
def test_snnlang_run_writes_the_numpy_targets_outputs(workdir, tmp_path, monkeypatch):
    """run() with the CuPy target (on the CPU device) writes spikes.npz and summary.json as for NumPy."""
    import json

    from snnlang import run as run_module

    spec = spec_path("lif", workdir)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    module, _ = run_module.built_package(spec, "cupy")
    device = ShimDevice(Path(module.__path__[0]) / "kernels.cu", workdir / "shim")
    monkeypatch.setattr(module.network, "cuda_device", lambda *args: device)
    summary = run_module.run(spec, tmp_path / "cupy", target="cupy")
    reference = run_module.run(spec, tmp_path / "numpy", target="numpy")
    for key in ("populations", "steps", "synops"):
        assert summary[key] == reference[key]
    with np.load(tmp_path / "cupy" / "spikes.npz") as x, np.load(tmp_path / "numpy" / "spikes.npz") as y:
        assert sorted(x.files) == sorted(y.files)
        for key in x.files:
            np.testing.assert_array_equal(x[key], y[key])
    assert json.loads((tmp_path / "cupy" / "summary.json").read_text())["steps"] == summary["steps"]
