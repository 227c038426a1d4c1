"""Conformance (issue 11): one spec, every target that runs here, the same spikes.

Every spec of ``specs/``, ``tests/specs/`` and ``tests/specs/conformance/`` runs on the NumPy
target, the reference, and is compared with it step for step:

* the CuPy kernels on the CPU (``tests/cuda_shim``, float64, launches serial): identical spikes,
  state and traces within rounding, the same synaptic event count;
* Lava's floating-point models (Lava's own simulator; every Lava run of the session in one
  subprocess): identical spikes, traces within rounding, and for STDP identical weights; where
  Lava cannot express a spec, the build's located refusal;
* the training forward pass of the specs with a train block (``training.py``): identical spike
  counts per neuron for the same input spikes.

Then names: specs whose names meet the names the targets generate (the ones issue 11 lists and
a generated family) must give the spikes of the same spec with every identifier renamed to a
fresh one, on every target. And dt has one owner: a Network refuses a dt other than its build's.

Tests of behaviour known to be wrong today are ``xfail(strict=True)`` with the reason, so that
they fail (and their mark must go) when the fix lands. Specs whose Poisson inputs are silent
(``rate = 0 Hz``, driven by a trainer) run at 150 Hz here, and specs without monitors get some
(``conformance_helpers.derived_text``).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from string import Template

import numpy as np
import pytest

from conformance_helpers import (
    EVENTS, Case, LavaBatch, LavaJob, LavaRecords, Workspace, assert_close, compare_monitors, first_difference,
    spec_cases, spike_pairs, steps_of, weight_matrix,
)
from snnlang.frontend.diagnostics import SpecError

requires_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ compiles the CuPy kernels for the CPU")

CASES = spec_cases()
BY_NAME = {case.name: case for case in CASES}


# ---------------------------------------------------------------------------------------
# Specs of this module (written into the workspace)
# ---------------------------------------------------------------------------------------

def text_case(name: str, text: str, steps: int = 10 ** 9, lava_steps: int = 10 ** 9) -> Case:
    return Case(name, Path(f"{name}.snn"), steps, lava_steps, text)


# Issue 11, Lava: stdlib LIF + pair STDP whose on_pre adds `w * nA` (Lava used to drop the 1e-9:
# 1600 spikes for NumPy's 152). The amplitudes are negligible (1e-7), so that the spike count
# measures the scale of the delivered weights alone.
LAVA_STDP_UNITS = text_case("lava/stdp_units", """
import "lif.snn"
import "stdp.snn"

network stdp_units {
    input x = poisson(100, rate = 30 Hz)
    population exc = LIF(20) { v = uniform(-65 mV, -55 mV) }
    connect x -> exc using STDP {
        all_to_all; w = uniform(0, 0.5); A_plus = 1e-7; A_minus = 1e-7; on_pre: I_syn_post += w * nA
    }
    monitor spikes of x, exc
}

simulate stdp_units { dt = 0.5 ms; steps = 400; seed = 1 }
""")

LAVA_STDP = Template("""
import "steplif.snn"
import "stdp.snn"

network stdp_lava {
    input x = poisson(40, rate = 60 Hz)
    population out = StepLIF(10) { decay = 0.95 }
    connect x -> out using STDP {
        all_to_all; $delay w = uniform(0, 0.3); A_plus = $a; A_minus = $a; on_pre: I_post += w
    }
    monitor spikes of x, out
}

