"""Bad input, bad options and faults end in one clear message, never a traceback (issue 12).

Each test runs ``snnlang.cli.main`` in this process and checks the exit code (1: an error of
the spec, or a failure such as a full disk or a NaN; 2: a bad option or value), the message
(``file:line:col`` where the problem is in a spec) and that no traceback is printed. The
second part: what the checker used to accept in silence (a duration that is not a multiple of
dt, ``p = 1.5``, a delay shorter than dt, a spiking neuron without a reset, a poisson rate
above one spike a step) is a located warning or error of ``snnlang check`` and the build.
The third: ``train --resume`` continues only a checkpoint of the same run.
"""
from __future__ import annotations

import errno
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from snnlang import output
from snnlang.cli import main

from helpers import SPECS, TEST_SPECS

BRIEF = SPECS / "brief_lif.snn"  # 1 neuron, 100 steps, spikes and v monitored
FEEDFORWARD = SPECS / "feedforward.snn"  # poisson(100) -> 50 -> 10, weights x_hidden_w, hidden_out_w


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def work(tmp_path, monkeypatch, shared_cache):
    """The working directory, with the packages of this module's specs cached once."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNLANG_CACHE", str(shared_cache))
    return tmp_path


def cli(capsys, *args):
    """Exit code, stdout and stderr of one command; never a traceback."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    return code, out, err


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def place(path: Path, needle: str) -> str:
    """``file:line:col`` of the first ``needle`` in a spec, as diagnostics show it (col from 1)."""
    for k, line in enumerate(path.read_text().split("\n"), 1):
        if needle in line:
            return f"{path.name}:{k}:{line.index(needle) + 1}"
    raise AssertionError(f"{needle!r} is not in {path}")


def everything(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------
# the spec, -o and --network
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["check", "build", "run", "train"])
def test_a_spec_that_is_a_loop_of_symbolic_links(work, capsys, command):
    os.symlink("b.snn", "a.snn")
    os.symlink("a.snn", "b.snn")
    args = [command, "a.snn"] + ([] if command == "check" else ["-o", "out"])
    code, _, err = cli(capsys, *args)
    assert code == 1
    assert "a.snn:1:1: error: cannot read 'a.snn': a loop of symbolic links" in err
    assert not Path("out").exists()


def test_build_of_a_network_the_spec_does_not_have(work, capsys):
    code, _, err = cli(capsys, "build", BRIEF, "-o", "net", "--network", "zz")
    assert code == 2
    assert err.strip() == f"snnlang build: --network 'zz': {BRIEF} has no such network; it has brief_lif"
    assert not Path("net").exists()
    code, _, err = cli(capsys, "build", BRIEF, "-o", "net", "--network", "brief_lif")
    assert code == 0 and Path("net/network.py").is_file()


@pytest.mark.parametrize("command, code", [("build", 1), ("run", 2), ("train", 2)])
def test_output_under_a_file(work, capsys, command, code):
    Path("notes.txt").write_text("mine\n")
    spec = SPECS / "digits_lif.snn" if command == "train" else BRIEF
    found, _, err = cli(capsys, command, spec, "-o", "notes.txt/out")
    assert found == code
    assert "-o 'notes.txt/out': " in err and "notes.txt' is a file, not a folder" in err
    assert Path("notes.txt").read_text() == "mine\n"


def _read_only(monkeypatch, folder: Path) -> None:
    """Creating anything in ``folder`` fails as in a read-only folder (the tests may run as root,
    whom permissions do not stop)."""
    real_mkdir, real_open = os.mkdir, os.open
    folder = folder.resolve()

    def refuse(path):
        if Path(os.path.abspath(path)).parent == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    def mkdir(path, *args, **kwargs):
        refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def open_(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)


