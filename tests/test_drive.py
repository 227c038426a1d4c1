"""Inputs and drive (issue 14): Poisson counts at any rate, poisson_drive, spike trains from files,
inputs from the command line, and Brunel's network against a hand-written NumPy model.

Every statistical test compares with Poisson's own distribution (scipy.stats) or with an
independent implementation; the draws are seeded, so each test gives the same numbers every run.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import stats

from helpers import ROOT, build_package, write_spec
from snnlang.build import build
from snnlang.cli import main
from snnlang.frontend import analyse
from snnlang.frontend.diagnostics import SpecError

COUNTER = """
neuron Counter {
    state { v = 0 mV }
    inputs { I = 0 mV; I2 = 0 mV }
    equations { dv/dt = (I + I2) / (1 ms) }
}
"""


def chi_square_p(counts: np.ndarray, mean: float) -> float:
    """p-value of the counts under Poisson(mean), bins merged until each expects at least 5."""
    k = np.arange(counts.max() + 2)
    observed = np.bincount(counts, minlength=k.size).astype(float)
    expected = stats.poisson.pmf(k, mean) * counts.size
    expected[-1] += counts.size - expected.sum()  # the tail above the largest count
    obs, exp, o, e = [], [], 0.0, 0.0
    for a, b in zip(observed, expected):
        o, e = o + a, e + b
        if e >= 5:
            obs.append(o)
            exp.append(e)
            o = e = 0.0
    obs[-1] += o
    exp[-1] += e
    return stats.chisquare(obs, exp).pvalue


def moments_agree(counts: np.ndarray, mean: float) -> None:
    """Sample mean and variance of Poisson(mean) counts, within 5 standard errors."""
    n = counts.size
    assert abs(counts.mean() - mean) < 5 * np.sqrt(mean / n), (counts.mean(), mean)
    var_se = np.sqrt((mean + 2 * mean**2) / n)  # the variance of the sample variance of a Poisson
    assert abs(counts.var() - mean) < 5 * var_se, (counts.var(), mean)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    pkg = build_package(ROOT / "specs" / "brief_lif.snn", tmp_path_factory.mktemp("rt"))
    import importlib

    return importlib.import_module(pkg.__name__ + ".runtime")


# ---- the Poisson draw of the runtime -------------------------------------------------------------

@pytest.mark.parametrize("mean", [0.02, 0.7, 3.0, 9.99, 10.0, 37.5, 600.0])
def test_runtime_poisson_has_poisson_statistics(runtime, mean):
    counts = np.concatenate([runtime.poisson(11, 4, step, np.arange(5000), mean) for step in range(8)])
    assert counts.dtype == np.int64 and counts.min() >= 0
    moments_agree(counts, mean)
    assert chi_square_p(counts, mean) > 1e-4


def test_runtime_poisson_is_keyed_on_seed_stream_counter_index(runtime):
    means = np.linspace(0.1, 40, 300)  # inversion and PTRS side by side, one mean per entry
    whole = runtime.poisson(3, 9, 17, np.arange(300), means)
    part = np.array([5, 250, 7, 100])
    assert runtime.poisson(3, 9, 17, part, means[part]).tolist() == whole[part].tolist()
    assert runtime.poisson(3, 9, 18, np.arange(300), means).tolist() != whole.tolist()
    assert runtime.poisson(3, 10, 17, np.arange(300), means).tolist() != whole.tolist()
    assert (runtime.poisson(3, 9, 17, np.arange(10), 0.0) == 0).all()


def test_log_factorial(runtime):
    from math import lgamma

    k = np.array([0, 1, 5, 15, 16, 17, 40, 1000, 10**6])
    assert np.allclose(runtime.log_factorial(k), [lgamma(x + 1) for x in k], rtol=1e-12, atol=1e-12)


# ---- poisson_drive -------------------------------------------------------------------------------

def test_drive_counts_per_step_are_poisson(tmp_path):
    """Each step's value of the driven input variable is weight x Poisson(N x rate x dt)."""
    pkg = build_package(COUNTER + """
        network n {
            population a = Counter(200)
            input low = poisson_drive(target = a.I, N = 800, rate = 25 Hz, weight = 1 mV)
            input high = poisson_drive(target = a.I2, N = 10000, rate = 150 Hz, weight = 0.5 mV)
            monitor I, I2 of a
        }
        simulate n { dt = 0.1 ms; steps = 100 }
        """, tmp_path)
    net = pkg.Network()
    net.run()
    trace = {v: net.trace("a", v)[1] for v in ("I", "I2")}
    low, high = np.rint(trace["I"] / 1e-3).astype(np.int64), np.rint(trace["I2"] / 0.5e-3).astype(np.int64)
    assert np.allclose(trace["I"], low * 1e-3) and np.allclose(trace["I2"], high * 0.5e-3)
    for counts, mean in ((low.ravel(), 800 * 25 * 1e-4), (high.ravel(), 10000 * 150 * 1e-4)):
        moments_agree(counts, mean)
        assert chi_square_p(counts, mean) > 1e-4
    # the steps and the neurons are independent: no correlation between neighbours
    assert abs(np.corrcoef(low[1:].ravel(), low[:-1].ravel())[0, 1]) < 0.03
    assert abs(np.corrcoef(low[:, 1:].ravel(), low[:, :-1].ravel())[0, 1]) < 0.03