simulate stdp_lava { dt = 1 ms; steps = 300; seed = 4 }
""")
# Per-synapse delays (Lava's learning synapses have none), learning or not, must be refused at
# build (they used to run static, with a warning); no learning at all (A = 0) used to crash
# inside Lava ("No dependency found").
LAVA_STDP_DELAYS = text_case("lava/stdp_delays", LAVA_STDP.substitute(delay="delay = uniform(1 ms, 4 ms);", a="0.02"))
LAVA_STDP_DELAYS_STILL = text_case("lava/stdp_delays_still", LAVA_STDP.substitute(delay="delay = uniform(1 ms, 4 ms);",
                                                                                   a="0"))
LAVA_STDP_STILL = text_case("lava/stdp_still", LAVA_STDP.substitute(delay="", a="0"))

# ---------------------------------------------------------------------------------------
# Name clashes: one spec with every identifier a placeholder
# ---------------------------------------------------------------------------------------

CLASH_BASE = Template("""\
neuron $Cell {
    parameters {
        $tau_m = 20 ms; $tau_syn = 5 ms; $E_l = -65 mV; $v_th = -50 mV; $R = 10 Mohm; $t_ref = 2 ms; $gain = 1.5
    }
    state { $v = $E_l; $I_syn = 0 nA; $count = 0 }
    inputs { $I_ext = 0 nA }
    equations {
        d$v/dt = ($E_l - $v + $R * ($I_syn + $I_ext)) / $tau_m   unless refractory
        d$I_syn/dt = -$I_syn / $tau_syn
    }
    spike when $v >= $v_th - 0.5 mV * $count
    reset { $v = $E_l; $count += $gain }
    refractory $t_ref
}

synapse $Rule {
    parameters { $tau_plus = 20 ms; $tau_minus = 20 ms; $A_plus = 0.02; $A_minus = 0.021; $w_max = 1.0 }
    state { $w = 0.5 }
    pre { d$x/dt = -$x / $tau_plus }
    post { d$y/dt = -$y / $tau_minus }
    on_pre {
        $x += 1
        $w = clip($w - $A_minus * $y, 0, $w_max)
    }
    on_post {
        $y += 1
        $w = clip($w + $A_plus * $x, 0, $w_max)
    }
}

network $net {
    input $src = poisson(40, rate = 120 Hz)
    input $cue = spike_times(indices = [0, 1, 2], times = [5, 5, 12] ms)
    population $cells = $Cell(12) { $I_ext = 1.3 nA }
    population $other = $Cell(6)
    connect $src -> $cells using $Rule { p = 0.5; $w = uniform(0, 1); on_pre: ${I_syn}_post += $w * nA }
    connect $cells -> $other { p = 0.4; delay = 2 ms; $w2 = uniform(0, 2); on_pre: ${I_syn}_post += $w2 * nA }
    connect $cue -> $other { all_to_all; $w3 = 3; on_pre: ${I_syn}_post += $w3 * nA }
    monitor spikes of $src, $cells, $other
    monitor $v, $count of $other[0:6:2]
}

