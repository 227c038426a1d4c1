"""Optimisers, learning-rate schedules, losses, dropout and quantisation for training (NumPy, deterministic)."""
from __future__ import annotations

import math

import numpy as np

from ..frontend.settings import form_arguments, loss_arguments


class Optimizer:
    """SGD, momentum (heavy ball, PyTorch's form) or Adam (PyTorch's, bias-corrected) over a dict of arrays.

    One step, for each parameter w with gradient g:
      clipping: all gradients scaled by clip / ||g||_2 (the norm over every array) when above ``clip``;
      weight decay (L2, coupled as torch.optim): g <- g + weight_decay * w;
      sgd:      w <- w - lr g
      momentum: m <- mu m + g;  w <- w - lr m
      adam:     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
                w <- w - lr (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)    (k: the step count)
    """

    def __init__(self, kind: str, lr: float, weight_decay: float = 0.0, clip: float | None = None, **settings):
        """``settings``: momentum (momentum); beta1, beta2, eps (adam); the others at the defaults of
        ``optimizer = <kind>(...)`` (snnlang.frontend.settings). Weight decay 0 and no clip are off."""
        settings = form_arguments("optimizer", kind, settings | {"lr": lr})
        if lr <= 0:
            raise ValueError(f"the learning rate must be positive, not {lr}")
        self.kind, self.lr = kind, lr
        self.momentum = settings.get("momentum")
        self.betas, self.eps = (settings.get("beta1"), settings.get("beta2")), settings.get("eps")
        self.weight_decay, self.clip = weight_decay, clip
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float | None = None) -> float:
        """Update ``params`` in place; returns the gradient norm before clipping."""
        lr = self.lr if lr is None else lr
        norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
        if self.clip and norm > self.clip:
            grads = {k: g * (self.clip / norm) for k, g in grads.items()}
        self.steps += 1
        b1, b2 = self.betas
        for key in sorted(grads):
            g = grads[key]
            if self.weight_decay:
                g = g + self.weight_decay * params[key]
            if self.kind == "sgd":
                params[key] -= lr * g
                continue
            if "m/" + key not in self.state:
                self.state["m/" + key] = np.zeros_like(g)
                if self.kind == "adam":
                    self.state["v/" + key] = np.zeros_like(g)
            m = self.state["m/" + key]
            if self.kind == "momentum":
                m *= self.momentum
                m += g
                params[key] -= lr * m
                continue
            v = self.state["v/" + key]
            work = np.multiply(g, 1 - b1)  # the same operations as the formula, in two arrays
            m *= b1
            m += work  # m = b1 m + (1 - b1) g
            np.multiply(g, g, out=work)
            work *= 1 - b2
            v *= b2
            v += work  # v = b2 v + (1 - b2) g^2
            np.divide(v, 1 - b2 ** self.steps, out=work)
            np.sqrt(work, out=work)
            work += self.eps  # denominator
            update = np.multiply(m, lr / (1 - b1 ** self.steps))
            update /= work
            params[key] -= update
        return norm

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"optim/" + k: v for k, v in self.state.items()} | {"optim_steps": np.array(self.steps)}

    def load_state_dict(self, data: dict[str, np.ndarray]) -> None:
        self.state = {k[6:]: np.array(v) for k, v in data.items() if k.startswith("optim/")}
        self.steps = int(data["optim_steps"])


def schedule(kind: str, base: float, epoch: int, epochs: int, **settings) -> float:
    """The learning rate of epoch ``epoch`` (0-based) of ``epochs``.

    constant: base;  step(step_size, gamma): base * gamma^floor(epoch / step_size);
    cosine(min_lr): min_lr + (base - min_lr) (1 + cos(pi epoch / epochs)) / 2.
    ``settings`` not given take the defaults of ``schedule = <kind>(...)`` (snnlang.frontend.settings).
    """
    if kind in ("", "constant", "none"):
        return base
    a = form_arguments("schedule", kind, settings, "bptt")
    if kind == "step":
        return base * a["gamma"] ** (epoch // max(1, a["step_size"]))
    return a["min_lr"] + (base - a["min_lr"]) * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs)))


def dropout_mask(rng: np.random.Generator, shape: tuple, rate: float) -> np.ndarray:
    """Inverted dropout: 0 with probability ``rate``, else 1 / (1 - rate) (one mask per sample for all steps)."""
    return (rng.random(shape) >= rate) / (1.0 - rate)