def test_drive_matches_a_hand_written_network(tmp_path):
    """A LIF population with two drives (excitatory, inhibitory) against NumPy written by hand with
    the same counts (the runtime's draws on the plan's streams): v and spikes, step for step."""
    text = """
        neuron BrunelLIF {
            parameters { tau = 20 ms; theta = 20 mV; V_r = 10 mV; t_ref = 2 ms }
            state { v = 5 mV }
            equations { dv/dt = -v / tau   unless refractory }
            spike when v >= theta
            reset { v = V_r }
            refractory t_ref
        }
        network n {
            population a = BrunelLIF(30)
            input up = poisson_drive(target = a.v, N = 1000, rate = 30 Hz, weight = 0.2 mV)
            input down = poisson_drive(target = a.v, N = 200, rate = 20 Hz, weight = -0.3 mV)
            monitor v of a
            monitor spikes of a
        }
        simulate n { dt = 0.1 ms; duration = 60 ms; seed = 5 }
        """
    spec = write_spec(text, tmp_path)
    pkg = build_package(spec, tmp_path)
    net = pkg.Network()
    net.run()
    from snnlang.frontend import load
    from snnlang.plan import make_plan

    plan = make_plan(load(spec))
    streams = {d.name: d.stream for d in plan.drives}
    rt = sys.modules[pkg.__name__ + ".runtime"]

    n, dt, steps = 30, 1e-4, 600
    v = np.full(n, 5e-3)
    until = np.full(n, -1)
    decay = np.exp(-dt / 20e-3)
    vs, spikes = [], []
    for step in range(steps):
        v = v + 0.2e-3 * rt.poisson(5, streams["up"], step, np.arange(n), 1000 * 30 * dt) \
              - 0.3e-3 * rt.poisson(5, streams["down"], step, np.arange(n), 200 * 20 * dt)
        free = until < step
        v = np.where(free, v * decay, v)
        fired = np.flatnonzero(free & (v >= 20e-3))
        v[fired] = 10e-3
        until[fired] = step + 20
        spikes += [(step, k) for k in fired]
        vs.append(v.copy())
    assert np.allclose(net.trace("a", "v")[1], np.array(vs), rtol=0, atol=1e-12)
    t, i = net.spikes("a")
    assert len(spikes) > 20
    assert sorted(zip(np.rint(t / dt).astype(int).tolist(), i.tolist())) == sorted(spikes)


# ---- poisson(..., counts = true) -----------------------------------------------------------------

def test_counted_source_statistics_and_delivery(tmp_path):
    """rate x dt = 0.5: Poisson counts per neuron and step (a Bernoulli source could not exceed 1),
    each spike delivered: the target input gets count x weight, after one step and after three."""
    pkg = build_package(COUNTER + """
        network n {
            population a = Counter(300)
            input src = poisson(300, rate = 5 kHz, counts = true)
            connect src -> a { one_to_one; on_pre: I_post += 1 mV }
            connect src -> a { one_to_one; delay = 0.3 ms; on_pre: I2_post += 2 mV }
            monitor spikes of src
            monitor I, I2 of a
        }
        simulate n { dt = 0.1 ms; steps = 120 }
        """, tmp_path)
    net = pkg.Network()
    net.run()
    t, i = net.spikes("src")
    steps = np.rint(t / 1e-4).astype(int)
    counts = np.zeros((120, 300), dtype=np.int64)
    np.add.at(counts, (steps, i), 1)
    moments_agree(counts.ravel(), 0.5)
    assert chi_square_p(counts.ravel(), 0.5) > 1e-4 and counts.max() >= 3
    trace = {v: net.trace("a", v)[1] for v in ("I", "I2")}
    assert np.allclose(trace["I"][1:], 1e-3 * counts[:-1]) and (trace["I"][0] == 0).all()
    assert np.allclose(trace["I2"][3:], 2e-3 * counts[:-3]) and (trace["I2"][:3] == 0).all()


