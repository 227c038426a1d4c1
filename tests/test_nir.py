"""NIR in and out: snnlang export / snnlang import (docs/interop.md).

Round trips (export -> nir.read -> import -> the same spikes), graphs written the way
snnTorch's and Norse's exporters write them run against a NumPy simulation of NIR's
equations (forward Euler at dt, every edge instantaneous; snnlang runs each edge in one
step, so a population d edges from the input is compared d steps later), and refusals."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir", reason="NIR tests need the nir package (pip install 'snnlang[nir]')")

import snnlang  # noqa: E402
from snnlang.cli import main  # noqa: E402
from snnlang.frontend.diagnostics import SpecError  # noqa: E402
from snnlang.interop.nir import export, import_graph, write_import  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DT = 1e-3


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def drive(net, source: str, spikes: np.ndarray) -> None:
    """Make a rate-0 poisson source emit exactly ``spikes`` (steps x n): a rate of 1/dt spikes every step."""
    net.set_input(f"{source}.rate", spikes.astype(float) / net.dt)


def raster(net, population: str, steps: int, n: int) -> np.ndarray:
    times, index = net.spikes(population)
    out = np.zeros((steps, n), dtype=bool)
    out[np.rint(times / net.dt).astype(int), index] = True
    return out


def run_spec(spec, weights, source, spikes, populations):
    Network = snnlang.compile(spec)
    net = Network()
    if weights is not None:
        snnlang.load_weights(net, weights)
    drive(net, source, spikes)
    net.run(steps=len(spikes))
    return net, {p: raster(net, p, len(spikes), net.state[f"{p}_v"].size) for p in populations}


# ---- round trips --------------------------------------------------------------------------

def test_round_trip_digits_mlp(tmp_path):
    """specs/digits_bptt.snn (reset by subtraction, kept as metadata) with trained-like weights."""
    spec = ROOT / "specs" / "digits_bptt.snn"
    rng = np.random.default_rng(0)
    weights = tmp_path / "weights.npz"
    np.savez(weights, x_hidden_w=rng.uniform(-0.25, 0.3, 64 * 128), hidden_out_w=rng.uniform(-0.2, 0.2, 128 * 10))
    graph, warnings = export(spec, tmp_path / "mlp.nir", weights=weights)
    assert "digits_bptt.snn:11:13: warning" in warnings and "subtract" in warnings
    read = nir.read(str(tmp_path / "mlp.nir"))
    assert isinstance(read.nodes["hidden"], nir.LIF) and isinstance(read.nodes["x_hidden"], nir.Linear)
    # snnTorch's convention: tau = dt / (1 - beta), r = tau / dt
    np.testing.assert_allclose(read.nodes["hidden"].tau, DT / (1 - 0.9))
    np.testing.assert_allclose(read.nodes["hidden"].r, 1 / (1 - 0.9))
    with np.load(weights) as w:  # NIR's weight is post x pre
        np.testing.assert_array_equal(read.nodes["x_hidden"].weight, w["x_hidden_w"].reshape(64, 128).T)
    write_import(tmp_path / "mlp.nir", tmp_path / "imported.snn", dt=DT)
    assert snnlang.check(tmp_path / "imported.snn").ok

    spikes = rng.random((40, 64)) < 0.3
    _, original = run_spec(spec, weights, "x", spikes, ["out"])
    net, imported = run_spec(tmp_path / "imported.snn", tmp_path / "imported.npz", "x", spikes, ["out"])
    assert 20 < original["out"].sum() < 0.9 * original["out"].size
    np.testing.assert_array_equal(imported["out"], original["out"])


RECURRENT = """
neuron Leaky {
    parameters { beta = 0.8; thr = 1.0 }
    state { v = 0.0 }
    inputs { I = 0.0 }
    update { v = beta * v + I }
    spike when v >= thr
    reset { v = 0.0 }
}

network rnn {
    input x = poisson(20, rate = 0 Hz)
    population hidden = Leaky(30) { beta = 0.85 }
    population out = Leaky(5) { thr = 0.7 }
    connect x -> hidden { w = uniform(0, 0.5); on_pre: I_post += w }
    connect hidden -> hidden { if i != j; w = uniform(-0.3, 0.25); on_pre: I_post += w }
    connect hidden -> out { w = uniform(0, 0.4); on_pre: I_post += w }
    monitor spikes of hidden, out
}

