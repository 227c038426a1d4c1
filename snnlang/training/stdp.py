"""Unsupervised learning with local plasticity (``train { method = stdp }``), after Diehl & Cook (2015).

The trainer drives the spec's own generated simulator; learning is whatever the spec's
synapses do (STDP in on_pre / on_post). For each training sample it

1. returns the neurons, traces and spike histories to their initial values, except the
   state named in ``keep`` (adaptive thresholds) and every connection's synapse state
   (the weights): a fresh start instead of a resting period;
2. sets the rates of the input source: ``encode = poisson(rate = 255 Hz)`` gives pixel
   value x in [0, 1] the rate x * 255 Hz (``Network.set_input("<input>.rate", ...)``);
3. runs the network for ``present`` (``steps``; test samples: ``present_test``, by default
   the same) and counts the spikes of ``readout`` (the spec needs ``monitor spikes of <readout>``);
4. normalises the weights of the plastic connection (``normalise = incoming(total = 78)``:
   the weights into each neuron are scaled to sum to ``total``; synaptic scaling as a step
   of the protocol, as in the paper, rather than a rule of the language: it needs the sum
   over all the synapses of a neuron, which an event of one synapse cannot see).

After each epoch every readout neuron is labelled with the class it answered most (its
mean spike count per class over that epoch's training responses); a test sample is
classified as the class whose neurons spike most on average. While testing, the
parameters named in ``freeze`` are 0 (learning rates, the threshold increment) and the
state is restored after every sample, so testing never changes what was learned; test
samples use their own random numbers (a separate range of the step counter).

Writes RUNDIR/metrics.json ({"epochs": [{"epoch", "test_accuracy", "seconds", ...}],
"test_accuracy"}), RUNDIR/weights.npz (the learned state arrays, loadable with
``snnlang run --weights``), RUNDIR/labels.json, RUNDIR/checkpoints/epoch_NNN.npz (the
whole simulator plus the history; ``--resume`` continues from the last) and
RUNDIR/receptive_fields.png.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..frontend.model import Model, Settings
from ..output import write_figure, write_json, write_npz, write_text
from ..frontend.settings import form_arguments, training
from . import data as datasets
from .loop import RUN_KEY, run_epochs, run_record

TEST_STEP_OFFSET = 1 << 40  # test samples draw their random numbers from steps far beyond training's


def _package(model: Model, network: str):
    """Plan, emit (cached by the spec's hash and the generators') and import the simulator."""
    from .. import __version__
    from ..build import render, write_package
    from ..cache import cache_dir, generator_hash
    from ..plan import make_plan
    from ..run import _import

    plan = make_plan(model, network)
    name = f"stdp_{model.spec_hash}_{network}_{__version__.replace('.', '_')}_{generator_hash()}"
    folder = cache_dir() / name / "net"
    if not (folder / "network.py").exists():
        write_package(render(plan, "numpy", "net"), folder)
    return plan, _import(folder, name)


class STDPTrainer:
    def __init__(self, spec: Path, model: Model, block: Settings, seed: Optional[int] = None):
        s = self.settings = training(model, block)  # typed, checked, defaults applied (snnlang.frontend.settings.TRAIN)
        self.plan, self.package = _package(model, s.network)
        self.seed = seed if seed is not None else s.seed
        self.net = self.package.Network(seed=self.seed, **({"dt": s.dt} if s.dt is not None else {}))
        self.dt = self.net.dt
        self.epochs = s.epochs

        sources = {src.name: src for src in self.plan.sources}
        pops = {p.name: p for p in self.plan.populations}
        # the check made sure input is a poisson input and readout a population
        self.input = s.input or next(src.name for src in self.plan.sources if src.kind == "poisson")
        self.readout = s.readout
        self.monitor = next((k for k, m in enumerate(self.package.MONITORS)
                             if m[0] == "spikes" and m[1] == self.readout and (m[3], m[4], m[5]) == (0, pops[self.readout].size, 1)),
                            None)
        if self.monitor is None:
            raise ValueError(f"method = stdp counts the spikes of '{self.readout}': add 'monitor spikes of {self.readout}'")
        self.n_out = pops[self.readout].size

        self.max_rate = s.encode.rate  # poisson(rate = ...): the rate of a pixel of value 1
        self.steps = s.steps or int(round(s.present / self.dt))
        self.test_steps = int(round(s.present_test / self.dt)) if s.present_test is not None else self.steps
        self.rest = int(round(s.rest / self.dt))

        conns = {c.name: c for c in self.plan.connections}
        plastic = s.plasticity or [c.name for c in self.plan.connections
                                   if c.source == self.input and (c.on_post or c.syn_integrate)]
        self.plastic = [conns[n] for n in plastic]
        norm = s.normalise.arguments() if s.normalise else form_arguments("normalise", "incoming", {}, "stdp")
        self.total, self.variable = norm.get("total"), norm["variable"]  # total None: no normalisation

        self.keep = {p.local[name] for name in s.keep for p in self.plan.populations if name in p.local}
        # schedule = step(eta, gamma = 0.1, step_size = 1): parameters scaled by gamma every step_size epochs
        schedule = s.schedule
        self.scheduled, self.gamma, self.step_size = {}, 1.0, 1
        if schedule is not None:
            self.gamma, self.step_size = schedule.gamma, schedule.step_size
            for name in schedule.parameters:
                self.scheduled.update({k: v for k, v in self.net.params.items() if _is(k, name)})
        self.freeze = list(s.freeze)

        self.X, self.y, self.X_test, self.y_test = datasets.load_block_data(s, Path(spec).parent)
        if self.X.shape[1] != sources[self.input].size:
            raise ValueError(f"the data have {self.X.shape[1]} features, input '{self.input}' has {sources[self.input].size} neurons")
        self.classes = int(max(self.y.max(), self.y_test.max())) + 1

        # What a fresh start restores: every array of the populations and inputs (but kept
        # state) and the connections' traces; never synapse state or connectivity.
        traces = {t.name for c in self.plan.connections for t in c.traces}
        owned = {c.name for c in self.plan.connections}
        self.initial = {}
        for key, value in self.net.state.items():
            conn = next((c for c in owned if key.startswith(c + "_")), None)
            if conn is not None:
                if key in traces:
                    self.initial[key] = value.copy()
            elif key not in self.keep and any(key.startswith(n + "_") for n in list(pops) + list(sources)):
                self.initial[key] = value.copy()
        # What learning changes: restored after every test sample.
        self.learned = [name for c in self.plan.connections for name in c.state] + sorted(self.keep)
        if self.total is not None:
            self.normalise()
        self.labels = np.zeros(self.n_out, dtype=np.int64)

    # ---- one sample ----------------------------------------------------------------
    def fresh_start(self) -> None:
        state = self.net.state
        for key, value in self.initial.items():
            state[key] = value.copy()

    def present(self, x: np.ndarray, steps: Optional[int] = None) -> np.ndarray:
        """Spike counts of the readout for one sample (learning as the spec says)."""
        net = self.net
        self.fresh_start()
        net.set_input(f"{self.input}.rate", x * self.max_rate)
        net.records = [[] for _ in net.records]
        net.run(steps=steps or self.steps)
        record = net.records[self.monitor]
        counts = (np.bincount(np.concatenate([idx for _, idx in record]), minlength=self.n_out)
                  if record else np.zeros(self.n_out, dtype=np.int64))
        if self.rest:
            net.set_input(f"{self.input}.rate", 0.0)
            net.run(steps=self.rest)
        return counts

    def normalise(self) -> None:
        """Scale the weights into each neuron of every plastic connection to sum to ``total``."""
        for c in self.plastic:
            key = f"{c.name}_{self.variable}"
            w, post = self.net.state[key], self.net.state[f"{c.name}_post"]
            sums = np.bincount(post, weights=w, minlength=c.post_rows)
            scale = np.divide(self.total, sums, out=np.ones_like(sums), where=sums > 0)
            self.net.state[key] = w * scale[post]

    # ---- epochs --------------------------------------------------------------------
    def run_epoch(self, epoch: int, progress=None) -> dict:
        factor = self.gamma ** (epoch // self.step_size)
        self.net.set_params({k: v * factor for k, v in self.scheduled.items()})
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.X))
        responses = np.zeros((len(self.X), self.n_out))
        start, cpu = time.perf_counter(), time.process_time()
        for k in order:
            responses[k] = self.present(self.X[k])
            if self.total is not None:
                self.normalise()
            if progress is not None:
                progress(1)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        self.labels = self.assign(responses, self.y)
        test_start = time.perf_counter()
        accuracy, test_spikes = self.evaluate(epoch, progress)
        spikes = responses.sum(axis=1)
        return {"epoch": epoch + 1, "test_accuracy": accuracy, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3),
                "test_seconds": round(time.perf_counter() - test_start, 3),
                "train_spikes_per_sample": float(spikes.mean()), "silent_train_samples": int((spikes == 0).sum()),
                "test_spikes_per_sample": test_spikes,
                "labels_per_class": np.bincount(self.labels, minlength=self.classes).tolist()}

    def assign(self, responses: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Each neuron's class: the one with the highest mean response."""
        means = np.stack([responses[y == k].mean(axis=0) if (y == k).any() else np.zeros(self.n_out)
                          for k in range(self.classes)])
        return means.argmax(axis=0)

    def classify(self, counts: np.ndarray) -> int:
        scores = [counts[self.labels == k].mean() if (self.labels == k).any() else 0.0 for k in range(self.classes)]
        return int(np.argmax(scores))

    def evaluate(self, epoch: int, progress=None, X=None, y=None) -> tuple[float, float]:
        """Test accuracy with learning frozen; the network is left exactly as it was."""
        X = self.X_test if X is None else X
        y = self.y_test if y is None else y
        net = self.net
        saved_step, saved_synops = net.step, net.synops
        saved = {k: net.state[k].copy() for k in self.learned}
        params = dict(net.params)
        net.set_params({name: 0.0 for name in self.freeze})
        net.step = TEST_STEP_OFFSET * (epoch + 1)
        correct, spikes = 0, 0.0
        try:
            for k in range(len(X)):
                counts = self.present(X[k], self.test_steps)
                for key, value in saved.items():  # nothing a test sample did remains
                    net.state[key] = value.copy()
                spikes += counts.sum()
                correct += int(self.classify(counts) == y[k])
                if progress is not None:
                    progress(1)
        finally:
            net.params = params
            net.step, net.synops = saved_step, saved_synops
            for key, value in saved.items():
                net.state[key] = value
            net.inputs.pop(f"{self.input}.rate", None)
        return correct / len(X), float(spikes / len(X))

    # ---- checkpoints -------------------------------------------------------------------
    def save(self, path: Path, epoch: int, history: list, record: Optional[dict] = None) -> None:
        buffer = io.BytesIO()
        self.net.save(buffer)  # the whole simulator, as Network.save writes it
        buffer.seek(0)
        with np.load(buffer) as d:
            data = dict(d)
        data["train/epoch"] = np.array(epoch)
        data["train/history"] = np.array(json.dumps(history))
        data["train/labels"] = self.labels
        data[RUN_KEY] = np.array(json.dumps(record or {}))  # which run wrote it (spec, block, seed, settings)
        write_npz(path, data)

    def restore(self, path: Path) -> tuple[int, list]:
        self.net = self.package.Network.load(path)
        with np.load(path) as d:
            self.labels = d["train/labels"].astype(np.int64)
            return int(d["train/epoch"]), json.loads(str(d["train/history"]))

    def weights(self) -> dict[str, np.ndarray]:
        """The learned state: every plastic connection's synapse state, and the kept neuron state."""
        out = {}
        for c in self.plastic:
            for name in c.state:
                out[name] = self.net.state[name]
        for name in sorted(self.keep):
            out[name] = self.net.state[name]
        return out

    def receptive_fields(self, connection) -> np.ndarray:
        """(n_post, n_pre) weights of a connection (zero where no synapse)."""
        s = self.net.state
        W = np.zeros((connection.post_rows, connection.pre_rows))
        W[s[f"{connection.name}_post"], s[f"{connection.name}_pre"]] = s[f"{connection.name}_{self.variable}"]
        return W


