"""Data sets and input encoders for training.

``digits(test_fraction, seed)``: scikit-learn's bundled 8x8 digits (1797 samples,
no download), pixels scaled to [0, 1], a stratified split. ``npz("file.npz")``:
arrays X and y, optionally X_test and y_test (else a stratified split).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def load(name: str, kwargs: dict, base: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    fraction = float(kwargs.get("test_fraction", 0.25))
    seed = int(kwargs.get("seed", 0))
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        X, y = digits.data / 16.0, digits.target
    elif name == "npz":
        path = Path(kwargs["file"])
        path = path if path.is_absolute() else base / path
        with np.load(path) as data:
            X, y = data["X"].reshape(len(data["X"]), -1).astype(float), data["y"].astype(int)
            if "X_test" in data.files:
                Xt = data["X_test"].reshape(len(data["X_test"]), -1).astype(float)
                return X, y, Xt, data["y_test"].astype(int)
    else:
        raise ValueError(f"unknown data set '{name}'; choose digits(...) or npz(file = \"...\")")
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=fraction, stratify=y, random_state=seed)
    return X_train, y_train, X_test, y_test


def encode(kind: str, X: np.ndarray, steps: int, rng: np.random.Generator, kwargs: dict) -> np.ndarray:
    """Input spikes (steps, batch, features) for values X (batch, features) in [0, 1]."""
    if kind == "poisson":  # Bernoulli rate coding: a spike with probability x at every step
        gain = float(kwargs.get("gain", 1.0))
        return (rng.random((steps,) + X.shape) < np.clip(X * gain, 0, 1)).astype(float)
    if kind == "latency":  # one spike per feature, earlier for larger values; none for zeros
        tau = float(kwargs.get("tau", steps - 1))
        threshold = float(kwargs.get("threshold", 0.01))
        t = np.where(X > threshold, np.round((1 - X) * tau), steps).astype(int)
        out = np.zeros((steps,) + X.shape)
        b, f = np.nonzero(t < steps)
        out[t[b, f], b, f] = 1.0
        return out
    if kind == "current":  # direct coding: the value itself at every step
        return np.broadcast_to(X, (steps,) + X.shape).astype(float)
    raise ValueError(f"unknown encoder '{kind}'; choose poisson, latency or current")
