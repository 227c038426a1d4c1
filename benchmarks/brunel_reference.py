"""Brunel (2000), model A, written by hand in NumPy: the reference of specs/brunel.snn.

The same network and the same step order as snnlang's (docs/semantics.md): in each step, the
spikes emitted D steps ago arrive (v += J or -g J for each synapse) together with the external
drive (J times a Poisson count of mean C_ext nu_ext dt per neuron), then v decays exactly
(v *= exp(-dt / tau)) unless the neuron is refractory, then the neurons at or above theta spike,
are reset to V_r and are refractory for the next round(t_ref / dt) steps. Its random numbers are
NumPy's own (``default_rng``): connectivity, initial potentials and the drive are drawn
independently of snnlang's, so the two agree in statistics (rates, CV of interspike intervals),
not spike for spike.

    from brunel_reference import simulate
    spikes = simulate(n_exc=8000, n_inh=2000, duration=1.0)   # (times in s, neuron indices)
"""
from __future__ import annotations

import numpy as np


def simulate(n_exc: int = 8000, n_inh: int = 2000, c_exc: int = 800, c_inh: int = 200, c_ext: int = 800,
             nu_ext: float = 25.0, J: float = 0.1e-3, g: float = 5.0, D: float = 1.5e-3, tau: float = 20e-3,
             theta: float = 20e-3, V_r: float = 10e-3, t_ref: float = 2e-3, dt: float = 1e-4,
             duration: float = 1.0, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s) and neuron indices (excitatory 0 ... n_exc - 1, then inhibitory)."""
    rng = np.random.default_rng(seed)
    n = n_exc + n_inh
    steps, delay, ref_steps = int(round(duration / dt)), int(round(D / dt)), int(round(t_ref / dt))
    decay = np.exp(-dt / tau)

    # each neuron's presynaptic partners, drawn with repeats (fixed indegree); stored as the
    # targets of each presynaptic neuron (CSR) with the weight of its kind
    post = np.repeat(np.arange(n), c_exc + c_inh)
    pre = np.concatenate([rng.integers(0, n_exc, size=(n, c_exc)), n_exc + rng.integers(0, n_inh, size=(n, c_inh))],
                         axis=1).ravel()
    order = np.argsort(pre, kind="stable")
    targets = post[order]
    start = np.searchsorted(pre[order], np.arange(n + 1))
    weight = np.where(np.arange(n) < n_exc, J, -g * J)

    v = rng.uniform(0.0, theta, n)
    refractory_until = np.full(n, -1)  # the last step of each neuron's refractory period
    arriving = np.zeros((delay + 1, n))  # kicks due in the next steps, a ring by step
    times, indices = [], []
    mean_ext = c_ext * nu_ext * dt
    for step in range(steps):
        slot = step % (delay + 1)
        v += arriving[slot] + J * rng.poisson(mean_ext, n)  # spikes emitted D ago, and the external drive
        arriving[slot] = 0.0
        free = refractory_until < step
        v[free] *= decay  # exact decay, held while refractory
        spiked = np.flatnonzero(free & (v >= theta))
        if spiked.size:
            v[spiked] = V_r
            refractory_until[spiked] = step + ref_steps
            times.append(np.full(spiked.size, step))
            indices.append(spiked)
            hit = np.concatenate([targets[start[k]:start[k + 1]] for k in spiked])
            kick = np.repeat(weight[spiked], start[spiked + 1] - start[spiked])
            arriving[(step + delay) % (delay + 1)] += np.bincount(hit, weights=kick, minlength=n)
    if not times:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    return np.concatenate(times) * dt, np.concatenate(indices)


def rates_and_cv(times: np.ndarray, indices: np.ndarray, n: int, duration: float, skip: float = 0.1) -> tuple[float, float]:
    """The mean rate (Hz) after ``skip`` seconds, and the mean CV of the interspike intervals of the
    neurons with at least 3 spikes then."""
    keep = times >= skip
    t, i = times[keep], indices[keep]
    rate = t.size / n / (duration - skip)
    order = np.lexsort((t, i))
    t, i = t[order], i[order]
    same = i[1:] == i[:-1]
    isi, who = np.diff(t)[same], i[1:][same]
    counts = np.bincount(who, minlength=n)
    ok = counts >= 2
    mean = np.bincount(who, weights=isi, minlength=n)[ok] / counts[ok]
    var = np.bincount(who, weights=isi**2, minlength=n)[ok] / counts[ok] - mean**2
    cv = np.sqrt(np.maximum(var, 0)) / mean
    return rate, float(cv.mean()) if cv.size else float("nan")