simulate $net { dt = 0.5 ms; steps = 200; seed = 3 }
""")
#: Every identifier of CLASH_BASE, by its own name.
PLACEHOLDERS = sorted({m[0] or m[1] for m in re.findall(r"\$(?:\{(\w+)\}|(\w+))", CLASH_BASE.template)})
NATURAL = {name: name for name in PLACEHOLDERS}
FRESH = {name: f"q{k}" for k, name in enumerate(PLACEHOLDERS)}  # no generated name is q<number>
CLASH_POPULATIONS = ("src", "cells", "other")

#: The clashes issue 11 lists: (id, {placeholder: name}).
LISTED_CLASHES = [
    ("a_b-next-to-a-with-b_v", {"cells": "a", "other": "a_b", "count": "b_v"}),
    ("state-spiked", {"count": "spiked"}),
    ("state-refractory_until", {"count": "refractory_until"}),
    ("state-index", {"count": "index"}),
    ("parameter-P_v_v", {"gain": "P_v_v"}),
    ("state-spk", {"count": "spk"}),
    ("state-x", {"count": "x"}),
    ("state-history", {"count": "history"}),
    ("state-slot", {"count": "slot"}),
    ("state-P", {"count": "P"}),
]
#: A family generated from the names the targets give their own arrays, temporaries and kernels
#: (<owner>_<role>), each taken by a spec name of the matching kind.
_ROLES = {
    "count": ["refractory", "released", "ring", "rows", "spiked_at", "active", "v_new", "I_ext_outside", "ref_steps",
              "due", "grid"],
    "gain": ["ref_steps", "v_r1"],
    "I_ext": ["history"],
    "w2": ["pre", "post", "delays", "by_post"],
    "x": ["y_last", "decay_y"],
    "A_plus": ["x_last"],
}
GENERATED_CLASHES = [(f"{role}-{name}", {role: name}) for role, names in _ROLES.items() for name in names] + [
    ("population-named-as-a-connection", {"other": "src_cells"}),
    ("population-a_b-state-b_v-of-a", {"cells": "a_b", "other": "a", "v": "b_v"}),
]
CLASHES = LISTED_CLASHES + GENERATED_CLASHES


def clash_names(overrides: dict) -> dict:
    return {**NATURAL, **overrides}


def clash_case(name: str, names: dict) -> Case:
    return text_case(f"clash/{name}", CLASH_BASE.substitute(names))


CLEAN = clash_case("clean", FRESH)
CLASH_CASES = {name: clash_case(name, clash_names(overrides)) for name, overrides in CLASHES}
_ALL_NAMES = [case.name for case in CASES] + [case.name for case in CLASH_CASES.values()] + [
    case.name for case in (CLEAN, LAVA_STDP_UNITS, LAVA_STDP_DELAYS, LAVA_STDP_DELAYS_STILL, LAVA_STDP_STILL)]
assert len(set(_ALL_NAMES)) == len(_ALL_NAMES), "two conformance cases share a name"

#: (clash, target) -> what goes wrong today (xfail, with the reason); none since the Lava
#: process models' own locals give way to spec names.
_CLASH_FAILURES: dict = {}


# ---------------------------------------------------------------------------------------
# Lava: what each case is expected to do today
# ---------------------------------------------------------------------------------------

#: Cases Lava refuses, with the construct the located refusal must name: plasticity that has no
#: Loihi form (synapse equations, a target trace, a trace set rather than increased, triplet and
#: soft-bounded rules, per-synapse delays) and on_pre effects that are not `x_post += weight`.
LAVA_REFUSALS = {
    "stdp_rstdp": "connect sensors -> cell",
    "stdp_window": "connect pre -> post",
    "diehl_cook": "connect pixels -> exc",
    "lava_stdp_delays": "connect src -> exc",
    "conformance/rstdp": "connect x -> out",
    "conformance/stdp_nearest": "connect x -> hid",
    "conformance/traces": "connect x -> out",
    "brunel": "input ext_exc =",  # poisson_drive: no Lava process
}
#: Cases where Lava is wrong today (xfail): the test asserts the NumPy target's results.
LAVA_XFAIL: dict[str, str] = {}


def lava_job(case: Case, **kwargs) -> LavaJob:
    key = case.name + "".join(f"@{k}={v}" for k, v in sorted(kwargs.items()))
    return LavaJob(key, case, case.lava_steps, **kwargs)


# ---------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="module")
def lava(ws, request):
    """The Lava batch of every selected test of this module, started once, in the background."""
    jobs = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module:
            jobs += [params["lava_job"]] if "lava_job" in params else list(params.get("lava_jobs", ()))
    jobs = [job for job in jobs if job.case.name not in LAVA_REFUSALS]  # asserted without running Lava
    batch = LavaBatch(ws, list({job.key: job for job in jobs}.values()))
    batch.start()
    yield batch
    batch.stop()


@pytest.fixture(scope="module", autouse=True)
def _start_lava_first(request):
    """Start the Lava subprocess before the first test, so that it runs beside the CuPy tests."""
    if any(item.module is request.module and "lava" in item.keywords for item in request.session.items):
        request.getfixturevalue("lava")


# ---------------------------------------------------------------------------------------
# The CuPy kernels
# ---------------------------------------------------------------------------------------

def compare_networks(a, b, monitors, label: str) -> None:
    """Two Networks (NumPy and CuPy): monitors, every state array, synaptic events."""
    seen = compare_monitors(a, b.spikes, b.trace, monitors, a.dt, label)
    common = [key for key in b.state if key in a.state and np.asarray(a.state[key]).dtype.kind == "f"]
    assert common, f"{label}: no state array in common"
    for key in common:  # state variables, weights, traces (the targets' own bookkeeping may differ)
        assert_close(b.get(key), a.state[key], f"{label}: state {key}")
    assert b.synops == a.synops, f"{label}: {b.synops} synaptic events, NumPy {a.synops}"
    samples = sum(len(a.trace(pop, var)[0]) for kind, pop, variables, *_ in monitors if kind == "state"
                  for var in variables)
    assert seen + samples > 0, f"{label}: nothing was recorded to compare"


@requires_gxx
@pytest.mark.parametrize("case", CASES, ids=str)
def test_cupy_kernels_give_the_numpy_results(ws, case):
    np_pkg = ws.package(case, "numpy")
    steps = steps_of(np_pkg, case.steps)
    a = ws.run(case, "numpy", steps)
    b = ws.run(case, "cupy", steps)
    assert b.step == a.step == steps
    compare_networks(a, b, np_pkg.MONITORS, f"{case.name} on cupy")


# ---------------------------------------------------------------------------------------
# Lava, floating point
# ---------------------------------------------------------------------------------------

def assert_refusal(text: str, ws: Workspace, case: Case, construct: str) -> None:
    """A rendered refusal names the spec's file and the construct's connection (or input)."""
    assert ws.spec(case).name in text, text
    if construct.startswith("input "):
        name = construct.split()[1]
        assert f"input {name}" in text, f"the refusal does not name input {name}: {text}"
        return
    source, target = re.match(r"connect (\w+)(?:\[[^]]*])? -> (\w+)", construct).groups()
    assert f"{source}_{target}" in text, f"the refusal does not name connection {source}_{target}: {text}"


def refusal_of(ws: Workspace, case: Case, construct: str) -> None:
    """The Lava build of ``case`` is refused, naming its file and the construct's connection."""
    package = ws.package(case, "lava")
    assert isinstance(package, SpecError), \
        f"{case.name}: Lava built it ({package}); expected a refusal naming {construct}"
    assert_refusal(package.diagnostics.render(), ws, case, construct)


