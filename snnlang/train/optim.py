"""Optimisers, learning-rate schedules and losses for training (NumPy, deterministic)."""
from __future__ import annotations

import math

import numpy as np


class Optimizer:
    """SGD, momentum or Adam over a dict of arrays, with weight decay and gradient clipping."""

    def __init__(self, kind: str, lr: float, momentum: float = 0.9, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, clip: float | None = None):
        if kind not in ("sgd", "momentum", "adam"):
            raise ValueError(f"unknown optimizer '{kind}'; choose sgd, momentum or adam")
        self.kind, self.lr, self.momentum, self.betas, self.eps = kind, lr, momentum, betas, eps
        self.weight_decay, self.clip = weight_decay, clip
        self.state: dict[str, np.ndarray] = {}
        self.steps = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        if self.clip:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
            if norm > self.clip:
                grads = {k: g * (self.clip / norm) for k, g in grads.items()}
        self.steps += 1
        b1, b2 = self.betas
        for key, g in grads.items():
            if self.weight_decay:
                g = g + self.weight_decay * params[key]
            if self.kind == "sgd":
                params[key] -= lr * g
            elif self.kind == "momentum":
                m = self.state.setdefault("m/" + key, np.zeros_like(g))
                m *= self.momentum
                m += g
                params[key] -= lr * m
            else:
                m = self.state.setdefault("m/" + key, np.zeros_like(g))
                v = self.state.setdefault("v/" + key, np.zeros_like(g))
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                m_hat = m / (1 - b1 ** self.steps)
                v_hat = v / (1 - b2 ** self.steps)
                params[key] -= lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"optim/" + k: v for k, v in self.state.items()} | {"optim_steps": np.array(self.steps)}

    def load_state_dict(self, data: dict[str, np.ndarray]) -> None:
        self.state = {k[6:]: np.array(v) for k, v in data.items() if k.startswith("optim/")}
        self.steps = int(data["optim_steps"])


def schedule(kind: str, base: float, epoch: int, epochs: int, step_size: int = 10, gamma: float = 0.1) -> float:
    """The learning rate of an epoch: constant, step decay or cosine annealing."""
    if kind in ("", "constant", "none"):
        return base
    if kind == "step":
        return base * gamma ** (epoch // step_size)
    if kind == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / max(1, epochs)))
    raise ValueError(f"unknown schedule '{kind}'; choose step or cosine")


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    probs = e / e.sum(axis=1, keepdims=True)
    n = len(labels)
    loss = float(-np.log(probs[np.arange(n), labels] + 1e-300).mean())
    grad = probs.copy()
    grad[np.arange(n), labels] -= 1
    return loss, grad / n


def loss_and_grads(kind: str, readout: str, Z: np.ndarray, U: np.ndarray | None, labels: np.ndarray,
                   targets: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray | None, np.ndarray]:
    """Loss, dL/dz (T, B, N), dL/du (T, B, N) or None, and the logits used for accuracy.

    ``kind``: cross_entropy or mse; ``readout``: spike_count, max_membrane, rate or spike_train.
    """
    T = Z.shape[0]
    if readout in ("spike_count", "rate"):
        scale = 1.0 if readout == "spike_count" else 1.0 / T
        logits = Z.sum(axis=0) * scale
        if kind == "cross_entropy":
            loss, g = softmax_cross_entropy(logits, labels)
        else:
            goal = targets if targets is not None else np.eye(Z.shape[2])[labels]
            diff = logits - goal
            loss, g = float((diff ** 2).mean()), 2 * diff / diff.size
        return loss, np.broadcast_to(g * scale, Z.shape), None, logits
    if readout == "max_membrane":
        if U is None:
            raise ValueError("max_membrane needs the output's membrane")
        idx = U.argmax(axis=0)
        logits = np.take_along_axis(U, idx[None], axis=0)[0]
        if kind == "cross_entropy":
            loss, g = softmax_cross_entropy(logits, labels)
        else:
            goal = np.eye(Z.shape[2])[labels]
            diff = logits - goal
            loss, g = float((diff ** 2).mean()), 2 * diff / diff.size
        gu = np.zeros_like(U)
        np.put_along_axis(gu, idx[None], g[None], axis=0)
        return loss, np.zeros_like(Z), gu, logits
    if readout == "spike_train":
        if targets is None:
            raise ValueError("mse(spike_train(...)) needs target spike trains")
        diff = Z - targets
        return float((diff ** 2).mean()), 2 * diff / diff.size, None, Z.sum(axis=0)
    raise ValueError(f"unknown readout '{readout}'; choose spike_count, max_membrane, rate or spike_train")
