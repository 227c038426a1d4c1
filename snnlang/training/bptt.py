"""Surrogate-gradient BPTT training loop around the generated forward/backward passes.

Writes RUNDIR/metrics.json, RUNDIR/weights.npz (loadable by ``snnlang run --weights``),
RUNDIR/checkpoints/epoch_NNN.npz each epoch and RUNDIR/training.png. Every random
draw of an epoch comes from a generator seeded by (seed, 0, epoch), so ``--resume``
continues exactly as an uninterrupted run would; evaluations draw from (seed, 1).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..frontend.model import Model, Settings
from ..output import write_figure, write_json, write_npz
from ..frontend.settings import Values, training
from . import data as datasets
from .loop import RUN_KEY, run_epochs, run_record
from .optim import Optimizer, dropout_mask, loss_and_grads, predict, quantize, schedule
from .package import training_package


class Network:
    """A generated network ready to train or evaluate: its training module, parameters and trained values."""

    def __init__(self, model: Model, block: Settings, seed: int, params: Optional[dict] = None):
        pk = training_package(model, block)
        self.tp, self.package, self.training = pk.tp, pk.package, pk.training
        settings: Values = self.tp.settings
        self.training.REAL = {"float32": np.float32, "float64": np.float64}[settings.precision]
        kwargs = {"dt": settings.dt} if settings.dt is not None else {}  # else the simulate block's
        net = self.package.Network(seed=seed, params=params or {}, **kwargs)
        self.params, self.dt = dict(net.params), net.dt
        self.init, self.W, self.b = self.training.initial(net)
        self.sizes = dict(self.training.SIZES)

    @property
    def trainable(self) -> dict[str, np.ndarray]:
        return dict(self.W) | dict(self.b)

    def forward(self, x: np.ndarray, mask=None, params=None, weights=None, bias=None, buffers=None):
        """``buffers``: a dict kept between calls for the work arrays (see the generated ``forward``)."""
        return self.training.forward(self.params if params is None else params, self.dt, self.init,
                                     self.W if weights is None else weights, self.b if bias is None else bias, x,
                                     mask=mask, buffers=buffers)

    def output_u(self, cache):
        state = self.training.STATE[self.training.OUTPUT]
        return cache["U"].get(state[0]) if state else None

    # ---- weights.npz: what the simulator loads ------------------------------------------
    def weight_arrays(self, weights=None, bias=None) -> dict[str, np.ndarray]:
        """Simulator state arrays (flat, pre-major) and the input values that carry the biases."""
        weights = self.W if weights is None else weights
        bias = self.b if bias is None else bias
        arrays = {k: np.ascontiguousarray(v).ravel() for k, v in weights.items()}
        if self.tp.bias:
            defaults = self.training.input_values(self.params, self.dt, self.init)
            for layer in self.training.LAYERS:
                for v in self.training.INPUTS[layer]:
                    if v in defaults:
                        arrays[f"input:{layer}.{v[len(layer) + 1:]}"] = defaults[v] + bias[v]
        return arrays

    def load_arrays(self, path: Path) -> None:
        """Weights and biases from a weights.npz written by :meth:`weight_arrays`."""
        import zipfile

        defaults = self.training.input_values(self.params, self.dt, self.init)
        try:
            data = np.load(path)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: cannot read it as an .npz ({e})") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: one array (.npy), not the weights.npz snnlang train writes")
        with data:
            for k in self.W:
                if k not in data.files:
                    raise ValueError(f"{path}: it has no {k!r}; it holds {', '.join(data.files) or 'nothing'}")
                if data[k].size != self.W[k].size:
                    raise ValueError(f"{path}: {k!r} has {data[k].size} values, the network's {self.W[k].size}")
                self.W[k][...] = data[k].reshape(self.W[k].shape)
            for layer in self.training.LAYERS:
                for v in self.training.INPUTS[layer]:
                    key = f"input:{layer}.{v[len(layer) + 1:]}"
                    if v in self.b and key in data.files:
                        self.b[v][...] = data[key] - defaults[v]


class Trainer:
    def __init__(self, spec: Path, model: Model, block: Settings, seed: Optional[int] = None,
                 params: Optional[dict] = None):
        s = self.settings = training(model, block)  # typed, every default applied (snnlang.frontend.settings.TRAIN)
        self.spec, self.block = spec, block
        self.seed = seed if seed is not None else s.seed
        self.net = Network(model, block, self.seed, params)
        self.tp, self.training = self.net.tp, self.net.training
        self.epochs, self.batch = s.epochs, s.batch
        self.encoder = s.encode.name
        self.encode_args = s.encode.arguments(skip=("steps",))
        self.steps = s.encode.steps or s.steps or self.tp.plan.steps  # the encoder's, the block's, the simulation's
        opt = s.optimizer
        self.base_lr = opt.lr
        self.optimizer = Optimizer(opt.name, opt.lr, weight_decay=s.weight_decay, clip=s.clip_grad or None,
                                   **opt.arguments(skip=("lr",)))
        self.schedule = s.schedule.name if s.schedule is not None else "constant"
        self.schedule_args = s.schedule.arguments() if s.schedule is not None else {}
        self.dropout = s.dropout
        self.X, self.y, self.X_test, self.y_test = datasets.load_block_data(
            s, Path(spec).parent, self.net.sizes.get(self.training.OUTPUT))  # labels: one output neuron each
        self.hidden = [layer for layer in self.training.LAYERS if layer != self.training.OUTPUT]
        self.buffers: dict = {}  # the work arrays of forward and backward, kept from batch to batch
        self.prepare()

    @property
    def trainable(self):
        return self.net.trainable

    def lr(self, epoch: int) -> float:
        return schedule(self.schedule, self.base_lr, epoch, self.epochs, **self.schedule_args)

    def encode(self, X, rng: np.random.Generator, steps: Optional[int] = None, dtype=float) -> np.ndarray:
        """A batch's input (steps, batch, features); ``dtype``: the trainer's precision for its
        own batches (the simulator, which evaluates, takes float64)."""
        if isinstance(X, BinnedEvents):
            return X.spikes(steps or self.steps)
        return datasets.encode(self.encoder, X, steps or self.steps, rng, self.encode_args, self.tp.n_in, dtype)

    def prepare(self) -> None:
        """Event streams are binned once (the events encoder draws no random numbers)."""
        if self.encoder == "events":
            self.X = BinnedEvents(self, self.X)
            self.X_test = BinnedEvents(self, self.X_test)

    def loss(self, cache, y):
        Z = cache["Z"][self.training.OUTPUT]
        return loss_and_grads(self.tp.loss, self.tp.readout, Z, self.net.output_u(cache), y, self.tp.loss_params)

    def train_batch(self, X, y, rng: np.random.Generator, lr: float) -> tuple[float, int]:
        mask = None
        if self.dropout:
            mask = {layer: dropout_mask(rng, (len(y), self.net.sizes[layer]), self.dropout) for layer in self.hidden}
        x = self.encode(X, rng, dtype=self.training.REAL)
        cache = self.net.forward(x, mask=mask, buffers=self.buffers)
        loss, gz, gu, scores = self.loss(cache, y)
        out = self.training.OUTPUT
        grad_u = {self.training.STATE[out][0]: gu} if gu is not None else None
        grads = self.training.backward(self.net.params, self.net.dt, self.net.init, self.net.W, self.net.b, cache,
                                       grad_z={out: gz} if gz is not None else None, grad_u=grad_u,
                                       buffers=self.buffers)
        trainable = self.trainable
        self.optimizer.step(trainable, {k: g for k, g in grads.items() if k in trainable}, lr)
        return loss, int((predict(scores) == y).sum())

    def run_epoch(self, epoch: int, progress: Optional[Callable[[int], None]] = None) -> dict:
        rng = np.random.default_rng([self.seed, 0, epoch])
        lr = self.lr(epoch)
        order = rng.permutation(len(self.y))
        start = time.perf_counter()
        total, correct = 0.0, 0
        for k in range(0, len(order), self.batch):
            idx = order[k:k + self.batch]
            loss, right = self.train_batch(self.X[idx], self.y[idx], rng, lr)
            total += loss * len(idx)
            correct += right
            if progress is not None:
                progress(1)
        seconds = time.perf_counter() - start
        return {"epoch": epoch + 1, "loss": total / len(self.y), "train_accuracy": correct / len(self.y),
                "test_accuracy": self.evaluate(epoch)["accuracy"], "seconds": round(seconds, 4), "lr": lr}

    def evaluate(self, epoch: int = 0, X=None, y=None, **kwargs) -> dict:
        """Accuracy, loss, SynOps and spikes per sample on the test set (or X, y); see :func:`evaluate_network`.

        The input spikes come from a generator seeded by (seed, 1), the same at every
        evaluation: every epoch and ``snnlang train --evaluate`` see the same test spikes.
        """
        X = self.X_test if X is None else X
        y = self.y_test if y is None else y
        return evaluate_network(self.net, X, y, lambda Xb, rng, steps: self.encode(Xb, rng, steps),
                                np.random.default_rng([self.seed, 1]), loss=self.loss, **kwargs)

    # ---- checkpoints -----------------------------------------------------------------
    def save(self, path: Path, epoch: int, history: list, record: Optional[dict] = None) -> None:
        data = {"param/" + k: v for k, v in self.trainable.items()} | self.optimizer.state_dict()
        data["epoch"] = np.array(epoch)
        data["history"] = np.array(json.dumps(history))
        data[RUN_KEY] = np.array(json.dumps(record or {}))  # which run wrote it (spec, block, seed, settings)
        write_npz(path, data)

    def restore(self, path: Path) -> tuple[int, list]:
        with np.load(path) as d:
            values = dict(d)
        for k, array in self.trainable.items():
            array[...] = values["param/" + k]
        self.optimizer.load_state_dict(values)
        return int(values["epoch"]), json.loads(str(values["history"]))


class BinnedEvents:
    """An event set binned into input spikes once per number of steps; indexing picks samples."""

    def __init__(self, trainer: "Trainer", events, index=None, cache=None):
        self.trainer, self.events = trainer, events
        self.index = np.arange(len(events)) if index is None else index
        self.cache = {} if cache is None else cache

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k) -> "BinnedEvents":
        return BinnedEvents(self.trainer, self.events, self.index[k], self.cache)

    def spikes(self, steps: int) -> np.ndarray:
        if steps not in self.cache:
            t = self.trainer
            self.cache[steps] = datasets.encode("events", self.events, steps, None, t.encode_args, t.tp.n_in).astype(bool)
        return self.cache[steps][:, self.index].astype(float)


def evaluate_network(net: Network, X, y, encode, rng: np.random.Generator, steps: Optional[int] = None,
                     params: Optional[dict] = None, bits: Optional[int] = None, loss=None, chunk: int = 256,
                     strict: bool = False) -> dict:
    """Test a network: accuracy (argmax of the loss's scores, first index on ties), mean loss,
    synaptic operations and spikes per sample.

    ``steps``: fewer (or more) time steps than trained; ``params``: parameter overrides
    (a higher threshold); ``bits``: weights quantised to signed integers of that many bits
    (:func:`snnlang.training.optim.quantize`, one scale per connection; biases kept).
    ``strict``: a sample is correct only when the label's score beats every other one
    (ties and silence are errors); ``accuracy_argmax`` is then the first-index argmax's.
    SynOps count what the simulator counts: every delivered spike times the fan-out of its
    connection (a spike of the last step is not delivered within the run); for a
    non-binary input (current coding) every nonzero input value counts as one event.
    """
    p = dict(net.params)
    for key, value in (params or {}).items():
        owners = [k for k in p if k == key or k.split(".", 1)[1] == key]
        if not owners:
            raise KeyError(f"no parameter {key!r}; parameters: {', '.join(sorted(p))}")
        for k in owners:
            p[k] = float(value)
    weights = {k: quantize(w, bits) for k, w in net.W.items()} if bits else net.W
    training = net.training
    correct, argmax_correct, total_loss, synops, spikes, input_events = 0, 0, 0.0, 0.0, 0.0, 0.0
    for k in range(0, len(y), chunk):
        Xb, yb = X[k:k + chunk], y[k:k + chunk]
        x = encode(Xb, rng, steps)
        cache = net.forward(x, params=p, weights=weights)
        if loss is not None:
            value, _, _, scores = loss(cache, yb)
            total_loss += value * len(yb)
        else:
            scores = cache["Z"][training.OUTPUT].sum(axis=0)
        hits = predict(scores) == yb
        argmax_correct += int(hits.sum())
        if strict:
            top = scores[np.arange(len(yb)), yb]
            rivals = scores.copy()
            rivals[np.arange(len(yb)), yb] = -np.inf
            hits = top > rivals.max(axis=1)
        correct += int(hits.sum())
        for name, source, target, variable, w, n_pre, n_post, scale in training.CONNECTIONS:
            z = x if source == training.SOURCE else cache["Z"][source]
            synops += float(np.count_nonzero(z[:-1])) * n_post
        spikes += sum(float(cache["Z"][layer].sum()) for layer in training.LAYERS)
        input_events += float(np.count_nonzero(x))
    n = len(y)
    result = {"accuracy": correct / n, "accuracy_argmax": argmax_correct / n, "synops_per_sample": synops / n, "spikes_per_sample": spikes / n,
              "input_events_per_sample": input_events / n, "samples": n}
    if loss is not None:
        result["loss"] = total_loss / n
    return result


def train_bptt(spec: Path, model: Model, block: Settings, out: Path, epochs: Optional[int] = None,
               resume: bool = False, seed: Optional[int] = None, progress: bool = False,
               stop_after: Optional[int] = None, start_over: bool = False) -> dict:
    """Train, checkpointing every epoch; ``stop_after``: stop (as if interrupted) after that many epochs."""
    trainer = Trainer(spec, model, block, seed)
    if epochs is not None:
        trainer.epochs = epochs
    return run_epochs(trainer, out, block.name, resume, progress, stop_after, "batch",
                      -(-len(trainer.y) // trainer.batch),
                      lambda history, final: write_results(out, trainer, history, final),
                      lambda last: {"loss": f"{last['loss']:.3f}", "test": f"{last['test_accuracy']:.3f}"},
                      record=run_record(model, block, trainer.seed), start_over=start_over)


def write_results(out: Path, trainer: Trainer, history: list, final: bool) -> dict:
    metrics = {"epochs": history, "test_accuracy": history[-1]["test_accuracy"] if history else None,
               "method": "bptt", "seed": trainer.seed, "steps": trainer.steps,
               "train_samples": len(trainer.y), "test_samples": len(trainer.y_test)}
    if final and history:
        epoch = len(history) - 1
        full = trainer.evaluate(epoch)
        q8 = trainer.evaluate(epoch, bits=8)
        metrics.update({"synops_per_sample": full["synops_per_sample"], "spikes_per_sample": full["spikes_per_sample"],
                        "input_events_per_sample": full["input_events_per_sample"],
                        "test_accuracy_8bit": q8["accuracy"],
                        "accuracy_drop_8bit": full["accuracy"] - q8["accuracy"]})
    write_json(out / "metrics.json", metrics)  # each whole or not at all (a full disk keeps the earlier one)
    write_npz(out / "weights.npz", trainer.net.weight_arrays())
    if final or len(history) % 10 == 0:  # a plot takes longer than an epoch of a small network
        plot(out, history)
    return metrics


def plot(out: Path, history: list) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [h["loss"] for h in history], marker=".")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    if any("train_accuracy" in h for h in history):
        b.plot(epochs, [h.get("train_accuracy") for h in history], marker=".", label="train")
    b.plot(epochs, [h["test_accuracy"] for h in history], marker=".", label="test")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    fig.tight_layout()
    write_figure(out / "training.png", fig, dpi=100)
    plt.close(fig)