def quantize(w: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation to signed ``bits``-bit integers times one scale per array.

    scale = max|w| / (2^(bits-1) - 1); w_q = round(w / scale) * scale.
    """
    levels = 2 ** (bits - 1) - 1
    top = float(np.abs(w).max()) if w.size else 0.0
    if top == 0:
        return w.copy()
    scale = top / levels
    return np.round(w / scale) * scale


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits (numerically safe)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    probs = e / total
    n = len(labels)
    rows = np.arange(n)
    loss = float((np.log(total[:, 0]) - shifted[rows, labels]).mean())
    grad = probs  # probs - onehot(labels), over n
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def target_trains(labels: np.ndarray, T: int, n: int, correct: float, incorrect: float) -> np.ndarray:
    """Regular target spike trains (T, B, n): the label's neuron at rate ``correct`` spikes per step,
    the others at ``incorrect``; a neuron at rate r spikes in step t when floor((t + 1) r) > floor(t r)."""
    rate = np.full((len(labels), n), incorrect)
    rate[np.arange(len(labels)), labels] = correct
    t = np.arange(T)[:, None, None]
    return (np.floor((t + 1) * rate[None] + 1e-9) > np.floor(t * rate[None] + 1e-9)).astype(float)


def loss_and_grads(kind: str, readout: str, Z: np.ndarray, U: np.ndarray | None, labels: np.ndarray,
                   params: dict | None = None) -> tuple[float, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Loss, dL/dz (T, B, N) or None, dL/du (T, B, N) or None, and the scores used for prediction.

    kind ``cross_entropy``: softmax cross-entropy of logits, mean over the batch, on
      spike_count (logits = sum_t z), rate (sum_t z / T) or max_membrane (scale * max_t u).
    kind ``mse``: mean over batch and neurons of (readout - target)^2, the target
      ``correct`` for the label's neuron and ``incorrect`` for the others, on
      spike_count (targets times T, as snnTorch's mse_count_loss), rate, max_membrane
      (scale * max_t u) or spike_train (mean over steps too, against regular trains at
      those rates per step; see :func:`target_trains`).
    ``params``: the arguments of the loss and of its readout (correct, incorrect, scale), the
    others at the defaults of ``loss = <kind>(<readout>(...))`` (snnlang.frontend.settings); the
    targets' defaults are 0.8 and 0.2, and 1 and 0 for max_membrane.
    """
    a = loss_arguments(kind, readout, params or {})
    T, B, N = Z.shape
    membrane = readout == "max_membrane"
    correct = (1.0 if membrane else 0.8) if a.get("correct") is None else a["correct"]
    incorrect = (0.0 if membrane else 0.2) if a.get("incorrect") is None else a["incorrect"]
    if readout in ("spike_count", "rate"):
        factor = 1.0 if readout == "spike_count" else 1.0 / T
        scores = Z.sum(axis=0)
        if factor != 1.0:
            scores = scores * factor
        if kind == "cross_entropy":
            loss, g = softmax_cross_entropy(scores, labels)
        elif kind == "mse":
            goal = np.full((B, N), incorrect)
            goal[np.arange(B), labels] = correct
            if readout == "spike_count":
                goal = goal * T
            diff = scores - goal
            loss, g = float((diff ** 2).mean()), 2 * diff / diff.size
        else:
            raise ValueError(f"unknown loss '{kind}'")
        return loss, np.broadcast_to((g * factor if factor != 1.0 else g)[None], Z.shape), None, scores
    if membrane:
        if U is None:
            raise ValueError("max_membrane needs the output's membrane")
        scale = a["scale"]
        idx = U.argmax(axis=0)
        scores = np.take_along_axis(U, idx[None], axis=0)[0] * scale
        if kind == "cross_entropy":
            loss, g = softmax_cross_entropy(scores, labels)
        else:
            goal = np.full((B, N), incorrect)
            goal[np.arange(B), labels] = correct
            diff = scores - goal
            loss, g = float((diff ** 2).mean()), 2 * diff / diff.size
        gu = np.zeros_like(U)
        np.put_along_axis(gu, idx[None], (g * scale)[None], axis=0)
        return loss, None, gu, scores
    if readout == "spike_train":
        if kind != "mse":
            raise ValueError("spike_train(...) is read by mse(...)")
        goal = target_trains(labels, T, N, correct, incorrect)
        diff = Z - goal
        return float((diff ** 2).mean()), 2 * diff / diff.size, None, Z.sum(axis=0)
    raise ValueError(f"unknown readout '{readout}'; choose spike_count, rate, max_membrane or spike_train")


def predict(scores: np.ndarray) -> np.ndarray:
    """The predicted class: the first index of the largest score."""
    return scores.argmax(axis=1)