def lava_data(lava, job: LavaJob) -> dict:
    """A Lava job's records, after asserting that it was built and ran."""
    data = lava.result(job.key)
    assert "build_error" not in data, f"{job.case.name}: the Lava build failed: {data['build_error']}"
    assert "error" not in data, f"{job.case.name} in Lava: {data['error']}"
    return data


def lava_cases():
    out = []
    for case in CASES:
        marks = [pytest.mark.lava]
        if case.name in LAVA_XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=LAVA_XFAIL[case.name]))
        out.append(pytest.param(lava_job(case, read_weights=True), marks=marks, id=case.name))
    return out


@pytest.mark.parametrize("lava_job", lava_cases())
def test_lava_floating_point_gives_the_numpy_results(ws, lava, lava_job):
    case = lava_job.case
    refused = LAVA_REFUSALS.get(case.name)
    if refused:
        refusal_of(ws, case, refused)
        return
    data = lava_data(lava, lava_job)
    np_pkg = ws.package(case, "numpy")
    steps = steps_of(np_pkg, case.lava_steps)
    a = ws.run(case, "numpy", steps)
    records = LavaRecords(data)
    seen = compare_monitors(a, records.spikes, records.trace, np_pkg.MONITORS, a.dt, f"{case.name} on lava")
    samples = sum(len(records.trace(pop, var)[0]) for kind, pop, variables, *_ in np_pkg.MONITORS
                  if kind == "state" for var in variables)
    assert seen + samples > 0, "nothing was recorded to compare"
    if re.search(r"using\s+(STDP|BriefSTDP)\b", case.text or case.path.read_text()):
        assert any(key.startswith("weights/") for key in data), f"{case.name}: Lava reported no learnt weights"
    for key in data:
        if key.startswith("weights/"):  # pair STDP: the learnt weights
            connection = key[len("weights/"):]
            lava_w = data[key]
            numpy_w = weight_matrix(a, connection, *lava_w.shape)
            present = ~np.isnan(numpy_w)
            assert_close(lava_w[present], numpy_w[present], f"{case.name}: weights of {connection}")
            np.testing.assert_array_equal(lava_w[~present], 0, err_msg=f"{connection}: absent synapses")