@pytest.mark.parametrize("command, code, message", [
    ("build", 1, "snnlang build: -o 'ro/out': cannot write the package: Permission denied"),
    ("run", 2, "snnlang run: -o 'ro/out': cannot write there: Permission denied"),
    ("train", 2, "snnlang train: -o 'ro/out': cannot write there: Permission denied"),
])
def test_output_in_a_read_only_folder(work, capsys, monkeypatch, command, code, message):
    Path("ro").mkdir()
    _read_only(monkeypatch, work / "ro")
    spec = SPECS / "digits_lif.snn" if command == "train" else BRIEF
    found, _, err = cli(capsys, command, spec, "-o", "ro/out")
    assert found == code and message in err, err
    assert os.listdir("ro") == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_run_into_a_read_only_folder(work, capsys):
    Path("ro").mkdir()
    Path("ro").chmod(0o500)
    try:
        code, _, err = cli(capsys, "run", BRIEF, "-o", "ro/out", "--no-plots")
        assert code == 2 and "cannot write there" in err
    finally:
        Path("ro").chmod(0o700)


# ---------------------------------------------------------------------------------------
# --duration, --set, --seed
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("duration, message", [
    ("1e400s", "--duration '1e400s': a duration must be a positive, finite time"),
    ("-1s", "--duration '-1s': a duration must be a positive, finite time"),
    ("0s", "--duration '0s': a duration must be a positive, finite time"),
    ("1e-9s", "--duration 0.001 us is 0 steps of dt = 1 ms; give at least one step (1 ms)"),
    ("1e9s", "steps of dt = 1 ms; at most 2147483647 steps"),
    ("10 mV", "--duration '10 mV' is not a time such as 2s or 500ms"),
])
def test_a_bad_duration_is_a_message(work, capsys, duration, message):
    code, _, err = cli(capsys, "run", BRIEF, "-o", "out", "--no-plots", f"--duration={duration}")
    assert code == 2 and err.startswith("snnlang run: ") and message in err, err
    assert not Path("out/summary.json").exists()


def test_a_duration_that_is_not_a_multiple_of_dt_says_what_runs(work, capsys):
    code, _, err = cli(capsys, "run", BRIEF, "-o", "out", "--no-plots", "--duration", "10.4ms")
    assert code == 0
    assert "warning: --duration 10.4 ms is not a multiple of dt = 1 ms: it runs 10 steps, 10 ms" in err
    summary = json.loads(Path("out/summary.json").read_text())
    assert summary["steps"] == 10 and summary["duration_s"] == pytest.approx(0.010)
    code, _, err = cli(capsys, "run", BRIEF, "-o", "out", "--no-plots", "--duration", "12ms")
    assert code == 0 and "warning" not in err


REFRACTORY = """
    import "lif.snn"
    network cells {
        population cells = LIF(3) { I_ext = 10 nA }
        monitor spikes of cells
    }
    simulate cells { dt = 0.1 ms; duration = 50 ms }
"""


@pytest.mark.parametrize("setting, message", [
    ("t_ref=-2ms", "--set 't_ref=-2ms': cells.t_ref = -0.002 s makes the refractory period of population "
                   "'cells' -20 steps; it must be at least 0"),
    ("tau_m=1e400ms", "tau_m = inf: a parameter must be a finite number"),
    ("tau_m=-20ms", "cells.tau_m = -0.02 s, but it is a time constant of v in neuron 'LIF': it must be positive"),
])
def test_a_bad_parameter_from_the_command_line_is_a_message(work, capsys, setting, message):
    spec = write(work, "cells.snn", REFRACTORY)
    code, _, err = cli(capsys, "run", spec, "-o", "out", "--no-plots", "--set", setting)
    assert code == 2 and err.startswith("snnlang run: ") and message in err, err
    assert not Path("out/summary.json").exists()


def test_a_refractory_period_of_zero_is_allowed(work, capsys):
    spec = write(work, "cells.snn", REFRACTORY)
    assert cli(capsys, "run", spec, "-o", "a", "--no-plots")[0] == 0
    assert cli(capsys, "run", spec, "-o", "b", "--no-plots", "--set", "t_ref=0ms")[0] == 0
    spikes = [json.loads(Path(k, "summary.json").read_text())["populations"]["cells"]["spikes"] for k in "ab"]
    assert spikes[1] > spikes[0] > 0  # without a refractory period the driven neurons spike more often


@pytest.mark.parametrize("seed", [-1, 2**64, 10**30])
@pytest.mark.parametrize("command", ["run", "train"])
def test_a_seed_outside_64_bits_is_refused(work, capsys, command, seed):
    spec = SPECS / "digits_lif.snn" if command == "train" else BRIEF
    code, _, err = cli(capsys, command, spec, "-o", "out", "--seed", seed)
    assert code == 2
    assert err.strip() == f"snnlang {command}: --seed {seed}: a seed is a whole number from 0 to 2**64 - 1"
    assert not Path("out").exists()


