"""Typed settings of simulate and train blocks (snnlang/settings.py): every bad setting at its
place with a "did you mean", all at once; every shipped spec clean; the planner and the
trainers reading the table's values, each default written once."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from snnlang.frontend import settings
from snnlang.cli import main
from snnlang.frontend.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent

STEP = """neuron Step {
    parameters { beta = 0.9; thr = 1.0 }
    state { v = 0.0 }
    inputs { I = 0.0 }
    update { v = beta * v + I }
    spike when v >= thr
    reset { v -= thr }
}
network mlp {
    input x = poisson(4, rate = 0 Hz)
    population hidden = Step(5)
    population out = Step(3)
    connect x -> hidden { all_to_all; w = uniform(-0.6, 0.6); on_pre: I_post += w }
    connect hidden -> out { all_to_all; w = uniform(-0.6, 0.6); on_pre: I_post += w }
    monitor spikes of out
}
"""


def errors_of(specs, text: str) -> list[str]:
    return specs.analyse(text).errors


def train_block(body: str, method: str = "bptt") -> str:
    """STEP with a simulate block (line 18) and a train block whose settings start on line 22."""
    return STEP + "simulate mlp { dt = 1 ms; steps = 6; seed = 0 }\n\ntrain t {\n" \
        f"    network = mlp\n    method = {method}\n{body}\n}}\n"


def test_the_train_block_starts_where_the_tests_expect(specs):
    assert specs.analyse(train_block("    epochs = 2")).ok().trainings["t"].locs["epochs"].line == 22


# ---- each kind of bad setting, at its place ------------------------------------------------

@pytest.mark.parametrize("body, expected", [
    # unknown names, with a did-you-mean
    ("    epoch = 3", "spec.snn:22:5: unknown train setting 'epoch' (did you mean 'epochs'?)"),
    ("    optimiser = adam(lr = 1e-3)", "spec.snn:22:5: unknown train setting 'optimiser' (did you mean 'optimizer'?)"),
    ("    reset = zero", "spec.snn:22:5: 'reset' is not a train setting: the reset is the neuron's own "
                         "(reset { v -= thr } subtracts, reset { v = 0 } sets to zero): write it in the neuron, "
                         "so that training and simulation agree"),
    # unknown choices and forms
    ("    precision = float16",
     "spec.snn:22:17: unknown precision 'float16'; choose float64 or float32 (did you mean 'float64'?)"),
    ('    precision = "float32"',
     "spec.snn:22:17: unknown precision 'float32'; choose float64 or float32 (without quotes)"),
    ("    optimizer = adamw(lr = 1e-3)",
     "spec.snn:22:17: unknown optimizer 'adamw'; choose sgd(...), momentum(...) or adam(...) (did you mean 'adam'?)"),
    ("    encode = poison(steps = 4)", "spec.snn:22:14: unknown encoder 'poison'; choose poisson(...), latency(...), "
                                      "current(...) or events(...) (did you mean 'poisson'?)"),
    ("    optimizer = adam(lr = 1e-3, betta1 = 0.8)",
     "spec.snn:22:42: adam() has no parameter 'betta1'; it takes lr, beta1, beta2, eps (did you mean 'beta1'?)"),
    ("    loss = cross_entropy(spike_train(out))", "spec.snn:22:26: cross_entropy() cannot read spike_train(); "
                                                  "it reads spike_count(...), rate(...) or max_membrane(...)"),
    ("    surrogate = fast_sigmoid(25)", "spec.snn:22:30: fast_sigmoid() takes no unnamed argument; "
                                        "name it, such as fast_sigmoid(slope = ...)"),
    ("    optimizer = adam(lr = 1e-3, lr = 2e-3)", "spec.snn:22:33: 'lr' is given twice"),
    ("    data = npz(test_fraction = 0.5)", "spec.snn:22:12: npz() needs file = ..."),
    ("    detach_reset = yes", "spec.snn:22:20: detach_reset must be true or false"),
    # wrong dimension or type
    ("    dt = 1 mV", "spec.snn:22:10: dimension mismatch: dt is in s but the value is in V"),
    ("    encode = poisson(steps = 4, gain = 2 Hz)",
     "spec.snn:22:40: dimension mismatch: gain of poisson() is in 1 (dimensionless) but the value is in Hz"),
    ("    epochs = 2 ms", "spec.snn:22:14: epochs must be a whole number from 1 to 2147483647"),
    ("    dropout = high", "spec.snn:22:15: dropout must be a number without units"),
    ("    readout = \"out\"", "spec.snn:22:15: readout must be the name of a population, without quotes"),
    # out of range
    ("    dt = 0 ms", "spec.snn:22:10: dt must be positive"),
    ("    dt = -1 ms", "spec.snn:22:10: dt must be positive"),
    ("    epochs = 0", "spec.snn:22:14: epochs must be a whole number from 1 to 2147483647"),
    ("    seed = -1", "spec.snn:22:12: seed must be a whole number from 0 to 18446744073709551615"),
    ("    dropout = 1", "spec.snn:22:15: dropout must be in [0, 1)"),
    ("    data = digits(test_fraction = 1.5)", "spec.snn:22:35: test_fraction of digits() must be in (0, 1)"),
    ("    optimizer = adam(lr = 0)", "spec.snn:22:27: lr of adam() must be positive"),
    ("    optimizer = momentum(momentum = 1)", "spec.snn:22:37: momentum of momentum() must be in [0, 1)"),
    # names the network lacks
    ("    readout = nope", "spec.snn:22:15: 'nope' is not a population of network 'mlp'"),
    ("    readout = outt", "spec.snn:22:15: 'outt' is not a population of network 'mlp' (did you mean 'out'?)"),
    ("    input = xx", "spec.snn:22:13: 'xx' is not an input of network 'mlp' (did you mean 'x'?)"),
    ("    loss = mse(rate(outs))", "spec.snn:22:21: 'outs' is not a population of network 'mlp' (did you mean 'out'?)"),
])
def test_each_kind_of_bad_train_setting_is_located(specs, body, expected):
    assert errors_of(specs, train_block(body)) == [expected]


def test_a_bare_name_is_a_call_without_arguments(specs):
    model = specs.analyse(train_block("    data = digits\n    surrogate = straight_through")).ok()
    typed = settings.training(model, model.trainings["t"])
    assert (typed.data.name, typed.data.test_fraction, typed.surrogate.name) == ("digits", 0.25, "straight_through")


def test_network_and_method_are_checked_with_their_place(specs):
    text = STEP + "train t { network = mlpp; method = bpt }\ntrain u { epochs = 1 }\n"
    assert errors_of(specs, text) == [
        "spec.snn:17:21: unknown network 'mlpp' (did you mean 'mlp'?)",
        "spec.snn:17:36: unknown training method 'bpt'; choose bptt, stdp or convert (did you mean 'bptt'?)",
        "spec.snn:18:7: train needs network = <name of a network>",
        "spec.snn:18:7: train needs method = bptt, stdp or convert",
    ]


@pytest.mark.parametrize("settings_text, expected", [
    ("dt = 1 ms; stepz = 3", "spec.snn:17:27: unknown simulate setting 'stepz' (did you mean 'steps'?)"),
    ("network = mlp", "spec.snn:17:16: 'network' is not a simulate setting: the block's name is the network: "
                      "simulate <network> { ... }"),
    ("dt = 0.1 Hz", "spec.snn:17:21: dimension mismatch: dt is in s but the value is in Hz"),
    ("dt = 0 ms", "spec.snn:17:21: dt must be positive"),
    ("duration = -1 s", "spec.snn:17:27: duration must be positive"),
    ("steps = 2.5", "spec.snn:17:24: steps must be a whole number from 1 to 2147483647"),
    ("seed = 18446744073709551616", "spec.snn:17:23: seed must be a whole number from 0 to 18446744073709551615"),
    ("steps = 10; duration = 1 s", "spec.snn:17:16: set duration or steps, not both"),
    ("dt = 1 ms; duration = 0.2 ms", "spec.snn:17:38: duration / dt is 0 steps; it must be from 1 to 2147483647"),
])
def test_each_kind_of_bad_simulate_setting_is_located(specs, settings_text, expected):
    assert errors_of(specs, STEP + f"simulate mlp {{ {settings_text} }}\n") == [expected]


def test_every_error_of_every_block_is_reported_at_once(specs):
    text = STEP + "simulate mlp { dt = -1 ms; stepz = 3 }\n\ntrain t {\n" + """\
    network = mlp
    method = bptt
    readout = nope
    epochs = 0
    optimizer = adam(lr = 1e-3, betta1 = 0.8)
    precision = float16
    dt = 1 mV
    surrogate = triangel
}
"""
    assert errors_of(specs, text) == [
        "spec.snn:17:21: dt must be positive",
        "spec.snn:17:28: unknown simulate setting 'stepz' (did you mean 'steps'?)",
        "spec.snn:22:15: 'nope' is not a population of network 'mlp'",
        "spec.snn:23:14: epochs must be a whole number from 1 to 2147483647",
        "spec.snn:24:42: adam() has no parameter 'betta1'; it takes lr, beta1, beta2, eps (did you mean 'beta1'?)",
        "spec.snn:25:17: unknown precision 'float16'; choose float64 or float32 (did you mean 'float64'?)",
        "spec.snn:26:10: dimension mismatch: dt is in s but the value is in V",
        "spec.snn:27:17: unknown surrogate 'triangel'; choose fast_sigmoid(...), sigmoid(...), atan(...), "
        "triangle(...) or straight_through(...) (did you mean 'triangle'?)",
    ]


def test_settings_of_another_method_are_warnings(specs):
    result = specs.analyse(train_block("    present = 100 ms\n    encode = poisson(steps = 4, rate = 20 Hz)"))
    assert result.errors == []
    assert result.warnings == [
        "spec.snn:22:5: 'present' does nothing with method = bptt (it is a setting of method = stdp)",
        "spec.snn:23:40: poisson(): 'rate' does nothing with method = bptt (it is a setting of method = stdp)",
    ]


def test_stdp_settings_name_what_the_network_has(specs):
    body = "    readout = outs\n    keep = [vv]\n    freeze = [bet]\n    schedule = step(thr, gamma = 0.5)\n" \
           "    plasticity = x_hiden\n    encode = latency(steps = 4)"
    assert errors_of(specs, train_block(body, "stdp")) == [
        "spec.snn:22:15: 'outs' is not a population of network 'mlp' (did you mean 'out'?)",
        "spec.snn:23:13: no population has a state variable 'vv' (did you mean 'v'?)",
        "spec.snn:24:15: no parameter 'bet' in network 'mlp' (did you mean 'beta'?)",
        "spec.snn:26:18: 'x_hiden' is not a connection of network 'mlp' (did you mean 'x_hidden'?)",
        "spec.snn:27:14: latency(...) is not an encoder of method = stdp; choose poisson(...)",
    ]
    assert errors_of(specs, train_block("", "stdp")) == [
        "spec.snn:19:7: method = stdp needs readout = <a population of the network>"]


def test_snnlang_train_stops_at_a_bad_setting_before_training(specs, capsys, tmp_path, monkeypatch):
    """The issue's case: readout = nope passed check and failed inside the trainer, without a place."""
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    specs.write("bad.snn", train_block("    readout = nope"))
    assert main(["check", "bad.snn"]) == 1
    assert main(["train", "bad.snn", "-o", "run"]) == 1
    err = capsys.readouterr().err
    assert "bad.snn:22:15: error: 'nope' is not a population of network 'mlp'" in err
    assert "Traceback" not in err and not (tmp_path / "cache").exists()


