"""Surrogate-gradient BPTT training loop around the generated forward/backward passes.

Writes RUNDIR/metrics.json, RUNDIR/weights.npz (loadable by ``snnlang run --weights``),
RUNDIR/checkpoints/epoch_NNN.npz each epoch and RUNDIR/training.png. Every random
draw of an epoch comes from a generator seeded by (seed, epoch), so ``--resume``
continues exactly as an uninterrupted run would.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..model import Call, Model, Number, Settings, Word
from . import data as datasets
from .optim import Optimizer, loss_and_grads, schedule


def _number(value, default):
    return value.value if isinstance(value, Number) else default


def _call(value) -> tuple[str, dict, list]:
    if isinstance(value, Call):
        kwargs = {k: (v.value if isinstance(v, (Number, Word)) else getattr(v, "value", v)) for k, v in value.kwargs.items()}
        return value.name, kwargs, list(value.args)
    if isinstance(value, Word):
        return value.value, {}, []
    return "", {}, []


def _loss_kind(value) -> tuple[str, str]:
    """cross_entropy(spike_count(out)) -> ("cross_entropy", "spike_count")."""
    kind, _, args = _call(value)
    readout = args[0].name if args and isinstance(args[0], Call) else "spike_count"
    return kind or "cross_entropy", readout


class Trainer:
    def __init__(self, spec: Path, model: Model, block: Settings, seed: Optional[int] = None):
        from ..build import render, render_training, write_package
        from ..plan.train import make_training_plan
        from ..run import _import, cache_dir
        from .. import __version__

        self.tp = make_training_plan(model, block)
        values = block.values
        self.seed = int(seed if seed is not None else _number(values.get("seed"), 0))
        folder = cache_dir() / f"train_{model.spec_hash}_{block.name}_{__version__.replace('.', '_')}" / "net"
        if not (folder / "training.py").exists():
            files = render(self.tp.plan, "numpy", "net")
            files.update(render_training(self.tp, "net"))
            write_package(files, folder)
        self.package = _import(folder, folder.parent.name)
        import importlib

        self.training = importlib.import_module(folder.parent.name + ".training")
        net = self.package.Network(seed=self.seed)
        self.params, self.dt = net.params, net.dt
        self.init, self.W, self.b = self.training.initial(net)
        self.trainable = dict(self.W) | (dict(self.b) if self.tp.bias else {})
        self.epochs = int(_number(values.get("epochs"), 10))
        self.batch = int(_number(values.get("batch"), 64))
        self.encoder, self.encode_args, _ = _call(values.get("encode"))
        self.steps = int(self.encode_args.get("steps", _number(values.get("steps"), 25)))
        self.loss_kind, self.readout = _loss_kind(values.get("loss"))
        opt_name, opt_args, _ = _call(values.get("optimizer"))
        self.optimizer = Optimizer(opt_name or "adam", float(opt_args.get("lr", 1e-3)),
                                   momentum=float(opt_args.get("momentum", 0.9)),
                                   weight_decay=float(_number(values.get("weight_decay"), 0.0)),
                                   clip=_number(values.get("clip_grad"), None))
        self.base_lr = float(opt_args.get("lr", 1e-3))
        self.schedule, self.schedule_args, _ = _call(values.get("schedule"))
        self.dropout = float(_number(values.get("dropout"), 0.0))
        name, kwargs, _ = _call(values.get("data"))
        self.X, self.y, self.X_test, self.y_test = datasets.load(name or "digits", kwargs, spec.parent)
        self.hidden = [layer for layer in self.training.LAYERS if layer != self.training.OUTPUT]

    def weights(self) -> tuple[dict, dict]:
        """The current weights (n_pre, n_post) and biases; the optimiser updates them in place."""
        return self.W, self.b

    def encode(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return datasets.encode(self.encoder or "poisson", X, self.steps, rng, self.encode_args)

    def forward(self, X: np.ndarray, rng: np.random.Generator, train: bool):
        W, b = self.weights()
        mask = None
        if train and self.dropout:
            mask = {layer: (rng.random((len(X), self.tp.plan.populations[[p.name for p in self.tp.plan.populations].index(layer)].size))
                            >= self.dropout) / (1 - self.dropout) for layer in self.hidden}
        x = self.encode(X, rng)
        return self.training.forward(self.params, self.dt, self.init, W, b, x, mask=mask), W, b

    def output_u(self, cache):
        state = self.training.STATE[self.training.OUTPUT]
        return cache["U"][state[0]] if state else None

    def run_epoch(self, epoch: int) -> dict:
        rng = np.random.default_rng([self.seed, epoch])
        lr = schedule(self.schedule, self.base_lr, epoch, self.epochs, int(self.schedule_args.get("step_size", 10)),
                      float(self.schedule_args.get("gamma", 0.1)))
        order = rng.permutation(len(self.X))
        start = time.perf_counter()
        losses, correct = [], 0
        for k in range(0, len(order), self.batch):
            idx = order[k:k + self.batch]
            cache, W, b = self.forward(self.X[idx], rng, train=True)
            Z = cache["Z"][self.training.OUTPUT]
            loss, gz, gu, logits = loss_and_grads(self.loss_kind, self.readout, Z, self.output_u(cache), self.y[idx])
            grad_u = {self.training.STATE[self.training.OUTPUT][0]: gu} if gu is not None else None
            grads = self.training.backward(self.params, self.dt, self.init, W, b, cache,
                                           grad_z={self.training.OUTPUT: gz}, grad_u=grad_u)
            self.optimizer.step(self.trainable, {k: g for k, g in grads.items() if k in self.trainable}, lr)
            losses.append(loss * len(idx))
            correct += int((logits.argmax(axis=1) == self.y[idx]).sum())
        seconds = time.perf_counter() - start
        return {"epoch": epoch + 1, "loss": float(sum(losses) / len(self.X)), "train_accuracy": correct / len(self.X),
                "test_accuracy": self.evaluate(epoch), "seconds": round(seconds, 3), "lr": lr}

    def evaluate(self, epoch: int, X=None, y=None) -> float:
        X = self.X_test if X is None else X
        y = self.y_test if y is None else y
        rng = np.random.default_rng([self.seed, epoch, 1])
        correct = 0
        for k in range(0, len(X), 256):
            cache, _, _ = self.forward(X[k:k + 256], rng, train=False)
            Z = cache["Z"][self.training.OUTPUT]
            _, _, _, logits = loss_and_grads(self.loss_kind, self.readout, Z, self.output_u(cache), y[k:k + 256])
            correct += int((logits.argmax(axis=1) == y[k:k + 256]).sum())
        return correct / len(X)

    # ---- checkpoints -----------------------------------------------------------------
    def save(self, path: Path, epoch: int, history: list) -> None:
        data = {"param/" + k: v for k, v in self.trainable.items()} | self.optimizer.state_dict()
        data["epoch"] = np.array(epoch)
        data["history"] = np.array(json.dumps(history))
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(path)

    def restore(self, path: Path) -> tuple[int, list]:
        with np.load(path) as d:
            values = dict(d)
        for k, array in self.trainable.items():
            array[...] = values["param/" + k]
        self.optimizer.load_state_dict(values)
        return int(values["epoch"]), json.loads(str(values["history"]))


def train_bptt(spec: Path, model: Model, block: Settings, out: Path, epochs: Optional[int] = None,
               resume: bool = False, seed: Optional[int] = None, progress: bool = False) -> dict:
    trainer = Trainer(spec, model, block, seed)
    if epochs is not None:
        trainer.epochs = epochs
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    first, history = 0, []
    if resume:
        found = sorted(checkpoints.glob("epoch_*.npz"))
        if found:
            first, history = trainer.restore(found[-1])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=trainer.epochs, initial=first, unit="epoch", desc=block.name)
    for epoch in range(first, trainer.epochs):
        history.append(trainer.run_epoch(epoch))
        trainer.save(checkpoints / f"epoch_{epoch + 1:03d}.npz", epoch + 1, history)
        write_results(out, trainer, history)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", test=f"{history[-1]['test_accuracy']:.3f}")
    if bar is not None:
        bar.close()
    return write_results(out, trainer, history)


def write_results(out: Path, trainer: Trainer, history: list) -> dict:
    metrics = {"epochs": history, "test_accuracy": history[-1]["test_accuracy"] if history else None,
               "method": "bptt", "seed": trainer.seed}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    W, b = trainer.weights()
    arrays = {k: v.ravel() for k, v in W.items()}
    if trainer.tp.bias:
        for layer in trainer.training.LAYERS:
            for v in trainer.training.INPUTS[layer]:
                arrays[f"input:{layer}.{v[len(layer) + 1:]}"] = b[v]
    np.savez(out / "weights.npz", **arrays)
    _plot(out, history)
    return metrics


def _plot(out: Path, history: list) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [h["loss"] for h in history])
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    b.plot(epochs, [h["train_accuracy"] for h in history], label="train")
    b.plot(epochs, [h["test_accuracy"] for h in history], label="test")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.legend()
    fig.tight_layout()
    fig.savefig(out / "training.png", dpi=100)
    plt.close(fig)