def test_the_largest_seed_runs(work, capsys):
    code, _, err = cli(capsys, "run", FEEDFORWARD, "-o", "out", "--no-plots", "--seed", 2**64 - 1)
    assert code == 0, err
    assert json.loads(Path("out/summary.json").read_text())["seed"] == 2**64 - 1


# ---------------------------------------------------------------------------------------
# --weights
# ---------------------------------------------------------------------------------------

def _feedforward_state(work):
    from snnlang.run import built_package

    module, _ = built_package(FEEDFORWARD)
    return module.Network().state


@pytest.mark.parametrize("kind, message", [
    ("npy", "it is one array (.npy), not an .npz of named arrays"),
    ("shape", "'x_hidden_w' has shape (5001,), the network's is (5000,)"),
    ("complex", "'x_hidden_w' holds complex128 values; weights are real numbers"),
    ("nan", "'hidden_out_w' holds NaN or infinite values"),
    ("connectivity", "'x_hidden_pre' is internal to the network (connectivity"),
    ("history", "'hidden_history' is internal to the network"),
    ("unknown", "'nosuch' is not a state array of this network; it has hidden_v, out_v, x_hidden_w, hidden_out_w"),
])
def test_bad_weights_are_a_message(work, capsys, kind, message):
    state = _feedforward_state(work)
    w = state["x_hidden_w"]
    arrays = {"npy": None, "shape": {"x_hidden_w": np.zeros(w.size + 1)},
              "complex": {"x_hidden_w": w.astype(complex)},
              "nan": {"x_hidden_w": w, "hidden_out_w": np.full(state["hidden_out_w"].shape, np.nan)},
              "connectivity": {"x_hidden_w": w, "x_hidden_pre": state["x_hidden_pre"]},
              "history": {"hidden_history": state["hidden_history"]},
              "unknown": {"nosuch": np.zeros(3)}}[kind]
    if arrays is None:
        np.save("weights.npy", w)
        path = "weights.npy"
    else:
        np.savez("weights.npz", **arrays)
        path = "weights.npz"
    code, _, err = cli(capsys, "run", FEEDFORWARD, "-o", "out", "--no-plots", "--weights", path)
    assert code == 2 and err.startswith(f"snnlang run: --weights {path}: ") and message in err, err
    assert not Path("out/summary.json").exists()


def test_good_weights_are_loaded(work, capsys):
    state = _feedforward_state(work)
    np.savez("zero.npz", x_hidden_w=np.zeros_like(state["x_hidden_w"]))
    assert cli(capsys, "run", FEEDFORWARD, "-o", "out", "--no-plots", "--weights", "zero.npz")[0] == 0
    summary = json.loads(Path("out/summary.json").read_text())
    assert summary["populations"]["hidden"]["spikes"] == 0  # no input reaches the hidden layer


# ---------------------------------------------------------------------------------------
# train: options, data, checkpoints
# ---------------------------------------------------------------------------------------

TINY = """
    neuron BetaLIF {
        parameters { beta = 0.9; thr = 1.0 }
        state { v = 0.0 }
        inputs { I = 0.0 }
        update { v = beta * v + I }
        spike when v >= thr
        reset { v -= thr }
    }
    network mlp {
        input x = poisson(4, rate = 0 Hz)
        population hidden = BetaLIF(5)
        population out = BetaLIF(2)
        connect x -> hidden { all_to_all; w = uniform(-0.5, 1); on_pre: I_post += w }
        connect hidden -> out { all_to_all; w = uniform(-0.5, 1); on_pre: I_post += w }
        monitor spikes of out
    }
    simulate mlp { dt = 1 ms; steps = 5; seed = 0 }
    train t {
        network = mlp
        method = bptt
        data = npz(file = "data.npz")
        encode = poisson(steps = 5)
        epochs = 2
        batch = 8
        seed = 0
    }
"""