def place(spec, needle: str) -> str:
    """``spec.snn:line:col`` of the first ``needle`` in the spec's text."""
    text = spec.read_text()
    at = text.index(needle)
    return f"{spec.name}:{text[:at].count(chr(10)) + 1}:{at - text.rfind(chr(10), 0, at)}"


def bernoulli_spec(folder, rate: str, extra: str = "") -> str:
    return write_spec(COUNTER + f"""
        network n {{
            population a = Counter(5)
            input src = poisson(5, rate = {rate}{extra})
            connect src -> a {{ one_to_one; on_pre: I_post += 1 mV }}
        }}
        simulate n {{ dt = 0.1 ms; steps = 10 }}
        """, folder)


def test_bernoulli_rate_warns_and_names_counts(tmp_path):
    spec = bernoulli_spec(tmp_path, "2 kHz")
    _, diags = analyse(spec)
    text = diags.render()
    assert f"{place(spec, '2 kHz')}: warning: poisson(): rate x dt = 0.2 at dt = 0.1 ms" in text, text
    assert "80 % of the variance" in text and "counts = true" in text
    for rate, extra in (("2 kHz", ", counts = true"), ("900 Hz", ""), ("20 kHz", ", counts = true")):
        _, diags = analyse(bernoulli_spec(tmp_path, rate, extra))
        assert not diags.items, diags.render()
    _, diags = analyse(bernoulli_spec(tmp_path, "20 kHz"))
    assert "it spikes at every step (10000 Hz, not 20000 Hz); counts = true" in diags.render()


@pytest.mark.parametrize("call, needle, message", [
    ("poisson(5, rate = 1 kHz, counts = yes)", "yes", "counts must be true or false"),
    ("poisson(5, rate = 1 kHz, count = true)", "true", "poisson() has no argument 'count'; it takes n, rate, "
                                                        "counts (did you mean 'counts'?)"),
    ("poisson(5, rate = -1 Hz)", "-1 Hz", "rate must be at least 0, not -1"),
])
def test_poisson_argument_errors(tmp_path, call, needle, message):
    spec = write_spec(COUNTER + f"""
        network n {{ population a = Counter(5); input src = {call} }}
        """, tmp_path)
    _, diags = analyse(spec)
    line = next(k for k, s in enumerate(spec.read_text().split("\n"), 1) if needle in s)
    col = spec.read_text().split("\n")[line - 1].index(needle) + 1
    assert f"spec.snn:{line}:{col}: error: {message}" in diags.render(), diags.render()


@pytest.mark.parametrize("items, needle, message", [
    ("input d = poisson_drive(target = b.v, N = 10, rate = 5 Hz, weight = 1 mV)", "b.v",
     "unknown population 'b'"),
    ("input d = poisson_drive(target = a.tau, N = 10, rate = 5 Hz, weight = 1 mV)", "a.tau",
     "'tau' of population 'a' is a parameter of neuron 'Leak'; a drive adds to a state or input variable"),
    ("input d = poisson_drive(target = a.v, N = 10, rate = 5 Hz, weight = 1 nA)", "1 nA",
     "dimension mismatch: the weight (what one input spike adds to v) is in V but the value is in A"),
    ("input d = poisson_drive(target = a.v, N = 2.5, rate = 5 Hz, weight = 1 mV)", "2.5",
     "N (the number of independent Poisson inputs of each neuron) must be a whole number of at least 1"),
    ("input d = poisson_drive(target = a.v, N = 10, rate = 5 ms, weight = 1 mV)", "5 ms",
     "dimension mismatch: rate is in Hz but the value is in s"),
    ("input d = poisson_drive(target = a.v, N = 10, weight = 1 mV)", "poisson_drive(",
     "poisson_drive() needs rate = ..."),
    ("input d = poisson_drive(target = a.v, N = 10, rate = 5 Hz, weight = 1 mV)\n"
     "    connect d -> a { on_pre: v_post += 1 mV }", "d -> a",
     "input 'd' is a poisson_drive: it adds to its target directly and has no spikes to connect from"),
    ("input d = poisson_drive(target = a.v, N = 10, rate = 5 Hz, weight = 1 mV)\n    monitor spikes of d", "d\n",
     "input 'd' is a poisson_drive: it has no neurons to monitor"),
])
def test_drive_errors_are_located(tmp_path, items, needle, message):
    spec = write_spec(f"""
        neuron Leak {{ parameters {{ tau = 10 ms }}; state {{ v = 0 mV }}; equations {{ dv/dt = -v / tau }} }}
        network n {{
            population a = Leak(4)
            {items}
        }}
        """, tmp_path)
    text = spec.read_text()
    at = text.index(needle)
    line = text[:at].count("\n") + 1
    col = at - text.rfind("\n", 0, at)
    model, diags = analyse(spec)
    assert model is None and f"spec.snn:{line}:{col}: error: {message}" in diags.render(), diags.render()