@pytest.mark.parametrize("name", sorted(LAVA_REFUSALS))
def test_lava_refusals_point_at_the_construct(ws, name):
    case = BY_NAME[name]
    construct = LAVA_REFUSALS[name]
    package = ws.package(case, "lava")
    assert isinstance(package, SpecError)
    text = ws.spec(case).read_text(encoding="utf-8")
    line = 1 + text[: text.index(construct)].count("\n")
    locations = [(d.loc.line, d.loc.column) for d in package.diagnostics.errors]
    assert any(ln == line and col >= 1 for ln, col in locations), \
        f"{name}: refusal at {locations}, the construct is on line {line}"


# ---- the Lava STDP defects issue 11 lists -------------------------------------------------

@pytest.mark.lava
@pytest.mark.parametrize("lava_job", [lava_job(LAVA_STDP_UNITS)], ids=str)
def test_lava_stdp_keeps_the_unit_of_on_pre(ws, lava, lava_job):
    data = lava_data(lava, lava_job)
    net = ws.run(lava_job.case, "numpy", steps_of(ws.package(lava_job.case, "numpy"), lava_job.steps))
    n_numpy, n_lava = len(net.spikes("exc")[0]), len(data["spikes/exc/t"])
    assert n_numpy > 100
    assert len(data["spikes/x/t"]) == len(net.spikes("x")[0])  # the same input
    # learning is negligible (amplitudes 1e-7): the counts differ only by rounding at threshold
    assert abs(n_lava - n_numpy) <= 0.02 * n_numpy, f"exc spikes: {n_lava} in Lava, {n_numpy} on NumPy"


@pytest.mark.lava
@pytest.mark.parametrize("lava_job", [lava_job(BY_NAME["conformance/stdp_sparse"], read_weights=True)], ids=str)
def test_lava_stdp_learns_only_existing_synapses(ws, lava, lava_job):
    data = lava_data(lava, lava_job)
    net = ws.package(lava_job.case, "numpy").Network()  # the connectivity
    lava_w = data["weights/x_out"]
    absent = np.isnan(weight_matrix(net, "x_out", *lava_w.shape))
    assert 0.5 * absent.size < absent.sum() < absent.size  # p = 0.3: most entries are absent
    assert np.count_nonzero(lava_w[absent]) == 0, \
        f"{np.count_nonzero(lava_w[absent])} of {absent.sum()} absent synapses have a weight"


@pytest.mark.parametrize("case", [LAVA_STDP_DELAYS, LAVA_STDP_DELAYS_STILL], ids=str)
def test_lava_refuses_stdp_with_synapse_delays(ws, case):
    refusal_of(ws, case, "connect x -> out")


@pytest.mark.lava
@pytest.mark.parametrize("lava_job", [lava_job(LAVA_STDP_STILL), lava_job(LAVA_STDP_DELAYS_STILL)], ids=str)
def test_lava_stdp_without_learning_is_a_static_connection(ws, lava, lava_job):
    """No learning: a located refusal, or a run that gives the NumPy spikes (the weights never change)."""
    data = lava.result(lava_job.key)
    if "build_error" in data:
        text = str(data["build_error"])
        assert text.startswith("SpecError"), text
        assert_refusal(text, ws, lava_job.case, "connect x -> out")
        return
    data = lava_data(lava, lava_job)
    np_pkg = ws.package(lava_job.case, "numpy")
    net = ws.run(lava_job.case, "numpy", steps_of(np_pkg, lava_job.steps))
    records = LavaRecords(data)
    assert compare_monitors(net, records.spikes, records.trace, np_pkg.MONITORS, net.dt, "lava") > 0