simulate rnn { dt = 1 ms; steps = 60; seed = 4 }
"""


def test_round_trip_recurrent(tmp_path):
    spec = tmp_path / "rnn.snn"
    spec.write_text(RECURRENT)
    graph, warnings = export(spec, tmp_path / "rnn.nir")
    assert warnings == ""  # reset to a value: NIR holds it
    read = nir.read(str(tmp_path / "rnn.nir"))
    assert ("hidden_hidden", "hidden") in [tuple(e) for e in read.edges]
    np.testing.assert_allclose(read.nodes["hidden"].tau, DT / (1 - 0.85))
    assert np.all(np.diag(read.nodes["hidden_hidden"].weight) == 0)  # if i != j
    write_import(tmp_path / "rnn.nir", tmp_path / "back.snn", dt=DT)
    spikes = np.random.default_rng(1).random((60, 20)) < 0.25
    _, original = run_spec(spec, None, "x", spikes, ["hidden", "out"])
    _, imported = run_spec(tmp_path / "back.snn", tmp_path / "back.npz", "x", spikes, ["hidden", "out"])
    assert original["hidden"].sum() > 50 and original["out"].sum() > 5
    for p in ("hidden", "out"):
        np.testing.assert_array_equal(imported[p], original[p])


def test_an_imported_spec_runs_on_the_c_target_with_the_same_spikes(tmp_path):
    import shutil

    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler (cc or gcc) for the c target")
    spec = tmp_path / "rnn.snn"
    spec.write_text(RECURRENT)
    export(spec, tmp_path / "rnn.nir")
    write_import(tmp_path / "rnn.nir", tmp_path / "back.snn", dt=DT)
    spikes = np.random.default_rng(2).random((60, 20)) < 0.25
    _, numpy_run = run_spec(tmp_path / "back.snn", tmp_path / "back.npz", "x", spikes, ["hidden", "out"])
    net = snnlang.compile(tmp_path / "back.snn", target="c")()
    snnlang.load_weights(net, tmp_path / "back.npz")
    drive(net, "x", spikes)
    net.run(steps=len(spikes))
    assert numpy_run["hidden"].sum() > 50
    for p in ("hidden", "out"):
        np.testing.assert_array_equal(raster(net, p, len(spikes), net.state[f"{p}_v"].size), numpy_run[p])


# ---- graphs as snnTorch and Norse write them, against NIR's equations in NumPy ----------------

def reference(layers, x, dt=DT):
    """NIR's semantics stepped with forward Euler at dt, every edge instantaneous, a recurrent
    edge carrying the previous step's spikes (snnTorch's and Norse's stepping). ``layers``: dicts
    with W, b, kind ('LIF', 'CubaLIF', 'LI'), params, optional W_rec. Returns per layer the
    spikes (steps x n) or, for LI, v."""
    state = [dict(v=np.full(len(L["W"]), L["p"].get("v_leak", 0.0)), i=np.zeros(len(L["W"])),
                  z=np.zeros(len(L["W"]))) for L in layers]
    out = [[] for _ in layers]
    for step in range(len(x)):
        s = x[step].astype(float)
        for L, st, rec in zip(layers, state, out):
            p = L["p"]
            inp = L["W"] @ s + L.get("b", 0) + (L["W_rec"] @ st["z"] if "W_rec" in L else 0)
            if L["kind"] == "CubaLIF":
                st["i"] = st["i"] + dt / p["tau_syn"] * (p["w_in"] * inp - st["i"])
                drive_ = st["i"]
                tau = p["tau_mem"]
            else:
                drive_, tau = inp, p["tau"]
            st["v"] = st["v"] + dt / tau * (p["v_leak"] - st["v"] + p["r"] * drive_)
            if L["kind"] == "LI":
                rec.append(st["v"].copy())
                s = st["v"]
                continue
            z = st["v"] > p["v_threshold"]
            st["v"] = np.where(z, p["v_reset"], st["v"])
            st["z"] = z.astype(float)
            rec.append(z.copy())
            s = z.astype(float)
    return [np.array(r) for r in out]


def leaky(beta, n, thr=1.0):
    """A NIR LIF as snnTorch's exporter writes its Leaky (dt = 1e-4 in snnTorch; here DT)."""
    tau = DT / (1 - beta)
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / DT), v_leak=np.zeros(n), v_threshold=np.full(n, thr))


