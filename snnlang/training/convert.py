"""ANN-to-SNN conversion (``train { method = convert }``), after Rueckauer et al. (2017).

1. The spec's network must be a chain of layers: input -> p1 -> p2 -> ... -> output,
   each population fed by one trained connection (dense, the weight times a constant
   added to a variable of the target). A ReLU network of exactly that structure is
   built from it: a_0 = x,  a_l = ReLU(a_{l-1} (s_l W_l) + b_l),  logits = a_{L-1} (s_L W_L) + b_L
   (s_l the connection's constant, b_l the bias per neuron of the population's input
   variable), initialised with the simulator's own initial weights, and trained with
   softmax cross-entropy, the block's optimizer, batch, epochs and seed.
2. Data-based normalisation: lambda_l is the ``normalise = percentile(p)`` (default 99.9)
   percentile of the positive activations of layer l on the training set (lambda_0 = 1
   for inputs in [0, 1]; the output layer's are its positive logits). The converted
   weights and biases are W_l lambda_{l-1} / lambda_l * thr_l and b_l / lambda_l * thr_l,
   with thr_l the threshold of the spec's neuron.
3. The SNN is the spec's own network: its neuron should be an integrate-and-fire neuron
   with reset by subtraction (``update { v = v + I }``, ``spike when v >= thr``,
   ``reset { v -= thr }``); the plan's derivatives are used to check this. It runs the
   generated forward pass (the simulator's step, one step per connection: the output
   sees the input from step L on), with the block's encoder (``current`` feeds the
   pixel values themselves every step, as in the paper). The readout is strict: a
   sample counts as correct only when the label's output neuron has more spikes than
   every other one (ties and silence are errors). Accuracy is reported for
   T = 10, 20, 50, 100 and the block's ``T``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import sympy

from ..frontend.functions import symbol
from ..frontend.model import Model, Settings
from ..output import write_figure, write_json, write_npz
from ..plan.gradients import u_name
from .bptt import Trainer, evaluate_network, plot
from .optim import softmax_cross_entropy

T_VALUES = (10, 20, 50, 100)


def chain(trainer: Trainer) -> list:
    """The trained connections in layer order, or an error saying why the network is not a chain."""
    tp = trainer.tp
    order = [g[0] for g in tp.groups]
    layers = []
    previous = tp.source
    for pop in order:
        into = [c for c in tp.connections if c.target == pop]
        if len(into) != 1 or into[0].source != previous:
            raise ValueError(f"method = convert needs a chain of layers ({tp.source} -> ... -> {tp.output}), "
                             f"each fed by one connection from the one before; '{pop}' is not")
        layers.append(into[0])
        previous = pop
    if previous != tp.output:
        raise ValueError(f"method = convert: the chain ends at '{previous}', the loss reads '{tp.output}'")
    return layers


def if_threshold(trainer: Trainer, population: str) -> Optional[float]:
    """The threshold of an integrate-and-fire population with reset by subtraction, else None.

    Checked on the plan's own derivatives: one state variable v (or inputs), u = v + I,
    the condition v - thr >= 0, and the reset v - thr.
    """
    layer = next(g for g in trainer.tp.layers if g.population == population)
    p = trainer.net.params
    values = {symbol(k.replace(".", "_", 1)): sympy.Float(v) for k, v in p.items() if v is not None}
    if len(layer.state) != 1 or layer.refractory:
        return None
    v = layer.state[0]
    if layer.du_ds.get((v, v)) != 1:
        return None
    if any(d != 1 for (k, m), d in layer.du_dI.items()):
        return None
    margin = layer.condition.xreplace(values)
    thr = -(margin - symbol(u_name(v)))
    if thr.free_symbols or not thr.is_number:
        return None
    if sympy.simplify(layer.dr_dz.get(v, 0).xreplace(values) + thr) != 0:
        return None
    return float(thr)


class ReLUNetwork:
    """The ANN twin of a chain of spiking layers (weights (n_pre, n_post) as the simulator's)."""

    def __init__(self, trainer: Trainer, layers: list):
        self.layers = layers
        self.scale = [c.scale for c in layers]
        self.W = [trainer.net.W[c.weight].copy() for c in layers]
        inputs = [c.variable for c in layers]
        self.b = [np.zeros(c.n_post) for c in layers]
        self.bias_of = inputs
        self.use_bias = trainer.tp.bias

    def params(self) -> dict:
        out = {f"W{k}": w for k, w in enumerate(self.W)}
        if self.use_bias:
            out |= {f"b{k}": b for k, b in enumerate(self.b)}
        return out

    def forward(self, X: np.ndarray) -> list[np.ndarray]:
        """Activations [x, a_1, ..., a_{L-1}, logits]."""
        acts = [X]
        for k, (w, b, s) in enumerate(zip(self.W, self.b, self.scale)):
            z = acts[-1] @ (w * s) + b
            acts.append(z if k == len(self.W) - 1 else np.maximum(z, 0))
        return acts

    def gradients(self, X, y) -> tuple[float, dict, np.ndarray]:
        acts = self.forward(X)
        loss, g = softmax_cross_entropy(acts[-1], y)
        grads = {}
        for k in range(len(self.W) - 1, -1, -1):
            grads[f"W{k}"] = acts[k].T @ g * self.scale[k]
            if self.use_bias:
                grads[f"b{k}"] = g.sum(axis=0)
            if k:
                g = (g @ (self.W[k] * self.scale[k]).T) * (acts[k] > 0)
        return loss, grads, acts[-1]


def train_convert(spec: Path, model: Model, block: Settings, out: Path, epochs: Optional[int] = None,
                  seed: Optional[int] = None, progress: bool = False) -> dict:
    trainer = Trainer(spec, model, block, seed)
    if epochs is not None:
        trainer.epochs = epochs
    layers = chain(trainer)
    thresholds = {c.target: if_threshold(trainer, c.target) for c in layers}
    notes = [f"'{p}' is not an integrate-and-fire neuron with reset by subtraction; the conversion assumes one"
             for p, t in thresholds.items() if t is None]
    ann = ReLUNetwork(trainer, layers)
    opt = trainer.optimizer
    if not isinstance(X := trainer.X, np.ndarray):
        raise ValueError("method = convert trains on feature vectors (digits, npz with X), not event streams")
    history = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=trainer.epochs, unit="epoch", desc=f"{block.name} (ANN)")
    for epoch in range(trainer.epochs):
        rng = np.random.default_rng([trainer.seed, 0, epoch])
        order = rng.permutation(len(trainer.y))
        start = time.perf_counter()
        total, correct = 0.0, 0
        lr = trainer.lr(epoch)
        for k in range(0, len(order), trainer.batch):
            idx = order[k:k + trainer.batch]
            loss, grads, logits = ann.gradients(X[idx], trainer.y[idx])
            opt.step(ann.params(), grads, lr)
            total += loss * len(idx)
            correct += int((logits.argmax(1) == trainer.y[idx]).sum())
        test_logits = ann.forward(trainer.X_test)[-1]
        history.append({"epoch": epoch + 1, "loss": total / len(order), "train_accuracy": correct / len(order),
                        "test_accuracy": float((test_logits.argmax(1) == trainer.y_test).mean()),
                        "seconds": round(time.perf_counter() - start, 4)})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", test=f"{history[-1]['test_accuracy']:.3f}")
    if bar is not None:
        bar.close()
    ann_accuracy = history[-1]["test_accuracy"] if history else float(
        (ann.forward(trainer.X_test)[-1].argmax(1) == trainer.y_test).mean())

    # data-based normalisation, layer by layer
    percentile = trainer.settings.normalise.p  # normalise = percentile(p)
    acts = ann.forward(X)
    lambdas = [1.0]
    for a in acts[1:]:
        positive = a[a > 0]
        lambdas.append(float(np.percentile(positive, percentile)) if positive.size else 1.0)
    for k, c in enumerate(layers):
        thr = thresholds[c.target] or 1.0
        trainer.net.W[c.weight][...] = ann.W[k] * lambdas[k] / lambdas[k + 1] * thr
        for v in trainer.training.INPUTS[c.target]:
            if v in trainer.net.b:
                trainer.net.b[v][...] = (ann.b[k] / lambdas[k + 1] * thr) if v == c.variable else 0.0
        if not c.is_input and trainer.tp.bias:
            notes.append(f"the bias of '{c.target}' goes to its input variables, not to {c.variable}")

    T_main = trainer.settings.T or trainer.steps
    snn = []
    for T in sorted(set(T_VALUES) | {T_main}):
        result = evaluate_network(trainer.net, trainer.X_test, trainer.y_test,
                                  lambda Xb, r, steps: trainer.encode(Xb, r, steps),
                                  np.random.default_rng([trainer.seed, 1]), steps=T, strict=True)
        snn.append({"T": T, "test_accuracy": result["accuracy"], "test_accuracy_argmax": result["accuracy_argmax"],
                    "synops_per_sample": result["synops_per_sample"], "spikes_per_sample": result["spikes_per_sample"]})
    main = next(r for r in snn if r["T"] == T_main)
    metrics = {"method": "convert", "epochs": history, "ann_test_accuracy": ann_accuracy, "snn": snn,
               "T": T_main, "test_accuracy": main["test_accuracy"], "synops_per_sample": main["synops_per_sample"],
               "spikes_per_sample": main["spikes_per_sample"], "normalisation": {"percentile": percentile,
                                                                               "lambda": lambdas},
               "seed": trainer.seed, "encoder": trainer.encoder, "notes": notes}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)  # each whole or not at all (a full disk keeps the earlier one)
    write_npz(out / "weights.npz", trainer.net.weight_arrays())
    write_npz(out / "ann.npz", dict(ann.params()))
    plot(out, history)
    _plot_T(out, snn, ann_accuracy)
    return metrics


def _plot_T(out: Path, snn: list, ann: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot([r["T"] for r in snn], [r["test_accuracy"] for r in snn], marker="o", label="SNN (strict spike count)")
    ax.axhline(ann, color="k", ls="--", lw=1, label="ANN")
    ax.set_xscale("log")
    ax.set_xlabel("time steps T")
    ax.set_ylabel("test accuracy")
    ax.legend()
    fig.tight_layout()
    write_figure(out / "conversion.png", fig, dpi=100)
    plt.close(fig)