# ---------------------------------------------------------------------------------------
# The training forward pass
# ---------------------------------------------------------------------------------------

TRAIN_CASES = [case for case in CASES
               if re.search(r"^\s*method\s*=\s*(bptt|convert)\b", (case.text or case.path.read_text()), re.M)]


@pytest.fixture(scope="module")
def train_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SNNLANG_CACHE", str(tmp_path_factory.mktemp("train_cache")))
        yield


def feed(net, case: Case, source: str, spikes: np.ndarray) -> None:
    """Input spikes (steps x inputs) into the simulator's source: an events() input takes them as
    events (index = polarity * w * h + y * w + x), a Poisson one as rates of 0 or 2 / dt (a
    probability above 1 per step: every uniform draw is below it)."""
    text = case.text or case.path.read_text()
    sizes = {name: (int(w), int(h)) for name, w, h in EVENTS.findall(text)}
    if source in sizes:
        w, h = sizes[source]
        step, index = np.nonzero(spikes)
        net.feed_events(source, x=index % w, y=(index // w) % h, t=step * net.dt, polarity=index // (w * h))
    else:
        net.set_input(f"{source}.rate", spikes * (2.0 / net.dt))


@pytest.mark.parametrize("case", TRAIN_CASES, ids=str)
def test_training_forward_pass_gives_the_simulators_spike_counts(ws, train_cache, case):
    from snnlang.training.bptt import Network as TrainingNetwork
    from snnlang.training.package import load_block

    model, block = load_block(ws.spec(case))
    trained = TrainingNetwork(model, block, seed=int(ws.package(case, "numpy").SEED))  # the trainer's precision
    package = ws.package(case, "numpy")
    steps, batch = int(package.STEPS), 6
    x = (np.random.default_rng(7).random((steps, batch, trained.tp.n_in)) < 0.15).astype(float)
    cache = trained.forward(x)
    total = 0
    for b in range(batch):
        net = package.Network()
        feed(net, case, trained.tp.source, x[:, b])
        net.run(steps=steps)
        for layer in trained.training.LAYERS:
            counts = np.bincount(net.spikes(layer)[1], minlength=trained.sizes[layer])
            expected = cache["Z"][layer][:, b].sum(0)
            np.testing.assert_array_equal(counts, expected, err_msg=f"{case.name}: {layer}, sample {b}")
            total += int(counts.sum())
    assert total > 0


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------

CLASH_DT = 0.5e-3  # the dt of CLASH_BASE


def compare_renamed(clash, clean, names: dict, label: str, monitored=("v", "count")) -> None:
    """The clash spec's results (spikes(pop) / trace(pop, var) readers) equal the clean spec's."""
    for pop in CLASH_POPULATIONS:
        ours = spike_pairs(*clean.spikes(FRESH[pop]), CLASH_DT)
        theirs = spike_pairs(*clash.spikes(names[pop]), CLASH_DT)
        assert theirs == ours, f"{label}: spikes of {names[pop]}: " + first_difference(ours, theirs)
    for var in monitored:
        t_ref, v_ref = clean.trace(FRESH["other"], FRESH[var])
        t, v = clash.trace(names["other"], names[var])
        np.testing.assert_array_equal(t, t_ref)
        assert_close(v, v_ref, f"{label}: {names['other']}.{names[var]}")


def clash_params(targets):
    out = []
    for name, overrides in CLASHES:
        for target in targets:
            marks = [pytest.mark.lava] if target == "lava" else []
            reason = _CLASH_FAILURES.get((name, target))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=f"issue 11: {reason}"))
            args = (name, (lava_job(CLASH_CASES[name]), lava_job(CLEAN))) if target == "lava" else (name, target)
            out.append(pytest.param(*args, marks=marks, id=f"{name}-{target}"))
    return out