def test_snntorch_style_mlp_with_biases(tmp_path):
    rng = np.random.default_rng(2)
    W1, b1 = rng.normal(0, 0.4, (16, 12)), rng.normal(0.05, 0.05, 16)
    W2, b2 = rng.normal(0, 0.5, (4, 16)), rng.normal(0.1, 0.05, 4)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([12])), "0": nir.Affine(weight=W1, bias=b1),
               "1": leaky(0.9, 16), "2": nir.Affine(weight=W2, bias=b2), "3": leaky(0.8, 4, thr=0.8),
               "output": nir.Output(output_type=np.array([4]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")])
    nir.write(str(tmp_path / "torch.nir"), graph)
    result = write_import(tmp_path / "torch.nir", tmp_path / "torch.snn", dt=DT)
    assert "population n_1 = NirLIFBias(16)" in result.text and "monitor spikes of n_3" in result.text
    x = rng.random((50, 12)) < 0.3
    ref = reference([dict(W=W1, b=b1, kind="LIF", p=dict(tau=DT / 0.1, r=10.0, v_leak=0.0, v_threshold=1.0, v_reset=0.0)),
                     dict(W=W2, b=b2, kind="LIF", p=dict(tau=DT / 0.2, r=5.0, v_leak=0.0, v_threshold=0.8, v_reset=0.0))], x)
    padded = np.vstack([x, np.zeros((2, 12), bool)])
    _, got = run_spec(tmp_path / "torch.snn", tmp_path / "torch.npz", "input_", padded, ["n_1", "n_3"])
    assert ref[1].sum() > 10
    assert not got["n_1"][:1].any() and not got["n_3"][:2].any()  # the first step(s): no input arrived yet
    np.testing.assert_array_equal(got["n_1"][1:51], ref[0])  # one edge from the input: one step later
    np.testing.assert_array_equal(got["n_3"][2:52], ref[1])  # two edges: two steps later


def test_snntorch_style_recurrent_subgraph(tmp_path):
    """RLeaky as snnTorch exports it: a subgraph input -> lif <-> w_rec, lif -> output."""
    rng = np.random.default_rng(3)
    W_in, W_rec, W_out = rng.normal(0.1, 0.4, (10, 8)), rng.normal(0, 0.3, (10, 10)), rng.normal(0.2, 0.4, (3, 10))
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([10])), "lif": leaky(0.85, 10),
                              "w_rec": nir.Linear(weight=W_rec), "output": nir.Output(output_type=np.array([10]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([8])), "fc1": nir.Linear(weight=W_in), "rnn": sub,
               "fc2": nir.Linear(weight=W_out), "lif2": leaky(0.9, 3, thr=0.6), "output": nir.Output(output_type=np.array([3]))},
        edges=[("input", "fc1"), ("fc1", "rnn"), ("rnn", "fc2"), ("fc2", "lif2"), ("lif2", "output")])
    nir.write(str(tmp_path / "rnn.nir"), graph)
    write_import(tmp_path / "rnn.nir", tmp_path / "rnn.snn", dt=DT)
    x = rng.random((60, 8)) < 0.3
    ref = reference([dict(W=W_in, W_rec=W_rec, kind="LIF", p=dict(tau=DT / 0.15, r=1 / 0.15, v_leak=0.0, v_threshold=1.0, v_reset=0.0)),
                     dict(W=W_out, kind="LIF", p=dict(tau=DT / 0.1, r=10.0, v_leak=0.0, v_threshold=0.6, v_reset=0.0))], x)
    _, got = run_spec(tmp_path / "rnn.snn", tmp_path / "rnn.npz", "input_", np.vstack([x, np.zeros((2, 8), bool)]),
                      ["rnn_lif", "lif2"])
    assert ref[0].sum() > 30 and ref[1].sum() > 5
    np.testing.assert_array_equal(got["rnn_lif"][1:61], ref[0])
    np.testing.assert_array_equal(got["lif2"][2:62], ref[1])