def tiny(folder: Path, data: str = "data.npz", name: str = "tiny", **arrays) -> Path:
    """A 4-5-2 network trained on 40 samples of an npz data set (``arrays``: X, y instead)."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 4))
    y = (X[:, 0] > 0.5).astype(int)
    np.savez(folder / data, **({"X": X, "y": y} | arrays))
    return write(folder, f"{name}.snn", TINY.replace("data.npz", data))


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs 0: it must be at least 1"),
    (["--epochs", "-3"], "--epochs -3: it must be at least 1"),
    (["--evaluate", "--quantize", "0"], "--quantize 0: it must be at least 2"),
    (["--evaluate", "--quantize", "1"], "--quantize 1: it must be at least 2"),
    (["--evaluate", "--steps", "0"], "--steps 0: it must be at least 1"),
    (["--evaluate", "--steps", "-1"], "--steps -1: it must be at least 1"),
    (["--start-over"], "--start-over goes with --resume (without --resume, training starts over)"),
])
def test_bad_training_options_are_a_message(work, capsys, args, message):
    spec = tiny(work)
    code, _, err = cli(capsys, "train", spec, "-o", "run", *args)
    assert code == 2 and err.strip() == f"snnlang train: {message}"
    assert not Path("run").exists()


@pytest.mark.parametrize("case, message", [
    ("missing", "the data file 'missing.npz' does not exist"),
    ("length", "'data.npz': 40 samples but 30 labels in y"),
    ("negative", "'data.npz': class labels start at 0; y[{first}] is -1"),  # the first label 0 of y
    ("fraction", "'data.npz': y must hold whole class numbers; y[0] is {y0}"),
    ("nan", "'data.npz': X holds 1 NaN or infinite values (first: sample 3, feature 2)"),
    ("classes", "a label is 2, but the output has 2 neurons, one per class (labels 0 to 1)"),
    ("npy", "'data.npz': one array (.npy); a data set is an .npz with arrays X and y"),
])
def test_bad_training_data_is_a_located_error(work, capsys, case, message):
    X = np.random.default_rng(0).random((40, 4))
    y = (X[:, 0] > 0.5).astype(int)
    if case == "missing":
        spec = write(work, "tiny.snn", TINY.replace("data.npz", "missing.npz"))
    elif case == "npy":
        spec = tiny(work)
        with open("data.npz", "wb") as f:
            np.save(f, X)
    else:
        X[3, 2] = np.nan if case == "nan" else X[3, 2]
        y = {"length": y[:30], "negative": y - 1, "fraction": y + 0.5, "classes": y * 2}.get(case, y)
        spec = tiny(work, X=X, y=y)
    code, _, err = cli(capsys, "train", spec.name, "-o", "run")
    assert code == 1
    message = message.format(first=int(np.flatnonzero(y < 0)[0]) if case == "negative" else 0, y0=y[0])
    where = place(spec, '"missing.npz"' if case == "missing" else '"data.npz"')
    assert err.startswith(f"{where}: error: {message}"), err
    assert not Path("run/metrics.json").exists()


@pytest.fixture
def trained(work, capsys):
    """The tiny network trained for 2 epochs into run/."""
    spec = tiny(work)
    code, _, err = cli(capsys, "train", spec, "-o", "run")
    assert code == 0, err
    return spec


def test_a_truncated_checkpoint_is_a_message(trained, capsys):
    last = Path("run/checkpoints/epoch_002.npz")
    last.write_bytes(last.read_bytes()[:300])
    code, _, err = cli(capsys, "train", trained, "-o", "run", "--resume", "--epochs", "3")
    assert code == 2
    assert err.startswith(f"snnlang train: {last} is not a readable checkpoint (")
    assert "delete it to resume from the one before" in err
    last.unlink()  # as the message says: then it resumes from epoch 1
    code, out, err = cli(capsys, "train", trained, "-o", "run", "--resume", "--epochs", "3")
    assert code == 0 and "trained 3 epochs" in out, err


def test_evaluating_unreadable_weights_is_a_message(trained, capsys):
    Path("run/weights.npz").write_bytes(b"PK\x03\x04 not a zip")
    code, _, err = cli(capsys, "train", trained, "-o", "run", "--evaluate")
    assert code == 2 and "snnlang train: run/weights.npz: cannot read it as an .npz" in err


def test_evaluate_with_two_bit_weights(trained, capsys):
    code, out, err = cli(capsys, "train", trained, "-o", "run", "--evaluate", "--quantize", "2")
    assert code == 0, err
    with np.load("run/weights_2bit.npz") as w:
        for key in ("x_hidden_w", "hidden_out_w"):
            levels = np.unique(np.round(w[key] / np.abs(w[key]).max(), 12))
            assert set(levels) <= {-1.0, 0.0, 1.0}  # 2 bits: -1, 0, 1 times one scale


# ---------------------------------------------------------------------------------------
# --resume continues only its own run
# ---------------------------------------------------------------------------------------

def _epochs(run: str) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "seconds"}
            for e in json.loads(Path(run, "metrics.json").read_text())["epochs"]]


def test_resume_refuses_a_checkpoint_of_another_seed(trained, capsys):
    before = everything(Path("run"))
    code, _, err = cli(capsys, "train", trained, "-o", "run", "--resume", "--epochs", "3", "--seed", "7")
    assert code == 2
    assert err.startswith("snnlang train: run/checkpoints/epoch_002.npz is of another run: seed 0, this run's is 7.")
    assert "--start-over" in err
    assert everything(Path("run")) == before


def test_resume_refuses_a_checkpoint_of_another_spec(trained, capsys, work):
    other = write(work, "tiny.snn", trained.read_text().replace("batch = 8", "batch = 4"))
    code, _, err = cli(capsys, "train", other, "-o", "run", "--resume", "--epochs", "3")
    assert code == 2
    assert "is of another run: batch = 8, this run's is 4; spec hash " in err
    assert "(the spec has changed)" in err
    # --start-over: the run starts from the first epoch, as in a fresh folder
    code, _, err = cli(capsys, "train", other, "-o", "run", "--resume", "--epochs", "3", "--start-over")
    assert code == 0 and "starting over (--start-over)" in err
    assert cli(capsys, "train", other, "-o", "fresh", "--epochs", "3")[0] == 0
    assert _epochs("run") == _epochs("fresh") and len(_epochs("run")) == 3
    # and its checkpoints are now of this run: --resume continues them
    code, out, err = cli(capsys, "train", other, "-o", "run", "--resume", "--epochs", "4")
    assert code == 0 and "another run" not in err and "trained 4 epochs" in out


def test_resume_refuses_a_checkpoint_that_does_not_record_its_run(trained, capsys):
    last = Path("run/checkpoints/epoch_002.npz")
    with np.load(last) as d:
        arrays = {k: d[k] for k in d.files if k != "train/run"}
    np.savez(last, **arrays)
    code, _, err = cli(capsys, "train", trained, "-o", "run", "--resume", "--epochs", "3")
    assert code == 2 and "it does not record its run" in err


def test_resume_continues_its_own_run(trained, capsys, work):
    code, _, err = cli(capsys, "train", trained, "-o", "run", "--resume", "--epochs", "3")
    assert code == 0 and "another run" not in err
    assert cli(capsys, "train", trained, "-o", "whole", "--epochs", "3")[0] == 0
    assert _epochs("run") == _epochs("whole")
    with np.load("run/checkpoints/epoch_003.npz") as d:
        record = json.loads(str(d["train/run"]))
    assert record["seed"] == 0 and record["train"] == "t" and record["settings"]["batch"] == 8
    assert "epochs" not in record["settings"]  # --epochs may change between a run and its resumption


# ---------------------------------------------------------------------------------------
# check --emit-ir on deep expressions
# ---------------------------------------------------------------------------------------

def test_emit_ir_of_200_nested_exp(work, capsys):
    expr = "v"
    for _ in range(200):
        expr = f"exp({expr})"
    write(work, "deep.snn", f"""
        neuron Deep {{
            state {{ v = 0.0 }}
            update {{ v = {expr} }}
        }}
        network deep {{ population p = Deep(1) }}
    """)
    code, out, err = cli(capsys, "check", "--emit-ir", "deep.snn")
    assert code == 0, err
    model = json.loads(out)
    assert model["neurons"]["Deep"]["update"][0]["value"]["value"].count("exp(") == 200
    code, out, err = cli(capsys, "build", "deep.snn", "-o", "net")  # a later stage: a message, not a traceback
    if code != 0:
        assert code == 1 and err.strip() == ("snnlang build: deep.snn: an expression is nested too deeply to "
                                             "compile; write it in steps (algebraic definitions)")
        assert not Path("net").exists()


# ---------------------------------------------------------------------------------------
# a full disk: no truncated file is left, the earlier one is kept
# ---------------------------------------------------------------------------------------

class _FullDisk:
    """A file that takes ``room`` bytes, then fails with ENOSPC (the rest is never written)."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.room:
            self.f.write(data[:self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def fill_disk(monkeypatch, name: str, room: int = 40) -> None:
    """Writing the file ``name`` (through its temporary file) fails once ``room`` bytes are in."""
    real_open = open

    def opener(path, mode="r", *args, **kwargs):
        f = real_open(path, mode, *args, **kwargs)
        return _FullDisk(f, room) if Path(path).name.startswith(f".{name}.") else f

    monkeypatch.setattr(output, "open", opener, raising=False)


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["spikes.npz", "state.npz", "summary.json"])
def test_a_full_disk_keeps_the_earlier_run_files(work, capsys, monkeypatch, name):
    assert cli(capsys, "run", BRIEF, "-o", "out", "--no-plots")[0] == 0
    before = Path("out", name).read_bytes()
    fill_disk(monkeypatch, name)
    code, _, err = cli(capsys, "run", BRIEF, "-o", "out", "--no-plots", "--duration", "50ms")
    assert code == 1
    assert err.strip() == f"snnlang run: cannot write out/{name}: No space left on device; the earlier file is kept"
    assert Path("out", name).read_bytes() == before
    assert no_temporary_files(work)


@pytest.mark.parametrize("name", ["metrics.json", "weights.npz", "epoch_001.npz"])
def test_a_full_disk_keeps_the_earlier_training_files(work, capsys, monkeypatch, name):
    spec = tiny(work)
    assert cli(capsys, "train", spec, "-o", "run")[0] == 0
    path = next(Path("run").rglob(name))
    before = path.read_bytes()
    fill_disk(monkeypatch, name)
    code, _, err = cli(capsys, "train", spec, "-o", "run", "--seed", "3")  # other weights, other metrics
    assert code == 1
    assert err.strip() == f"snnlang train: cannot write {path}: No space left on device; the earlier file is kept"
    assert path.read_bytes() == before
    assert no_temporary_files(work)


def test_a_full_disk_with_no_earlier_file_leaves_nothing(tmp_path, monkeypatch):
    fill_disk(monkeypatch, "new.npz")
    with pytest.raises(output.OutputError, match="cannot write .*new.npz: No space left on device; nothing was"):
        output.write_npz(tmp_path / "new.npz", {"a": np.arange(1000)})
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------------
# a NaN blow-up
# ---------------------------------------------------------------------------------------

def test_a_blow_up_is_one_message_and_keeps_what_was_recorded(work, capsys):
    spec = write(work, "blowup.snn", (TEST_SPECS / "blowup.snn").read_text().replace(
        "population cells = Blow(3) { v = 0.5 + 0.25 * i }",
        "population cells = Blow(3) { v = 0.5 + 0.25 * i }\n    monitor v of cells"))
    code, out, err = cli(capsys, "run", spec, "-o", "out", "--no-plots")
    assert code == 1 and out == ""
    lines = err.strip().split("\n")
    assert len(lines) == 1 and "RuntimeWarning" not in err and "network.py" not in err, err
    assert lines[0].startswith("snnlang run: v of population cells became inf at step ")
    step = int(lines[0].split("at step ")[1].split()[0])
    assert lines[0].endswith(f"try a smaller dt or another method; the {step} steps before it are in out")
    summary = json.loads(Path("out/summary.json").read_text())
    assert summary["steps"] == step and summary["error"] in lines[0]
    with np.load("out/state.npz") as state:
        v, t = state["cells_v"], state["cells_t"]
    assert v.shape == (step, 3) and np.isfinite(v).all()
    # Euler: v <- v + dt/tau v^2 each step, neuron 2 from 1.0, recorded after each step until the
    # step that overflows
    expected, value = [], np.float64(1.0)
    with np.errstate(over="ignore"):
        for _ in range(step + 1):
            value = value + 1e-4 / 0.15 * value**2
            expected.append(value)
    np.testing.assert_allclose(v[:, 2], expected[:-1], rtol=1e-9)
    assert np.isinf(expected[-1])
    np.testing.assert_allclose(np.diff(t), 1e-4)


# ---------------------------------------------------------------------------------------
# what check and the build used to accept in silence
# ---------------------------------------------------------------------------------------

SILENT = """
    import "lif.snn"
    neuron Plain {
        parameters { tau = 10 ms }
        state { v = 0 mV }
        inputs { I = 0 mV }
        equations { dv/dt = (I - v) / tau }
        spike when v > 10 mV
    }
    network n {
        input x = poisson(10, rate = 50 Hz)
        population a = LIF(5)
        population b = Plain(5)
        connect x -> a { p = 0.5; on_pre: I_syn_post += 1 nA }
        connect a -> a { p = 0.5; delay = 2 ms; on_pre: I_syn_post += 1 nA }
        monitor spikes of a
    }
    simulate n { dt = 0.25 ms; duration = 100 ms }
"""


@pytest.mark.parametrize("old, new, needle, severity, message", [
    ("dt = 0.25 ms; duration = 100 ms", "dt = 0.3 ms; duration = 100 ms", "100 ms }", "warning",
     "duration = 100 ms is not a multiple of dt = 0.3 ms: the run is 333 steps, 99.9 ms"),
    ("p = 0.5; on_pre: I_syn_post += 1 nA }\n", "p = 1.5; on_pre: I_syn_post += 1 nA }\n", "1.5", "error",
     "a connection probability must be from 0 to 1, not 1.5"),
    ("p = 0.5; on_pre: I_syn_post += 1 nA }\n", "p = -0.1; on_pre: I_syn_post += 1 nA }\n", "-0.1", "error",
     "a connection probability must be from 0 to 1, not -0.1"),
    ("delay = 2 ms", "delay = 0.2 ms", "0.2 ms", "warning",
     "a delay of 0.2 ms is shorter than dt = 0.25 ms: it is one step (0.25 ms), the shortest delay"),
    ("rate = 50 Hz", "rate = 6 kHz", "6 kHz", "warning",
     "poisson(): rate x dt = 1.5 at dt = 0.25 ms, but an input neuron spikes at most once a step: it spikes at "
     "every step (4000 Hz, not 6000 Hz)"),
])
def test_doubtful_values_are_located(work, capsys, old, new, needle, severity, message):
    clean = write(work, "clean.snn", SILENT.replace(
        "spike when v > 10 mV", "spike when v > 10 mV\n    reset { v = 0 mV }"))
    code, _, err = cli(capsys, "check", clean)
    assert code == 0 and err == ""  # the clean spec: nothing to say
    spec = write(work, "spec.snn", clean.read_text().replace(old, new))
    assert spec.read_text() != clean.read_text()
    expected = f"{place(spec, needle)}: {severity}: {message}"
    code, out, err = cli(capsys, "check", spec)
    assert code == (1 if severity == "error" else 0) and expected in err, err
    code, out, err = cli(capsys, "build", spec, "-o", "net")
    assert code == (1 if severity == "error" else 0) and expected in err, err
    if severity == "warning":
        assert "built net" in out


def test_a_spiking_neuron_without_a_reset_is_a_warning(work, capsys):
    spec = write(work, "spec.snn", SILENT)
    code, _, err = cli(capsys, "check", spec)
    assert code == 0
    assert (f"{place(spec, 'v > 10 mV')}: warning: neuron 'Plain' spikes but has no reset and no refractory period: "
            "it spikes at every step while the condition holds") in err
    assert err.count("warning") == 1  # LIF has a reset
    refractory = write(work, "refractory.snn",
                       SILENT.replace("spike when v > 10 mV", "spike when v > 10 mV\n    refractory 2 ms"))
    assert cli(capsys, "check", refractory)[2] == ""  # one spike a refractory period (as Hodgkin-Huxley)


def test_the_run_is_as_many_steps_as_the_warning_says(work, capsys):
    spec = write(work, "spec.snn", SILENT.replace("dt = 0.25 ms", "dt = 0.3 ms"))
    code, _, err = cli(capsys, "run", spec, "-o", "out", "--no-plots")
    assert code == 0, err
    summary = json.loads(Path("out/summary.json").read_text())
    assert summary["steps"] == 333 and summary["duration_s"] == pytest.approx(0.0999)