# ---- every shipped spec ----------------------------------------------------------------------

SHIPPED = sorted((ROOT / "specs").glob("*.snn")) + sorted((ROOT / "tests" / "specs").rglob("*.snn"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_spec_checks_clean_and_its_settings_resolve(path):
    from snnlang.frontend import analyse

    model, diags = analyse(path)
    assert model is not None and not diags.errors, diags.render()
    assert not [w for w in diags.warnings if "does nothing" in w.message]
    for block in model.trainings.values():
        typed = settings.training(model, block)
        assert typed.network in model.networks and typed.method in settings.METHODS
        assert typed.epochs >= 1 and typed.data is not None
    for name, block in model.simulations.items():
        net = model.networks[name]
        discrete = all(model.neurons[p.neuron].discrete for p in net.populations) and bool(net.populations)
        typed = settings.simulation(block, discrete)
        assert typed.dt > 0 and typed.steps >= 1 and typed.steps == round(typed.duration / typed.dt)


@pytest.mark.parametrize("path", [p for p in SHIPPED if "simulate" in p.read_text()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_planner_runs_the_simulate_blocks_typed_values(path):
    """dt, steps and seed of the plan are the typed settings' (defaults included)."""
    from snnlang.frontend import load
    from snnlang.plan import make_plan

    model = load(path)
    name = next(iter(model.simulations))
    plan = make_plan(model, name)
    net = model.networks[name]
    discrete = all(model.neurons[p.neuron].discrete for p in net.populations) and bool(net.populations)
    typed = settings.simulation(model.simulations[name], discrete)
    assert (plan.dt, plan.steps, plan.seed) == (pytest.approx(typed.dt), typed.steps, typed.seed)


@pytest.mark.parametrize("discrete, dt, steps", [(True, 1e-3, 100), (False, 1e-4, 10000)])
def test_simulate_defaults_come_from_the_table(specs, discrete, dt, steps):
    from snnlang.frontend import load
    from snnlang.plan import make_plan

    neuron = STEP if discrete else STEP.replace("update { v = beta * v + I }", "equations { dv/dt = (I - v) / (10 ms) }")
    specs.write("spec.snn", neuron + "simulate mlp { seed = 3 }\n")
    plan = make_plan(load("spec.snn"), "mlp")
    assert (plan.dt, plan.steps, plan.seed) == (pytest.approx(dt), steps, 3)
    typed = settings.simulation(None, discrete)
    assert (typed.dt, typed.steps, typed.seed) == (pytest.approx(dt), steps, 0)


# ---- the trainers read the typed values ------------------------------------------------------

@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A folder with a tiny data set (24 training samples of 4 features, 6 test samples)."""
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    y, y_test = np.arange(24) % 3, np.arange(6) % 3
    X = np.clip(0.2 + 0.6 * np.eye(3, 4)[y] + 0.1 * rng.random((24, 4)), 0, 1)
    X_test = np.clip(0.2 + 0.6 * np.eye(3, 4)[y_test] + 0.1 * rng.random((6, 4)), 0, 1)
    np.savez(tmp_path / "tiny.npz", X=X, y=y, X_test=X_test, y_test=y_test)
    return tmp_path


def write_block(folder: Path, body: str, method: str = "bptt") -> Path:
    path = folder / "tiny.snn"
    path.write_text(train_block('    data = npz(file = "tiny.npz")\n' + body, method))
    return path


def with_default(options: tuple, path: tuple[str, ...], value) -> tuple:
    """``options`` with the default of one option (``("optimizer", "adam", "lr")``: an argument) replaced."""
    head, *rest = path
    out = []
    for o in options:
        if o.name == head and not rest:
            o = dataclasses.replace(o, default=value)
        elif o.name == head:
            forms = tuple(dataclasses.replace(f, args=with_default(f.args, tuple(rest[1:]), value))
                          if f.name == rest[0] else f for f in o.forms)
            o = dataclasses.replace(o, forms=forms)
        out.append(o)
    return tuple(out)


def test_a_spec_with_epochs_2_trains_2_epochs(tiny):
    from snnlang.training import train

    metrics = train(write_block(tiny, "    epochs = 2\n    batch = 8"), tiny / "run")
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    checkpoints = sorted(p.name for p in (tiny / "run" / "checkpoints").iterdir())
    assert checkpoints == ["epoch_001.npz", "epoch_002.npz"]


def test_the_bptt_trainer_reads_the_typed_values(tiny):
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = write_block(tiny, "    epochs = 3\n    batch = 5\n    optimizer = momentum(lr = 0.02)\n"
                             "    encode = current(steps = 4, gain = 2)\n    schedule = step(gamma = 0.5)\n"
                             "    clip_grad = 1.5\n    dropout = 0.25\n    seed = 7")
    trainer = Trainer(spec, *load_block(spec))
    assert (trainer.epochs, trainer.batch, trainer.seed, trainer.steps, trainer.dropout) == (3, 5, 7, 4, 0.25)
    opt = trainer.optimizer
    assert (opt.kind, opt.lr, opt.momentum, opt.clip) == ("momentum", 0.02, 0.9, 1.5)
    assert trainer.lr(0) == 0.02 and trainer.lr(10) == pytest.approx(0.01)  # step_size 10 by default
    x = trainer.encode(trainer.X[:2], np.random.default_rng(0))
    np.testing.assert_allclose(x, np.repeat(2 * trainer.X[None, :2], 4, axis=0))


def test_each_default_is_written_once(tiny, monkeypatch):
    """The trainer takes its defaults from snnlang.frontend.settings.TRAIN: change the table, the trainer follows."""
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    spec = write_block(tiny, "")
    trainer = Trainer(spec, *load_block(spec))
    table = {o.name: o for o in settings.TRAIN}
    assert trainer.epochs == table["epochs"].default["bptt"] == 10
    assert trainer.batch == table["batch"].default == 64
    assert trainer.optimizer.lr == 1e-3 and trainer.encoder == "poisson"
    assert trainer.steps == 6  # the simulate block's
    patched = settings.TRAIN
    for path, value in [(("epochs",), {"bptt": 2, "convert": 2, "stdp": 1}), (("batch",), 7),
                        (("optimizer", "adam", "lr"), 0.25), (("encode", "poisson", "gain"), 0.0)]:
        patched = with_default(patched, path, value)
    monkeypatch.setattr(settings, "TRAIN", patched)
    trainer = Trainer(spec, *load_block(spec))
    assert (trainer.epochs, trainer.batch, trainer.optimizer.lr) == (2, 7, 0.25)
    assert not trainer.encode(trainer.X, np.random.default_rng(0)).any()  # gain 0: no spike


def test_the_conversion_reads_T_and_the_percentile_from_the_table(tiny):
    from snnlang.training import train

    metrics = train(write_block(tiny, "    epochs = 1", "convert"), tiny / "run")
    assert metrics["T"] == 6  # T defaults to the steps (the simulate block's)
    assert metrics["normalisation"]["percentile"] == 99.9
    metrics = train(write_block(tiny, "    epochs = 1\n    T = 9\n    normalise = percentile(90)", "convert"),
                    tiny / "run2")
    assert metrics["T"] == 9 and metrics["normalisation"]["percentile"] == 90


def test_the_stdp_trainer_reads_the_typed_values(tiny):
    from snnlang.training.package import load_block
    from snnlang.training.stdp import STDPTrainer

    text = (ROOT / "specs" / "diehl_cook.snn").read_text()
    for old, new in [("data = digits(test_fraction = 0.25, seed = 0)", 'data = npz(file = "tiny.npz")'),
                     ("    epochs = 3\n", ""), ("    present = 100 ms ", "    rest = 5 ms "),
                     ("input pixels = poisson(64,", "input pixels = poisson(4,")]:
        assert old in text, old
        text = text.replace(old, new)
    spec = tiny / "dc.snn"
    spec.write_text(text)
    trainer = STDPTrainer(spec, *load_block(spec))
    assert trainer.epochs == 1  # the stdp default
    assert (trainer.steps, trainer.test_steps, trainer.rest) == (350, 350, 5)  # present 350 ms at dt = 1 ms
    assert trainer.max_rate == 255.0 and trainer.total == 6.4 and trainer.variable == "w"
    assert trainer.readout == "exc" and trainer.freeze == ["eta", "theta_plus"]


# ---- one table: the library defaults, the surrogates and the docs ---------------------------

def test_library_functions_take_the_tables_defaults():
    from snnlang.training import data, optim

    rng = np.random.default_rng(0)
    X = np.array([[0.0, 0.5, 1.0]])
    np.testing.assert_array_equal(data.encode("latency", X, 5, rng, {}), data.encode("latency", X, 5, rng,
                                                                                     {"tau": 4, "threshold": 0.01}))
    assert optim.schedule("step", 1.0, 10, 20) == pytest.approx(0.1)  # step_size 10, gamma 0.1
    assert optim.Optimizer("adam", 0.1).betas == (0.9, 0.999)
    with pytest.raises(ValueError, match="has no setting nesterov"):
        optim.Optimizer("momentum", 0.1, nesterov=1)  # never implemented: refused, not ignored


def test_surrogate_defaults_agree_with_the_gradients_module():
    from snnlang.plan.gradients import SURROGATES

    forms = {f.name: f for f in next(o for o in settings.TRAIN if o.name == "surrogate").forms}
    assert set(forms) == set(SURROGATES)
    for name, (key, default) in SURROGATES.items():
        assert [(a.name, a.default) for a in forms[name].args] == ([(key, default)] if key else [])


@pytest.mark.parametrize("doc, tables", [
    ("language.md", ["simulate", "train"]),
    ("training.md", ["train"] + [o.name for o in settings.TRAIN if o.type == "call"]),
])
def test_the_docs_show_the_tables_of_the_code(doc, tables):
    text = (ROOT / "docs" / doc).read_text()
    for name in tables:
        table = settings.markdown(name) if name in ("simulate", "train") else settings.markdown_forms(name)
        assert table in text, f"docs/{doc}: the {name} table differs from snnlang/settings.py"


def test_values_are_plain_python_in_si_units(specs):
    model = specs.analyse(train_block("    dt = 0.5 ms\n    optimizer = adam(lr = 1e-2)\n    keep = []", "bptt")).ok()
    typed = settings.training(model, model.trainings["t"])
    assert typed.dt == pytest.approx(5e-4) and isinstance(typed.epochs, int) and typed.detach_reset is False
    assert typed.optimizer.name == "adam" and typed.optimizer.beta2 == 0.999
    assert typed.given == {"network", "method", "dt", "optimizer", "keep"}
    assert typed.where("dt").line == 22 and typed.loss.readout.name == "spike_count"
    with pytest.raises(SpecError):
        settings.training(model, model.trainings["t"].model_copy(update={"values": {}}))
    assert json.dumps(settings.markdown("simulate"))  # plain text