def test_norse_style_cuba_lif_and_li_readout(tmp_path):
    """Norse writes LIFCell as CubaLIF (tau = 1 / tau_inv, r = 1, w_in = 1) and LIBoxCell as LI."""
    rng = np.random.default_rng(4)
    n_in, n_h, n_o = 6, 12, 2
    W1, W2 = rng.normal(1.5, 1.0, (n_h, n_in)), rng.normal(0.5, 1.0, (n_o, n_h))
    hidden = nir.CubaLIF(tau_syn=np.full(n_h, 5e-3), tau_mem=np.full(n_h, 1e-2), r=np.ones(n_h), v_leak=np.zeros(n_h),
                         v_threshold=np.full(n_h, 0.3), v_reset=np.zeros(n_h), w_in=np.ones(n_h))
    readout = nir.LI(tau=np.full(n_o, 2e-2), r=np.ones(n_o), v_leak=np.zeros(n_o))
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type=np.array([n_in])), "linear": nir.Linear(weight=W1), "lif": hidden,
               "linear_1": nir.Linear(weight=W2), "li": readout, "output": nir.Output(output_type=np.array([n_o]))},
        edges=[("input", "linear"), ("linear", "lif"), ("lif", "linear_1"), ("linear_1", "li"), ("li", "output")])
    nir.write(str(tmp_path / "norse.nir"), graph)
    result = write_import(tmp_path / "norse.nir", tmp_path / "norse.snn", dt=DT)
    assert "monitor v of li" in result.text and "tau_syn = 5 ms" in result.text
    x = rng.random((80, n_in)) < 0.4
    ref = reference([dict(W=W1, kind="CubaLIF", p=dict(tau_syn=5e-3, tau_mem=1e-2, r=1.0, v_leak=0.0, w_in=1.0,
                                                        v_threshold=0.3, v_reset=0.0)),
                     dict(W=W2, kind="LI", p=dict(tau=2e-2, r=1.0, v_leak=0.0))], x)
    net, got = run_spec(tmp_path / "norse.snn", tmp_path / "norse.npz", "input_",
                        np.vstack([x, np.zeros((2, n_in), bool)]), ["lif"])
    assert ref[0].sum() > 20
    np.testing.assert_array_equal(got["lif"][1:81], ref[0])
    t, v = net.trace("li", "v")
    np.testing.assert_allclose(v[2:82], ref[1], rtol=1e-9, atol=1e-12)


# ---- continuous-time neurons and delays ------------------------------------------------------

CONTINUOUS = """
neuron Cuba {
    parameters { tau = 20 ms; tau_s = 5 ms; E = -65 mV; th = -50 mV; R = 10 Mohm }
    state { v = E; I_syn = 0 nA }
    equations {
        dv/dt = (E - v + R * I_syn) / tau
        dI_syn/dt = -I_syn / tau_s
    }
    spike when v >= th
    reset { v = E }
}

neuron Delta {
    parameters { tau = 10 ms; E = 0 mV; th = 10 mV }
    state { v = E }
    equations { dv/dt = (E - v) / tau }
    spike when v > th
    reset { v = E }
}

network cont {
    input x = poisson(20, rate = 0 Hz)
    population cells = Cuba(10)
    population kicked = Delta(6)
    connect x -> cells { w = uniform(0, 2); on_pre: I_syn_post += w * nA }
    connect x -> kicked { w = uniform(0, 4); on_pre: v_post += w * mV }
    monitor spikes of cells, kicked
}

simulate cont { dt = 0.1 ms; steps = 2000; seed = 3 }
"""


