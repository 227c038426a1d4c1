#!/usr/bin/env python3
"""Training benchmarks of issue 5: snnlang's generated BPTT against a hand-written one, other
neurons, ANN-to-SNN conversion and the event-camera classifier.

Measures (figures in benchmarks/TRAINING.md):

``--digits`` (default)
    specs/digits_bptt.snn: 64-128-10 LIF (beta 0.9, reset by subtraction), T = 25, batch 64,
    Adam 1e-3, 30 epochs, Bernoulli rate coding, cross-entropy on spike counts, seeds 0 1 2.
    In the same process, epoch by epoch in turn (so both see the same machine load), a
    hand-written layer-at-a-time NumPy BPTT of the very same network and semantics (one
    step per connection), fed the same initial weights, batches and input spikes: its
    accuracy must agree, and the ratio of the seconds per epoch is snnlang's overhead.
    BLAS runs on one thread for both (SNNLANG_BLAS_THREADS; see docs/training.md).
``--reference``
    benchmarks/bptt_reference.py (same-step layers, its own protocol), for its accuracy.
``--neurons``
    the same network with ALIF (specs/digits_alif.snn), Izhikevich (digits_izhikevich.snn)
    and the continuous LIF with exact integration (digits_lif.snn).
``--convert``
    specs/digits_convert.snn: ANN accuracy and SNN accuracy at T = 10, 20, 50, 100.
``--events``
    specs/events_digits.snn: the emulated event camera.

    python benchmarks/bptt.py --digits --seeds 0 1 2
    python benchmarks/bptt.py --neurons --convert --events
    python benchmarks/bptt.py --all --json benchmarks/results_training.json

snnTorch is not installed here (no torch); the comparison with it is not made.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
sys.path.insert(0, str(ROOT / "benchmarks"))


# --------------------------------------------------------------------------- hand-written BPTT
class HandWritten:
    """Layer-at-a-time NumPy BPTT of x -> hidden -> out, discrete LIF, snnlang's step order.

    I_l[n] = b_l + z_{l-1}[n-1] W_l (nothing from below at n = 0)
    v = beta v + I_l[n];  z = H(v - thr);  v -= thr z   (reset by subtraction, not detached)
    dH/dv -> 1 / (slope |v - thr| + 1)^2.  Weights (n_pre, n_post) as the simulator's.
    """

    def __init__(self, W1, b1, W2, b2, beta=0.9, thr=1.0, slope=25.0):
        self.p = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
        self.beta, self.thr, self.slope = beta, thr, slope
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.t = 0

    def layer(self, I):
        T = I.shape[0]
        u = np.empty_like(I)
        z = np.empty_like(I)
        v = np.zeros_like(I[0])
        for n in range(T):
            np.multiply(v, self.beta, out=v)
            v += I[n]
            u[n] = v
            np.greater_equal(v, self.thr, out=z[n], casting="unsafe")
            v -= self.thr * z[n]
        return u, z

    def inputs(self, s, W, b):
        T, B, n_in = s.shape
        I = np.empty((T, B, W.shape[1]))
        I[0] = b
        np.matmul(s[:-1].reshape(-1, n_in), W, out=I[1:].reshape(-1, W.shape[1]))
        I[1:] += b
        return I

    def forward(self, x):
        p = self.p
        u1, z1 = self.layer(self.inputs(x, p["W1"], p["b1"]))
        u2, z2 = self.layer(self.inputs(z1, p["W2"], p["b2"]))
        return u1, z1, u2, z2

    def back_layer(self, u, e):
        """dL/dI[n] of a layer given e[n] = dL/dz[n] from outside."""
        T = u.shape[0]
        sg = np.abs(u - self.thr)
        sg *= self.slope
        sg += 1.0
        np.square(sg, out=sg)
        np.reciprocal(sg, out=sg)
        gI = np.empty_like(u)
        g = np.zeros_like(u[0])  # dL/dv after step n (after the reset)
        for n in range(T - 1, -1, -1):
            gz = e[n] - self.thr * g
            gu = g + gz * sg[n]
            gI[n] = gu
            g = self.beta * gu
        return gI

    def step(self, x, y, lr=1e-3):
        p = self.p
        u1, z1, u2, z2 = self.forward(x)
        counts = z2.sum(0)
        shifted = counts - counts.max(1, keepdims=True)
        e = np.exp(shifted)
        prob = e / e.sum(1, keepdims=True)
        B = len(y)
        loss = float(-np.log(prob[np.arange(B), y]).mean())
        g = prob
        g[np.arange(B), y] -= 1
        g /= B
        T = x.shape[0]
        gI2 = self.back_layer(u2, np.broadcast_to(g, u2.shape))
        e1 = np.zeros_like(u1)
        e1[:-1] = (gI2[1:].reshape(-1, gI2.shape[2]) @ p["W2"].T).reshape(T - 1, B, -1)
        gI1 = self.back_layer(u1, e1)
        grads = {"W1": x[:-1].reshape(-1, x.shape[2]).T @ gI1[1:].reshape(-1, gI1.shape[2]),
                 "b1": gI1.sum((0, 1)),
                 "W2": z1[:-1].reshape(-1, z1.shape[2]).T @ gI2[1:].reshape(-1, gI2.shape[2]),
                 "b2": gI2.sum((0, 1))}
        self.adam(grads, lr)
        return loss, counts

    def adam(self, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.t += 1
        for k in sorted(grads):
            g = grads[k]
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            self.p[k] -= (lr / (1 - b1 ** self.t)) * m / (np.sqrt(v / (1 - b2 ** self.t)) + eps)

    def evaluate(self, X, y, seed, T=25, chunk=256):
        rng = np.random.default_rng([seed, 1])
        correct = 0
        for k in range(0, len(y), chunk):
            Xb = X[k:k + chunk]
            x = (rng.random((T,) + Xb.shape) < np.clip(Xb, 0, 1)).astype(float)
            counts = self.forward(x)[3].sum(0)
            correct += int((counts.argmax(1) == y[k:k + chunk]).sum())
        return correct / len(y)


# --------------------------------------------------------------------------- measures
def blas_one_thread():
    from snnlang.training import blas_threads

    return blas_threads()


def trainer_for(spec: Path, seed: int):
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    model, block = load_block(spec)
    return Trainer(spec, model, block, seed)


def digits(seeds, epochs: int, verbose: bool = True) -> dict:
    """snnlang and the hand-written BPTT, epoch by epoch in turn, for each seed."""
    rows = []
    for seed in seeds:
        tr = trainer_for(SPECS / "digits_bptt.snn", seed)
        tr.epochs = epochs
        W, b = tr.net.W, tr.net.b
        hw = HandWritten(W["x_hidden_w"].copy(), b["hidden_I"].copy(), W["hidden_out_w"].copy(), b["out_I"].copy())
        ours_s, hand_s, same = [], [], 0
        for epoch in range(epochs):
            row = tr.run_epoch(epoch)
            ours_s.append(row["seconds"])
            # the hand-written BPTT: the same permutation and input spikes as snnlang's epoch
            rng = np.random.default_rng([seed, 0, epoch])
            order = rng.permutation(len(tr.y))
            start = time.perf_counter()
            for k in range(0, len(order), tr.batch):
                idx = order[k:k + tr.batch]
                x = (rng.random((tr.steps,) + tr.X[idx].shape) < np.clip(tr.X[idx], 0, 1)).astype(float)
                hw.step(x, tr.y[idx], tr.lr(epoch))
            hand_s.append(time.perf_counter() - start)
            hand_acc = hw.evaluate(tr.X_test, tr.y_test, seed, tr.steps)
            same += hand_acc == row["test_accuracy"]
            if verbose:
                print(f"seed {seed} epoch {epoch + 1:2d}: snnlang {row['test_accuracy'] * 100:6.2f}% {row['seconds']:.3f} s"
                      f" | hand-written {hand_acc * 100:6.2f}% {hand_s[-1]:.3f} s", flush=True)
        drift = max(float(np.abs(tr.net.W["x_hidden_w"] - hw.p["W1"]).max()),
                    float(np.abs(tr.net.W["hidden_out_w"] - hw.p["W2"]).max()))
        rows.append({"seed": seed, "test_accuracy": row["test_accuracy"], "hand_written_accuracy": hand_acc,
                     "epochs_with_equal_accuracy": same, "max_weight_difference": drift,
                     "seconds_per_epoch": float(np.median(ours_s)), "hand_written_seconds_per_epoch": float(np.median(hand_s)),
                     "ratio": float(np.median(ours_s) / np.median(hand_s))})
    accs = [r["test_accuracy"] for r in rows]
    return {"rows": rows, "mean_accuracy": float(np.mean(accs)), "min_accuracy": float(np.min(accs)),
            "median_ratio": float(np.median([r["ratio"] for r in rows]))}


def reference(seeds, epochs: int) -> dict:
    import bptt_reference as ref

    rows = []
    for seed in seeds:
        _, hist, spe = ref.train(seed, epochs, verbose=False, eval_every=0)
        rows.append({"seed": seed, "test_accuracy": hist[-1]["test_acc"], "seconds_per_epoch": spe})
        print(f"bptt_reference seed {seed}: {hist[-1]['test_acc'] * 100:.2f}% ({spe:.3f} s/epoch)", flush=True)
    return {"rows": rows, "mean_accuracy": float(np.mean([r["test_accuracy"] for r in rows]))}


def spec_accuracy(name: str, seeds, epochs=None) -> dict:
    from snnlang.training.bptt import train_bptt
    from snnlang.training.package import load_block
    import tempfile

    rows = []
    for seed in seeds:
        spec = SPECS / f"{name}.snn"
        model, block = load_block(spec)
        with tempfile.TemporaryDirectory() as out:
            m = train_bptt(spec, model, block, Path(out), epochs=epochs, seed=seed)
        rows.append({"seed": seed, "test_accuracy": m["test_accuracy"],
                     "best_test_accuracy": max(e["test_accuracy"] for e in m["epochs"]),
                     "seconds_per_epoch": float(np.median([e["seconds"] for e in m["epochs"]])),
                     "synops_per_sample": m["synops_per_sample"], "spikes_per_sample": m["spikes_per_sample"],
                     "test_accuracy_8bit": m["test_accuracy_8bit"]})
        print(f"{name} seed {seed}: {m['test_accuracy'] * 100:.2f}% (8-bit {m['test_accuracy_8bit'] * 100:.2f}%), "
              f"{rows[-1]['seconds_per_epoch']:.3f} s/epoch", flush=True)
    return {"rows": rows, "mean_accuracy": float(np.mean([r["test_accuracy"] for r in rows]))}


def convert(seeds) -> dict:
    from snnlang.training.convert import train_convert
    from snnlang.training.package import load_block
    import tempfile

    rows = []
    for seed in seeds:
        spec = SPECS / "digits_convert.snn"
        model, block = load_block(spec)
        with tempfile.TemporaryDirectory() as out:
            m = train_convert(spec, model, block, Path(out), seed=seed)
        rows.append({"seed": seed, "ann": m["ann_test_accuracy"], "snn": m["snn"]})
        print(f"convert seed {seed}: ANN {m['ann_test_accuracy'] * 100:.2f}% | "
              + "  ".join(f"T={r['T']}: {r['test_accuracy'] * 100:.2f}%" for r in m["snn"]), flush=True)
    return {"rows": rows}


def edge(seed=0) -> dict:
    """The trained digits network with fewer steps, higher thresholds and 8-bit weights."""
    from snnlang.training.bptt import train_bptt
    from snnlang.training.package import load_block
    import tempfile

    spec = SPECS / "digits_bptt.snn"
    model, block = load_block(spec)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        train_bptt(spec, model, block, Path(out), seed=seed)
        tr = trainer_for(spec, seed)
        tr.net.load_arrays(Path(out) / "weights.npz")
        for label, kw in [("as trained (T = 25)", {}), ("8-bit weights", {"bits": 8}), ("4-bit weights", {"bits": 4}),
                          ("T = 15", {"steps": 15}), ("T = 10", {"steps": 10}),
                          ("thr = 1.25", {"params": {"thr": 1.25}}), ("thr = 1.5", {"params": {"thr": 1.5}}),
                          ("T = 15, thr = 1.25, 8-bit", {"steps": 15, "params": {"thr": 1.25}, "bits": 8})]:
            r = tr.evaluate(0, **kw)
            rows.append({"setting": label, "accuracy": r["accuracy"], "synops_per_sample": r["synops_per_sample"],
                         "spikes_per_sample": r["spikes_per_sample"]})
            print(f"edge {label:30s} {r['accuracy'] * 100:6.2f}%  {r['synops_per_sample']:9.0f} SynOps  "
                  f"{r['spikes_per_sample']:7.1f} spikes per sample", flush=True)
    return {"rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--digits", action="store_true")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--neurons", action="store_true")
    ap.add_argument("--convert", action="store_true")
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--edge", action="store_true")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if not any((args.digits, args.reference, args.neurons, args.convert, args.events, args.edge, args.all)):
        args.digits = True
    results = {}
    try:
        import snntorch  # noqa: F401

        results["snntorch"] = "installed, but not benchmarked by this script"
    except ImportError:
        results["snntorch"] = "not installed (needs torch): no comparison"
    with blas_one_thread():
        if args.digits or args.all:
            results["digits"] = digits(args.seeds, args.epochs)
            d = results["digits"]
            print(f"digits: mean {d['mean_accuracy'] * 100:.2f}%, min {d['min_accuracy'] * 100:.2f}%, "
                  f"median time ratio snnlang / hand-written {d['median_ratio']:.2f}", flush=True)
        if args.reference or args.all:
            results["reference"] = reference(args.seeds, args.epochs)
        if args.neurons or args.all:
            results["neurons"] = {name: spec_accuracy(name, args.seeds[:1])
                                  for name in ("digits_alif", "digits_izhikevich", "digits_lif")}
        if args.convert or args.all:
            results["convert"] = convert(args.seeds[:1])
        if args.events or args.all:
            results["events"] = spec_accuracy("events_digits", args.seeds[:1])
        if args.edge or args.all:
            results["edge"] = edge(args.seeds[0])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
