"""The generated runtime draws exactly the numbers of the reference hash in snnlang.plan.randomness."""
import numpy as np
import pytest

from helpers import SPECS, build_package
from snnlang.plan import randomness


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    pkg = build_package(SPECS / "brief_lif.snn", tmp_path_factory.mktemp("rng"))
    import importlib

    return importlib.import_module(pkg.__name__ + ".runtime")


@pytest.mark.parametrize("seed,stream,counter", [(0, 1, 0), (42, 7, 123456), (2**40 + 3, 99, 2**33)])
def test_vectorised_uniform_equals_reference(runtime, seed, stream, counter):
    index = np.array([0, 1, 2, 1000, 2**31 + 5])
    got = runtime.uniform(seed, stream, counter, index)
    want = [randomness.uniform(seed, stream, counter, int(i)) for i in index]
    assert got.tolist() == want


def test_array_counters_equal_scalar_counters(runtime):
    rows = np.arange(5)[:, None]
    cols = np.arange(4)[None, :]
    table = runtime.uniform(3, 9, rows, cols)
    for r in range(5):
        assert table[r].tolist() == runtime.uniform(3, 9, r, np.arange(4)).tolist()


def test_streams_and_counters_decorrelate(runtime):
    a = runtime.uniform(1, 1, 0, np.arange(20000))
    b = runtime.uniform(1, 2, 0, np.arange(20000))
    c = runtime.uniform(1, 1, 1, np.arange(20000))
    assert abs(a.mean() - 0.5) < 0.01 and abs(np.corrcoef(a, b)[0, 1]) < 0.03 and abs(np.corrcoef(a, c)[0, 1]) < 0.03
    z = runtime.normal(1, 5, 0, np.arange(20000))
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1) < 0.03