def test_export_continuous_neurons_against_nir_equations(tmp_path):
    """Linear equations export as NIR's continuous nodes (CubaLIF for a decaying current that
    drives v, LIF for synapses that kick v); stepped as NIR's readers step them (forward Euler
    at dt, the weighted spikes of a step held for the step), they fire as snnlang's exact
    propagators do, up to the integration error: counts within 3 %, spikes a few steps apart."""
    spec = tmp_path / "cont.snn"
    spec.write_text(CONTINUOUS)
    graph, warnings = export(spec, tmp_path / "cont.nir")
    assert warnings == ""
    read = nir.read(str(tmp_path / "cont.nir"))
    cells, kicked = read.nodes["cells"], read.nodes["kicked"]
    assert type(cells).__name__ == "CubaLIF" and type(kicked).__name__ == "LIF"
    dt = 1e-4
    expect = dict(tau_syn=5e-3, tau_mem=20e-3, r=1e7, v_leak=-65e-3, w_in=5e-3 / dt, v_threshold=-50e-3,
                  v_reset=-65e-3)
    for k, v in expect.items():
        np.testing.assert_allclose(getattr(cells, k), v, rtol=1e-12)
    for k, v in dict(tau=10e-3, r=10e-3 / dt, v_leak=0.0, v_threshold=10e-3, v_reset=0.0).items():
        np.testing.assert_allclose(getattr(kicked, k), v, rtol=1e-12, atol=1e-15)
    x = np.random.default_rng(1).random((2000, 20)) < 0.02
    net = snnlang.compile(spec)()
    drive(net, "x", x)
    net.run(steps=len(x))
    W = {k: np.asarray(read.nodes[f"x_{k}"].weight) for k in ("cells", "kicked")}
    assert W["cells"].max() > 1e-9 and W["cells"].max() <= 2e-9  # w * nA in amperes
    for name, node in (("cells", cells), ("kicked", kicked)):
        kind = type(node).__name__
        keys = expect if kind == "CubaLIF" else ("tau", "r", "v_leak", "v_threshold", "v_reset")
        p = {k: float(np.ravel(getattr(node, k))[0]) for k in keys}
        [ref] = reference([dict(W=W[name], kind=kind, p=p)], x, dt=dt)
        got = raster(net, name, len(x), len(W[name]))
        assert ref.sum() > 200
        assert abs(int(got.sum()) - int(ref.sum())) <= 0.03 * ref.sum(), (name, got.sum(), ref.sum())
        for i in range(len(W[name])):  # each spike within a few steps of the reference's
            a, b = np.nonzero(ref[:, i])[0], np.nonzero(got[:, i])[0]
            n = min(len(a), len(b), 5)
            assert n and np.all(np.abs(a[:n] - b[:n]) <= 4), (name, i, a[:n], b[:n])


def test_delay_round_trip(tmp_path):
    """A connection's delay of k steps is its edge's step and a NIR Delay of k - 1 steps; the
    importer turns Delay nodes back into the connection's delay: the same spikes."""
    spec = tmp_path / "rnn.snn"
    spec.write_text(RECURRENT.replace("connect x -> hidden { w = uniform(0, 0.5);",
                                      "connect x -> hidden { w = uniform(0, 0.5); delay = 4 ms;"))
    graph, _ = export(spec, tmp_path / "rnn.nir")
    read = nir.read(str(tmp_path / "rnn.nir"))
    np.testing.assert_allclose(read.nodes["x_hidden_delay"].delay, 3 * DT)
    assert ("x_hidden", "x_hidden_delay") in [tuple(e) for e in read.edges]
    write_import(tmp_path / "rnn.nir", tmp_path / "back.snn", dt=DT)
    assert "connect x -> hidden { w = 0; delay = 4 ms;" in (tmp_path / "back.snn").read_text()
    spikes = np.random.default_rng(1).random((60, 20)) < 0.25
    _, original = run_spec(spec, None, "x", spikes, ["hidden", "out"])
    _, imported = run_spec(tmp_path / "back.snn", tmp_path / "back.npz", "x", spikes, ["hidden", "out"])
    assert original["hidden"].sum() > 50
    for p in ("hidden", "out"):
        np.testing.assert_array_equal(imported[p], original[p])
    with pytest.raises(ValueError, match="not a whole number of steps"):
        import_graph(tmp_path / "rnn.nir", dt=2.5e-3)


# ---- refusals and the command line ----------------------------------------------------------