@pytest.mark.parametrize("target, word", [("cupy", "CUDA kernel"), ("lava", "Lava process")])
def test_other_targets_refuse_counts_and_drives_located(tmp_path, target, word):
    spec = write_spec(COUNTER + """
        network n {
            population a = Counter(5)
            input src = poisson(5, rate = 1 kHz, counts = true)
            input d = poisson_drive(target = a.I, N = 10, rate = 5 Hz, weight = 1 mV)
            connect src -> a { one_to_one; on_pre: I_post += 1 mV }
        }
        """, tmp_path)
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "out", target=target)
    text = str(e.value)
    assert f"{place(spec, 'src =')}: error: target {target}: input src: poisson(..., counts = true) has no {word}" in text, text
    drive = f"{place(spec, 'd =')}: error: target {target}: input d: poisson_drive(...) has no {word}"
    assert (drive in text) == (target == "lava"), text  # CuPy prints drives (the NumPy runtime's counts)
    assert not (tmp_path / "out").exists()


def test_the_c_target_and_mpi_refuse_counts_located(tmp_path):
    spec = write_spec(COUNTER + """
        network n {
            population a = Counter(5)
            input src = poisson(5, rate = 1 kHz, counts = true)
            input d = poisson_drive(target = a.I, N = 10, rate = 5 Hz, weight = 1 mV)
            connect src -> a { one_to_one; on_pre: I_post += 1 mV }
        }
        """, tmp_path)
    with pytest.raises(SpecError) as e:
        build(spec, tmp_path / "out", target="c")
    text = str(e.value)
    assert f"{place(spec, 'src =')}: error: target c: input src: poisson(..., counts = true) is not printed" in text, text
    assert f"{place(spec, 'd =')}: error: target c: input d: poisson_drive(...) is not printed" in text, text
    from snnlang.backends.numpy import NumpyEmitter
    from snnlang.frontend import load
    from snnlang.plan import make_plan

    why = NumpyEmitter(make_plan(load(spec))).partition_problems()
    assert why == ["input src: poisson(..., counts = true) runs in one process"]  # the drive splits


# ---- spike trains from files ---------------------------------------------------------------------

SPIKES = """
neuron Relay { state { v = 0 mV }; inputs { I = 0 mV }; equations { dv/dt = I / (1 ms) } }
network n {
    input src = %s
    population a = Relay(%d)
    connect src -> a { one_to_one; on_pre: I_post += 1 mV }
    monitor spikes of src
}
simulate n { dt = 0.1 ms; duration = 20 ms }
"""


def spikes_of(spec, folder):
    net = build_package(spec, folder).Network()
    net.run()
    t, i = net.spikes("src")
    return sorted(zip(np.rint(t / 1e-4).astype(int).tolist(), i.tolist()))