def test_clash_specs_rename_every_identifier():
    """The clean spec renames every identifier; the natural one spells them as their names."""
    assert "$" not in CLEAN.text and "$" not in CLASH_BASE.substitute(NATURAL)
    for name in PLACEHOLDERS:
        assert re.search(rf"\b{FRESH[name]}\b", CLEAN.text), name


@requires_gxx
@pytest.mark.parametrize("name, target", clash_params(["numpy", "cupy"]))
def test_clashing_names_mean_what_they_say(ws, name, target):
    names = clash_names(dict(CLASHES)[name])
    steps = 200
    clean = ws.run(CLEAN, target, steps)
    clash = ws.run(CLASH_CASES[name], target, steps)
    assert clean.dt == CLASH_DT and len(clean.spikes(FRESH["other"])[0]) > 10
    compare_renamed(clash, clean, names, f"{name} on {target}")


@pytest.mark.parametrize("name, lava_jobs", clash_params(["lava"]))
def test_clashing_names_mean_what_they_say_in_lava(ws, lava, name, lava_jobs):
    names = clash_names(dict(CLASHES)[name])
    results = [LavaRecords(lava_data(lava, job)) for job in lava_jobs]
    compare_renamed(results[0], results[1], names, f"{name} in lava")


# ---------------------------------------------------------------------------------------
# dt has one owner
# ---------------------------------------------------------------------------------------

DT_CASE = BY_NAME["conformance/monitors"]  # dt = 0.25 ms; monitors every 1 ms and 2.5 ms


def network_kwargs(ws, case, target):
    return {"device": ws.device(case)} if target == "cupy" else {}


@requires_gxx
@pytest.mark.parametrize("target", ["numpy", "cupy"])
def test_network_refuses_a_dt_other_than_the_builds(ws, target):
    package = ws.package(DT_CASE, target)
    with pytest.raises((ValueError, TypeError)) as info:
        package.Network(dt=4 * package.DT, **network_kwargs(ws, DT_CASE, target))
    message = str(info.value)
    assert "dt" in message and "rebuild" in message.lower(), message


@requires_gxx
@pytest.mark.parametrize("target", ["numpy", "cupy"])
def test_network_accepts_the_builds_dt(ws, target):
    package = ws.package(DT_CASE, target)
    given = package.Network(dt=package.DT, **network_kwargs(ws, DT_CASE, target)).run(steps=400)
    default = ws.run(DT_CASE, "numpy", 400)
    compare_monitors(default, given.spikes, given.trace, package.MONITORS, default.dt, f"dt given on {target}")


@pytest.mark.lava
@pytest.mark.parametrize("lava_job", [lava_job(DT_CASE, dt=1e-3)], ids=str)
def test_lava_refuses_a_dt_other_than_the_builds(ws, lava, lava_job):
    data = lava.result(lava_job.key)
    assert "build_error" not in data, str(data["build_error"])
    assert "error" in data, "Lava ran at another dt than the build's"
    message = str(data["error"]).splitlines()[0]
    assert message.startswith(("ValueError", "TypeError")) and "dt" in message and "rebuild" in message.lower(), message


@pytest.mark.lava
@pytest.mark.parametrize("lava_job", [lava_job(DT_CASE, dt=0.25e-3)], ids=str)
def test_lava_accepts_the_builds_dt(ws, lava, lava_job):
    data = lava_data(lava, lava_job)
    package = ws.package(DT_CASE, "numpy")
    assert package.DT == 0.25e-3
    net = ws.run(DT_CASE, "numpy", steps_of(package, lava_job.steps))
    records = LavaRecords(data)
    compare_monitors(net, records.spikes, records.trace, package.MONITORS, net.dt, "lava, dt given")