def _is(key: str, name: str) -> bool:
    """Whether a parameter key of the simulator (``population.name``) is the parameter ``name``."""
    return key == name or key.split(".", 1)[-1] == name


def train_stdp(spec: Path, model: Model, block: Settings, out: Path, epochs: Optional[int] = None,
               resume: bool = False, seed: Optional[int] = None, progress: bool = False,
               stop_after: Optional[int] = None, start_over: bool = False) -> dict:
    trainer = STDPTrainer(spec, model, block, seed)
    if epochs is not None:
        trainer.epochs = epochs
    return run_epochs(trainer, out, block.name, resume, progress, stop_after, "sample",
                      len(trainer.X) + len(trainer.X_test),
                      lambda history, final: write_results(out, trainer, history),
                      lambda last: {"test": f"{last['test_accuracy']:.3f}"},
                      record=run_record(model, block, trainer.seed), start_over=start_over)


def write_results(out: Path, trainer: STDPTrainer, history: list) -> dict:
    metrics = {"epochs": history, "test_accuracy": history[-1]["test_accuracy"] if history else None,
               "method": "stdp", "seed": trainer.seed, "samples_per_epoch": len(trainer.X),
               "test_samples": len(trainer.X_test), "steps_per_sample": trainer.steps,
               "steps_per_test_sample": trainer.test_steps, "dt": trainer.dt,
               "training_seconds": round(sum(h["seconds"] for h in history), 3),
               "training_cpu_seconds": round(sum(h["cpu_seconds"] for h in history), 3)}
    write_json(out / "metrics.json", metrics)  # each whole or not at all (a full disk keeps the earlier one)
    write_npz(out / "weights.npz", trainer.weights())
    write_text(out / "labels.json", json.dumps({"readout": trainer.readout, "labels": trainer.labels.tolist()}) + "\n")
    if trainer.plastic:
        plot_receptive_fields(out / "receptive_fields.png", trainer.receptive_fields(trainer.plastic[0]), trainer.labels)
    return metrics


def plot_receptive_fields(path: Path, W: np.ndarray, labels: np.ndarray) -> None:
    """One tile per neuron, its incoming weights laid out like the (square) input, in one image."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    n, n_in = W.shape
    side = int(round(np.sqrt(n_in)))
    if side * side != n_in or n == 0:
        return
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    step = side + 1  # a one-pixel gap between tiles
    mosaic = np.full((rows * step + 1, cols * step + 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        mosaic[1 + r * step:1 + r * step + side, 1 + c * step:1 + c * step + side] = W[k].reshape(side, side)
    fig, ax = plt.subplots(figsize=(cols * 0.75 + 0.5, rows * 0.8 + 0.6))
    image = ax.imshow(mosaic, cmap="hot_r", vmin=0, vmax=np.nanmax(mosaic) or 1.0, interpolation="nearest")
    for k in range(n):
        r, c = divmod(k, cols)
        ax.text(1 + c * step, 1 + r * step - 0.6, str(labels[k]), fontsize=6, color="tab:blue", va="bottom")
    ax.set_axis_off()
    ax.set_title("receptive fields: the weights into each neuron (blue: its label)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    write_figure(path, fig, dpi=100, bbox_inches="tight")
    plt.close(fig)