def test_export_refuses_what_nir_cannot_hold(tmp_path):
    with pytest.raises(SpecError) as info:
        export(ROOT / "specs" / "recurrent.snn", tmp_path / "r.nir")  # StepLIF: refractory 5 steps
    assert "steplif.snn:12:16: error: population 'hidden' (StepLIF): NIR neurons have no refractory period" in str(info.value)
    plastic = tmp_path / "plastic.snn"
    plastic.write_text(RECURRENT.replace("on_pre: I_post += w }\n    connect hidden -> out",
                                         "on_pre: I_post += w; on_post: w += 0.01 }\n    connect hidden -> out"))
    with pytest.raises(SpecError) as info:
        export(plastic, tmp_path / "p.nir")
    line = plastic.read_text().split("\n").index(next(l for l in plastic.read_text().split("\n") if "on_post" in l)) + 1
    assert f"plastic.snn:{line}:" in str(info.value) and "plasticity" in str(info.value)
    assert not (tmp_path / "p.nir").exists()
    with pytest.raises(SpecError, match=r"cuba.snn:\d+:\d+: error: .*no refractory period \(this one is 0.005 s"):
        export(ROOT / "specs" / "cuba.snn", tmp_path / "c.nir")
    varying = tmp_path / "varying.snn"
    varying.write_text(RECURRENT.replace("w = uniform(0, 0.5);", "w = uniform(0, 0.5); delay = uniform(1 ms, 3 ms);"))
    with pytest.raises(SpecError, match=r"varying.snn:15:56: error: .*a delay of its own for each synapse"):
        export(varying, tmp_path / "v.nir")
    three = tmp_path / "three.snn"  # three state variables: no NIR neuron
    three.write_text(CONTINUOUS.replace("state { v = E; I_syn = 0 nA }", "state { v = E; I_syn = 0 nA; a = 0 }")
                     .replace("dI_syn/dt = -I_syn / tau_s", "dI_syn/dt = -I_syn / tau_s\n        da/dt = -a / tau"))
    with pytest.raises(SpecError, match=r"three.snn:\d+:\d+: error: .*one or two state variables"):
        export(three, tmp_path / "t.nir")


def test_import_refuses_unmapped_nodes(tmp_path):
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "d": nir.Threshold(threshold=np.ones(4)),
                                "lif": leaky(0.9, 4), "output": nir.Output(output_type=np.array([4]))},
                         edges=[("input", "d"), ("d", "lif"), ("lif", "output")])
    nir.write(str(tmp_path / "delay.nir"), graph)
    with pytest.raises(ValueError, match="node 'd' is a NIR Threshold"):
        import_graph(tmp_path / "delay.nir")
    varying = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(3)), nir.LIF(
        tau=np.array([0.01, 0.02, 0.01]), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)))
    nir.write(str(tmp_path / "varying.nir"), varying)
    with pytest.raises(ValueError, match="tau differs from neuron to neuron"):
        import_graph(tmp_path / "varying.nir")


def test_cli_export_and_import(tmp_path, capsys):
    spec = tmp_path / "rnn.snn"
    spec.write_text(RECURRENT)
    assert main(["export", str(spec), "-o", str(tmp_path / "m.nir")]) == 0
    assert main(["import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "m.snn"), "--dt", "1ms"]) == 0
    assert "--weights" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "m.snn")]) == 0
    assert main(["run", str(tmp_path / "m.snn"), "--weights", str(tmp_path / "m.npz"), "-o", str(tmp_path / "run"),
                 "--no-plots"]) == 0
    assert main(["import", str(tmp_path / "m.nir"), "-o", str(tmp_path / "m.snn"), "--dt", "1mV"]) == 2
    assert main(["export", str(ROOT / "specs" / "recurrent.snn"), "-o", str(tmp_path / "x.nir")]) == 1
    assert "refractory" in capsys.readouterr().err
    assert main(["import", str(spec), "-o", str(tmp_path / "y.snn")]) == 2
    assert "cannot read it as a NIR graph" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "m.nir"), "-o", str(spec)]) == 2  # a spec import did not write
    assert "did not write it" in capsys.readouterr().err and spec.read_text() == RECURRENT


def test_export_replaces_only_its_own_file(tmp_path, capsys):
    spec = tmp_path / "rnn.snn"
    spec.write_text(RECURRENT)
    thesis = tmp_path / "thesis.nir"
    thesis.write_text("three years of work")
    assert main(["export", str(spec), "-o", str(thesis)]) == 2
    assert "snnlang export did not write it" in capsys.readouterr().err
    assert thesis.read_text() == "three years of work"
    assert main(["export", str(spec), "-o", str(tmp_path / "m.nir")]) == 0
    assert main(["export", str(spec), "-o", str(tmp_path / "m.nir")]) == 0  # its own file: replaced
    assert nir.read(str(tmp_path / "m.nir")).metadata["generator"].startswith("snnlang ")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
