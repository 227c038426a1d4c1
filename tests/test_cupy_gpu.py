"""The CuPy target on a GPU (skipped without CuPy and a CUDA device): benchmarks/gpu.sh runs it.

Against the NumPy target on the same spec and seed:
* CUBA (deterministic input): the same spikes while rounding has not yet told the two apart
  (the first 100 ms), then the same rates; the GPU adds with atomics in its own order, which
  changes the last bits of a sum of different numbers, and a chaotic network amplifies them.
* the STDP layer of the brief: the very same Poisson input (one hash on both), rates of the
  output and the learnt weights within noise.
* Izhikevich's network (dense layers, normal draws in the input): rates within noise.
And the GPU against the kernels on the CPU (tests/cuda_shim): the same code, the same result.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import SPECS, import_package
from snnlang.build import build


def _gpu() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _gpu(), reason="needs CuPy and a CUDA GPU")


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu")
    built = {}

    def get(name):
        if name not in built:
            build(SPECS / f"{name}.snn", folder / f"np_{name}", "numpy")
            build(SPECS / f"{name}.snn", folder / f"cu_{name}", "cupy")
            built[name] = (import_package(folder / f"np_{name}"), import_package(folder / f"cu_{name}"))
        return built[name]

    return get


def rate(net, pop, size):
    t, _ = net.spikes(pop)
    return len(t) / size / (net.step * net.dt)


def test_network_runs_on_the_gpu_with_device_arrays(packages):
    import cupy

    _, cu = packages("cuba")
    net = cu.Network()
    assert net.xp is cupy and isinstance(net.state["cells_v"], cupy.ndarray)
    net.run(steps=100)
    assert net.get("cells_v").shape == (4000,)


def test_cuba_same_spikes_then_same_rates(packages):
    np_pkg, cu = packages("cuba")
    a, b = np_pkg.Network().run(), cu.Network().run()
    (ta, ia), (tb, ib) = a.spikes("cells"), b.spikes("cells")
    early_a, early_b = ta < 0.1, tb < 0.1
    np.testing.assert_array_equal(ta[early_a], tb[early_b])
    np.testing.assert_array_equal(ia[early_a], ib[early_b])
    ra, rb = rate(a, "cells", 4000), rate(b, "cells", 4000)
    assert abs(ra - rb) < 0.05 * ra
    assert abs(a.synops - b.synops) < 0.05 * a.synops


def test_brief_stdp_same_input_rates_within_noise(packages):
    np_pkg, cu = packages("brief_stdp")
    a, b = np_pkg.Network().run(), cu.Network().run()
    for x, y in zip(a.spikes("spikes"), b.spikes("spikes")):  # Poisson: one hash, the same draws
        np.testing.assert_array_equal(x, y)
    na, nb = len(a.spikes("out")[0]), len(b.spikes("out")[0])
    assert abs(na - nb) <= 3 * np.sqrt(na) + 5
    wa, wb = a.state["spikes_out_w"], b.get("spikes_out_w")
    assert abs(wa.mean() - wb.mean()) < 0.02 * max(wa.mean(), 1e-3) + 1e-3


def test_izhikevich_rates_within_noise(packages):
    np_pkg, cu = packages("izhikevich_network")
    a, b = np_pkg.Network().run(), cu.Network().run()
    for pop, n in (("exc", 800), ("inh", 200)):
        ra, rb = rate(a, pop, n), rate(b, pop, n)
        assert abs(ra - rb) < 0.1 * ra + 0.5


def test_gpu_matches_the_kernels_on_the_cpu(packages, tmp_path):
    """The shim runs the very kernels.cu: over a short run the GPU gives its spikes."""
    if shutil.which("g++") is None:
        pytest.skip("g++ compiles the kernels for the CPU")
    from cuda_shim.shim import ShimDevice

    _, cu = packages("brief_stdp")
    cpu = cu.Network(device=ShimDevice(Path(cu.__path__[0]) / "kernels.cu", tmp_path)).run(steps=500)
    gpu = cu.Network().run(steps=500)
    for pop in ("spikes", "out"):
        for x, y in zip(cpu.spikes(pop), gpu.spikes(pop)):
            np.testing.assert_array_equal(x, y)


def test_save_and_load_on_the_gpu(packages, tmp_path):
    _, cu = packages("brief_stdp")
    whole = cu.Network().run(steps=1000)
    first = cu.Network().run(steps=400)
    first.save(tmp_path / "half.npz")
    second = cu.Network.load(tmp_path / "half.npz").run(steps=600)
    for x, y in zip(whole.spikes("spikes"), second.spikes("spikes")):
        np.testing.assert_array_equal(x, y)
    assert abs(len(whole.spikes("out")[0]) - len(second.spikes("out")[0])) <= 3