def test_spike_times_from_files_equal_the_train_written_inline(tmp_path):
    times = np.array([5.0, 1.0, 12.5, 3.3, 7.0, 19.9]) * 1e-3  # not sorted
    indices = np.array([2, 0, 4, 1, 2, 3])
    inline = write_spec(SPIKES % ("spike_times(indices = [%s], times = [%s] ms)" % (
        ", ".join(map(str, indices)), ", ".join(f"{x * 1e3:g}" for x in times)), 5), tmp_path / "inline")
    folder = tmp_path / "files"
    folder.mkdir()
    np.savez(folder / "train.npz", times=times, indices=indices)
    np.save(folder / "t.npy", times)
    np.save(folder / "i.npy", indices.astype(np.int32))
    npz = write_spec(SPIKES % ('spike_times(file = "train.npz")', 5), folder, "npz")
    pair = write_spec(SPIKES % ('spike_times(times = "t.npy", indices = "i.npy", n = 5)', 5), folder, "pair")
    want = spikes_of(inline, tmp_path / "a")
    assert len(want) == 6
    assert spikes_of(npz, tmp_path / "b") == want
    assert spikes_of(pair, tmp_path / "c") == want


def test_a_large_train_from_a_file(tmp_path):
    """50,000 spikes of 1000 neurons: packed into the package, every spike back (one per neuron and step)."""
    rng = np.random.default_rng(0)
    steps, neurons = rng.integers(0, 200, 50_000), rng.integers(0, 1000, 50_000)
    keys = np.unique(steps * 1000 + neurons)
    np.savez(tmp_path / "big.npz", times=(keys // 1000) * 1e-4, indices=keys % 1000)
    spec = write_spec(SPIKES % ('spike_times(file = "big.npz", n = 1000)', 1000), tmp_path)
    got = spikes_of(spec, tmp_path)
    assert got == sorted(zip((keys // 1000).tolist(), (keys % 1000).tolist()))
    assert "rt.unpack_spikes(" in (tmp_path / "net" / "network.py").read_text()


@pytest.mark.parametrize("make, call, message", [
    (lambda d: None, 'spike_times(file = "none.npz")', "cannot read 'none.npz': no such file beside the spec"),
    (lambda d: (d / "x.csv").write_text("1,2"), 'spike_times(file = "x.csv")',
     "cannot read 'x.csv': a spike train comes from an .npz"),
    (lambda d: np.savez(d / "x.npz", times=[0.001, np.nan], indices=[0, 1]), 'spike_times(file = "x.npz")',
     "'times' must be finite and at least 0 s: entry 1 is nan"),
    (lambda d: np.savez(d / "x.npz", times=[0.001, -0.002], indices=[0, 1]), 'spike_times(file = "x.npz")',
     "'times' must be finite and at least 0 s: entry 1 is -0.002"),
    (lambda d: np.savez(d / "x.npz", times=[0.001, 0.002], indices=[0, 9]), 'spike_times(file = "x.npz", n = 5)',
     "entry 1 of 'indices' is 9, outside the input's n = 5 neurons (0 to 4)"),
    (lambda d: np.savez(d / "x.npz", times=[0.001, 0.002], indices=[0]), 'spike_times(file = "x.npz")',
     "'times' has 2 entries but 'indices' has 1"),
    (lambda d: np.savez(d / "x.npz", times=[0.001], indices=[1.0]), 'spike_times(file = "x.npz")',
     "'indices' must hold whole numbers (an integer dtype), not float64"),
    (lambda d: np.savez(d / "x.npz", t=[0.001], indices=[1]), 'spike_times(file = "x.npz")',
     "'x.npz' has no array 'times' (it has t, indices)"),
    (lambda d: np.savez(d / "x.npz", times=np.array([[0.001]]), indices=[1]), 'spike_times(file = "x.npz")',
     "'times' must be one-dimensional (one time per spike), not of shape (1, 1)"),
    (lambda d: np.savez(d / "x.npz", times=np.array([0.1], dtype=object), indices=[1]), 'spike_times(file = "x.npz")',
     "cannot read array 'times' of 'x.npz'"),
    (lambda d: np.save(d / "x.npy", [0.1]), 'spike_times(file = "x.npy")', "'x.npy' is one array (.npy)"),
    (lambda d: (d / "x.npz").write_bytes(b"not numpy"), 'spike_times(file = "x.npz")', "cannot read 'x.npz' as NumPy data"),
    (lambda d: (np.save(d / "t.npy", [0.1]), np.save(d / "i.npy", [-1])), 'spike_times(times = "t.npy", indices = "i.npy")',
     "'indices' must be at least 0: entry 0 is -1"),
    (lambda d: (d.parent / "out.npz").write_bytes(b""), 'spike_times(file = "../out.npz")',
     "cannot read '../out.npz': it is outside the spec's folder; allow its folder with --include DIR"),
])
def test_spike_file_errors_are_located_at_the_file(tmp_path, make, call, message):
    folder = tmp_path / "spec"
    folder.mkdir()
    make(folder)
    spec = write_spec(SPIKES % (call, 5), folder)
    text = spec.read_text()
    quoted = call[call.index('"'):]
    key = "indices" if "'indices' must be at least 0" in message else None
    at = text.index('"i.npy"') if key else text.index(quoted)
    line, col = text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)
    model, diags = analyse(spec)
    assert model is None and f"spec.snn:{line}:{col}: error: {message}" in diags.render(), diags.render()


# ---- inputs from the command line ----------------------------------------------------------------

def test_cli_input_table_and_set_on_an_input(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = write_spec("""
        import "lif.snn"
        network n {
            population a = LIF(3)
            monitor I_ext of a
        }
        simulate n { dt = 0.1 ms; steps = 50 }
        """, tmp_path)
    table = np.zeros((30, 3))
    table[10:, 1], table[20:, 2] = 2e-9, 3e-9
    np.save(tmp_path / "cur.npy", table)
    np.save(tmp_path / "ramp.npy", np.linspace(0, 1e-9, 50))
    assert main(["run", str(spec), "-o", "r1", "--no-plots", "--input", "a.I_ext=cur.npy"]) == 0
    got = np.load(tmp_path / "r1" / "state.npz")["a_I_ext"]
    assert np.allclose(got[:30], table) and np.allclose(got[30:], table[-1])  # the last row holds
    assert main(["run", str(spec), "-o", "r2", "--no-plots", "--input", "I_ext=ramp.npy".replace("I_ext", "a.I_ext")]) == 0
    got = np.load(tmp_path / "r2" / "state.npz")["a_I_ext"]
    assert np.allclose(got, np.linspace(0, 1e-9, 50)[:, None] * np.ones(3))
    assert main(["run", str(spec), "-o", "r3", "--no-plots", "--set", "I_ext=1.5nA"]) == 0
    assert np.allclose(np.load(tmp_path / "r3" / "state.npz")["a_I_ext"], 1.5e-9)
    capsys.readouterr()
    for args, message in ((["--input", "a.v=cur.npy"], "'a.v' is not an input variable of this network"),
                          (["--input", "a.I_ext=none.npy"], "cannot read 'none.npy'"),
                          (["--set", "a.I_ext=2mV"], "a.I_ext is in A, the value is in V")):
        assert main(["run", str(spec), "-o", "r4", "--no-plots", *args]) == 2
        assert message in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((5, 2)))
    assert main(["run", str(spec), "-o", "r4", "--no-plots", "--input", "a.I_ext=bad.npy"]) == 2
    assert "the table has shape (5, 2); a.I_ext takes (steps, 3), (steps, 1) or (steps,)" in capsys.readouterr().err


# ---- Brunel (2000) -------------------------------------------------------------------------------

def test_brunel_spec_agrees_with_the_hand_written_model(tmp_path):
    """specs/brunel.snn at N_E = 1000, N_I = 250 (indegrees and drive as in the spec), 0.6 s: rates
    and CVs of the interspike intervals of the generated package and of benchmarks/brunel_reference.py
    (independent random numbers) agree within the spread between seeds (about 3 % in rate, 0.01 in
    CV at this size; 10 % and 0.06 allowed)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from brunel import spec_text
    from brunel_reference import rates_and_cv, simulate

    duration = 0.6
    spec = tmp_path / "brunel.snn"
    spec.write_text(spec_text(1000, 250, duration, 3))
    net = build_package(spec, tmp_path).Network()
    net.run()
    ours = [rates_and_cv(*net.spikes(p), n, duration) for p, n in (("exc", 1000), ("inh", 250))]
    times, indices = simulate(n_exc=1000, n_inh=250, duration=duration, seed=3)
    theirs = [rates_and_cv(times[indices < 1000], indices[indices < 1000], 1000, duration),
              rates_and_cv(times[indices >= 1000], indices[indices >= 1000] - 1000, 250, duration)]
    for (rate, cv), (rate_ref, cv_ref) in zip(ours, theirs):
        assert 20 < rate_ref < 80 and 0.2 < cv_ref < 0.8  # the asynchronous irregular regime
        assert abs(rate - rate_ref) < 0.1 * rate_ref, (rate, rate_ref)
        assert abs(cv - cv_ref) < 0.06, (cv, cv_ref)
