"""Connectivity from a file (``from_file("edges.npz")``): the synapses a p = 0.1 network drew,
saved as an edge list or a matrix and loaded back, give that network's spikes; weights and
delays from the file; bad files refused at the place of the file's name."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import build_package

INLINE = """
import "lif.snn"
network n {
    population a = LIF(60) { v = uniform(-65 mV, -50 mV); I_ext = 2.2 nA }
    population b = LIF(30) { I_ext = 1.2 nA }
    connect a -> b { p = 0.1; w = uniform(0, 1); delay = uniform(1 ms, 3 ms); on_pre: v_post += w * 2 mV }
    monitor spikes of a, b
}
simulate n { dt = 0.1 ms; duration = 200 ms; seed = 5 }
"""

FROM_FILE = """
import "lif.snn"
network n {
    population a = LIF(60) { v = uniform(-65 mV, -50 mV); I_ext = 2.2 nA }
    population b = LIF(30) { I_ext = 1.2 nA }
    connect a -> b { from_file("FILE"); on_pre: v_post += w * 2 mV }
    monitor spikes of a, b
}
simulate n { dt = 0.1 ms; duration = 200 ms; seed = 5 }
"""


def _spikes(net):
    return [net.spikes(p) for p in ("a", "b")]


def _same(x, y):
    return all(np.array_equal(s[0], t[0]) and np.array_equal(s[1], t[1]) for s, t in zip(x, y))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    inline = build_package(INLINE, folder, "inline")
    net = inline.Network()
    s = net.state
    edges = {"pre": s["a_b_pre"], "post": s["a_b_post"], "w": s["a_b_w"],
             "delay": s["a_b_delay"] * inline.network.DT}
    return folder, inline, edges, _spikes(net.run())


def test_an_edge_list_gives_the_spikes_of_the_drawn_network(drawn):
    folder, _, edges, expected = drawn
    assert len(expected[1][0]) > 20 and len(edges["pre"]) > 100  # b fires, driven partly by a
    np.savez(folder / "specs" / "edges.npz", **edges)
    loaded = build_package(FROM_FILE.replace("FILE", "edges.npz"), folder, "edges")
    net = loaded.Network()
    assert np.array_equal(net.state["a_b_pre"], edges["pre"]) and np.array_equal(net.state["a_b_w"], edges["w"])
    assert _same(_spikes(net.run()), expected)


def test_the_weights_decide(drawn):
    folder, _, edges, expected = drawn
    np.savez(folder / "specs" / "strong.npz", **{**edges, "w": edges["w"] * 3})
    loaded = build_package(FROM_FILE.replace("FILE", "strong.npz"), folder, "strong")
    assert not _same(_spikes(loaded.Network().run()), expected)


def test_a_dense_matrix_without_delays(tmp_path):
    rng = np.random.default_rng(0)
    matrix = np.where(rng.random((60, 30)) < 0.1, rng.random((60, 30)), 0.0)
    (tmp_path / "specs").mkdir()
    np.save(tmp_path / "specs" / "w.npy", matrix)
    net = build_package(FROM_FILE.replace("FILE", "w.npy"), tmp_path, "dense").Network()
    pre, post = np.nonzero(matrix)
    assert np.array_equal(net.state["a_b_pre"], pre) and np.array_equal(net.state["a_b_post"], post)
    assert np.array_equal(net.state["a_b_w"], matrix[pre, post])
    # the same as an inline network of those synapses: all_to_all with w from the matrix is not
    # expressible, so compare with the edge list of the same matrix
    np.savez(tmp_path / "specs" / "e.npz", pre=pre, post=post, w=matrix[pre, post])
    other = build_package(FROM_FILE.replace("FILE", "e.npz"), tmp_path, "edge").Network()
    assert _same(_spikes(net.run()), _spikes(other.run()))


@pytest.mark.parametrize("arrays, message", [
    ({"pre": np.array([0, 60]), "post": np.array([0, 1])}, "'pre'[1] = 60 is outside the source of 60 neurons"),
    ({"pre": np.array([0, 1]), "post": np.array([0, 30])}, "'post'[1] = 30 is outside the target of 30 neurons"),
    ({"pre": np.array([0, 1]), "post": np.array([0])}, "'post' has 1 values but 'pre' has 2"),
    ({"pre": np.array([0.0, 1.0]), "post": np.array([0, 1])}, "'pre' holds float64 values; indices are integers"),
    ({"pre": np.array([0, -1]), "post": np.array([0, 1])}, "negative index -1"),
    ({"pre": np.array([0]), "post": np.array([0]), "w": np.array([np.nan])}, "'w' holds NaN"),
    ({"pre": np.array([0]), "post": np.array([0]), "delay": np.array([0.0])}, "delays are in seconds and positive"),
    ({"w": np.ones((3, 3))}, "the matrix has shape (3, 3); the connection needs (60, 30)"),
    ({"pre": np.array([0]), "post": np.array([0]), "weights": np.array([1.0])}, "it holds 'weights'"),
])
def test_bad_files_are_refused_at_their_place(specs, arrays, message):
    np.savez(specs.root / "bad.npz", **arrays)
    found = specs.analyse(FROM_FILE.replace("FILE", "bad.npz"))
    assert any(e.startswith("spec.snn:5:32") and message in e for e in found.errors), found.errors


def test_files_outside_the_spec_folder_are_refused(specs, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}_outside.npz"
    np.savez(outside, pre=np.array([0]), post=np.array([0]))
    found = specs.analyse(FROM_FILE.replace("FILE", f"../{outside.name}"))
    assert any("outside the spec's folder" in e and "--include" in e for e in found.errors), found.errors
    found = specs.analyse(FROM_FILE.replace("FILE", "missing.npz"))
    assert any(e.startswith("spec.snn:5:32") and "no such file" in e for e in found.errors), found.errors


def test_a_file_takes_no_other_pattern(specs):
    np.savez(specs.root / "e.npz", pre=np.array([0]), post=np.array([0]), delay=np.array([1e-3]))
    found = specs.analyse("""
        import "lif.snn"
        network n {
            population a = LIF(5)
            connect a -> a { from_file("e.npz"); p = 0.1; delay = 2 ms; on_pre: v_post += 1 mV }
        }
    """)
    assert any("takes no other pattern" in e for e in found.errors), found.errors
    assert any("gives each synapse's delay" in e for e in found.errors), found.errors


def test_weights_need_a_state_to_go_to(specs):
    np.savez(specs.root / "e.npz", pre=np.array([0]), post=np.array([0]), w=np.array([1.0]))
    found = specs.analyse("""
        import "lif.snn"
        synapse Fixed { on_pre: v_post += 1 mV }
        network n {
            population a = LIF(5)
            connect a -> a using Fixed { from_file("e.npz") }
        }
    """)
    assert any("has no state variable 'w'" in e for e in found.errors), found.errors


def test_c_target_builds_from_a_file(drawn):
    """The C target builds connectivity with the NumPy builders (host.py): the same synapses,
    the same spikes as the network that drew them."""
    from snnlang.build import build

    from helpers import import_package

    folder, _, edges, expected = drawn
    spec = folder / "specs" / "edges_c.snn"
    np.savez(folder / "specs" / "edges_c.npz", **edges)
    spec.write_text(FROM_FILE.replace("FILE", "edges_c.npz"), encoding="utf-8")
    build(spec, folder / "c_pkg", "c")
    try:
        package = import_package(folder / "c_pkg")
        net = package.Network()
    except (OSError, RuntimeError, ImportError) as e:  # pragma: no cover - no C compiler here
        pytest.skip(f"the c package does not compile here: {e}")
    assert np.array_equal(net.state["a_b_w"], edges["w"])
    assert _same(_spikes(net.run()), expected)
