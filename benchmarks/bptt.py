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
``--speed``
    Seconds per training epoch (encoding, forward, backward, Adam; 22 batches of 64; no
    evaluation) of the digits MLP in float32, in one run: snnlang's generated trainer
    (specs/digits_bptt_float32.snn), the hand-written NumPy BPTT benchmarks/bptt_reference.py,
    and snnTorch (benchmarks/snntorch_digits.py) with torch.set_num_threads(1) and (2), each in a
    worker process of its own, stepped one epoch each in turn (the order rotating every round)
    so that all see the same load. snnTorch runs in the interpreter given by --torch-python (or
    SNNLANG_TORCH_PYTHON; skipped when neither is given or torch is missing there). NumPy's BLAS
    runs on one thread in the NumPy workers. Printed: per variant the best and the median epoch
    over the rounds (the first round, a warm-up, dropped), CPU seconds, the ratios (best against
    best, and the median of the per-round ratios) and the load average over the run. ``--float64``
    adds snnlang and the reference in float64 (specs/digits_bptt.snn).

    python benchmarks/bptt.py --digits --seeds 0 1 2
    python benchmarks/bptt.py --neurons --convert --events
    python benchmarks/bptt.py --all --json benchmarks/results_training.json
    python benchmarks/bptt.py --speed --torch-python /tmp/torchvenv/bin/python --rounds 12
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
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
        """dL/dI[n] of a layer given e[n] = dL/dz[n] from outside.

        dL/du[n] = sg[n] e[n] + beta (1 - thr sg[n]) dL/du[n + 1], and dL/dI[n] = dL/du[n]
        (the order of operations of snnlang's generated code, so that the results agree bit for bit).
        """
        T = u.shape[0]
        sg = np.abs(u - self.thr)
        sg *= self.slope
        sg += 1.0
        np.square(sg, out=sg)
        np.reciprocal(sg, out=sg)
        M = sg * self.thr
        np.subtract(1.0, M, out=M)
        M *= self.beta
        F = e * sg
        gI = np.empty_like(u)
        gI[T - 1] = F[T - 1]
        for n in range(T - 2, -1, -1):
            np.multiply(M[n], gI[n + 1], out=gI[n])
            gI[n] += F[n]
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


# --------------------------------------------------------------------------- speed, one run
class SnnlangEpochs:
    """snnlang's generated trainer: the loop of Trainer.run_epoch without its evaluation."""

    def __init__(self, seed: int, spec: str):
        self.tr = trainer_for(SPECS / spec, seed)

    def epoch(self, k: int) -> None:
        tr = self.tr
        rng = np.random.default_rng([tr.seed, 0, k])
        order = rng.permutation(len(tr.y))
        for i in range(0, len(order), tr.batch):
            idx = order[i:i + tr.batch]
            tr.train_batch(tr.X[idx], tr.y[idx], rng, tr.lr(k))


class ReferenceEpochs:
    """benchmarks/bptt_reference.py: the epoch of its ``train`` (permutation, encoding, gradients, Adam)."""

    def __init__(self, seed: int, dtype: str):
        import bptt_reference as ref

        self.ref, self.dtype = ref, np.dtype(dtype).type
        self.X, _, self.y, _ = ref.load_data()
        self.rng = np.random.default_rng(seed)
        self.params = ref.init_params(self.rng, (self.X.shape[1], ref.HIDDEN, 10), self.dtype)
        self.opt = ref.Adam(self.params)

    def epoch(self, k: int) -> None:
        ref, n = self.ref, len(self.X)
        perm = self.rng.permutation(n)
        for i in range(0, n, ref.BATCH):
            idx = perm[i:i + ref.BATCH]
            xs = ref.rate_encode(self.rng, self.X[idx], ref.T_STEPS, self.dtype)
            _, grads = ref.gradients(self.params, xs, self.y[idx])
            self.opt.step(self.params, grads)


def speed_worker(kind: str, seed: int) -> int:
    """The line protocol of snntorch_digits.py's workers: a JSON line when ready, one per ``epoch K``."""
    with blas_one_thread():
        run = {"snnlang": lambda: SnnlangEpochs(seed, "digits_bptt_float32.snn"),
               "snnlang-float64": lambda: SnnlangEpochs(seed, "digits_bptt.snn"),
               "reference": lambda: ReferenceEpochs(seed, "float32"),
               "reference-float64": lambda: ReferenceEpochs(seed, "float64")}[kind]()
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            wall, cpu = time.perf_counter(), time.process_time()
            run.epoch(int(cmd[1]))
            print(json.dumps({"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}),
                  flush=True)
    return 0


def torch_python(given: str | None) -> str | None:
    """The interpreter with torch and snntorch (--torch-python, SNNLANG_TORCH_PYTHON), if it has them."""
    python = given or os.environ.get("SNNLANG_TORCH_PYTHON")
    if not python:
        return None
    ok = subprocess.run([python, "-c", "import torch, snntorch"], capture_output=True).returncode == 0
    return python if ok else None


def versions(python: str | None) -> dict:
    import platform

    v = {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count()}
    if python:
        out = subprocess.run([python, "-c", "import torch, snntorch; print(torch.__version__, snntorch.__version__)"],
                             capture_output=True, text=True).stdout.split()
        v["torch"], v["snntorch"] = out if len(out) == 2 else (None, None)
    return v


def speed(rounds: int, seed: int, python: str | None, float64: bool) -> dict:
    """All variants one epoch each in turn, ``rounds`` times; figures and ratios of one run."""
    me, other = str(Path(__file__).resolve()), str(ROOT / "benchmarks" / "snntorch_digits.py")
    commands = {"snnlang": [sys.executable, me, "--worker", "snnlang"],
                "reference": [sys.executable, me, "--worker", "reference"]}
    if float64:
        commands["snnlang-float64"] = [sys.executable, me, "--worker", "snnlang-float64"]
        commands["reference-float64"] = [sys.executable, me, "--worker", "reference-float64"]
    if python:
        for threads in (1, 2):
            commands[f"snntorch-{threads}t"] = [python, other, "--worker", "snntorch", "--threads", str(threads)]
    procs = {}
    for name, command in commands.items():
        procs[name] = subprocess.Popen(command + ["--seed", str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, cwd=ROOT)
        json.loads(procs[name].stdout.readline())  # ready
    names = list(procs)
    hist = {name: [] for name in names}
    loads = [os.getloadavg()[0]]
    for k in range(rounds):
        for name in names[k % len(names):] + names[:k % len(names)]:  # who goes first rotates
            p = procs[name]
            p.stdin.write(f"epoch {k} noeval\n")
            p.stdin.flush()
            hist[name].append(json.loads(p.stdout.readline()))
        loads.append(os.getloadavg()[0])
        print(f"round {k + 1:2d} (load {loads[-1]:4.2f}): "
              + "  ".join(f"{n} {hist[n][-1]['seconds']:.4f}" for n in names), flush=True)
    for p in procs.values():
        p.stdin.write("quit\n")
        p.stdin.flush()
        p.wait()
    kept = {n: h[1:] if len(h) > 1 else h for n, h in hist.items()}  # the first round warms up
    res = {n: {"best_s": min(r["seconds"] for r in h), "median_s": float(np.median([r["seconds"] for r in h])),
               "median_cpu_s": float(np.median([r["cpu_seconds"] for r in h])), "epochs": h} for n, h in kept.items()}
    for n in names:
        if n != "snnlang":
            res[n]["ratio_best"] = res[n]["best_s"] / res["snnlang"]["best_s"]
            res[n]["ratio_median"] = float(np.median([a["seconds"] / b["seconds"]
                                                      for a, b in zip(kept[n], kept["snnlang"])]))
    out = {"rounds": rounds, "seed": seed, "load_min": min(loads), "load_max": max(loads), "versions": versions(python),
           "variants": res, "snntorch": "measured" if python else "not measured (no --torch-python with torch)"}
    print(f"\nseconds per training epoch (22 batches of 64, float32 unless named), best and median of "
          f"{len(kept['snnlang'])} rounds; load average {min(loads):.2f}-{max(loads):.2f} on {os.cpu_count()} cores")
    print(f"{'variant':20s} {'best s':>8s} {'median s':>9s} {'CPU s':>7s}   {'x snnlang (best)':>16s} {'(median)':>9s}")
    for n in names:
        r = res[n]
        ratio = f"{r['ratio_best']:16.2f} {r['ratio_median']:9.2f}" if n != "snnlang" else f"{'1':>16s} {'1':>9s}"
        print(f"{n:20s} {r['best_s']:8.4f} {r['median_s']:9.4f} {r['median_cpu_s']:7.4f}   {ratio}")
    if not python:
        print("snnTorch: not measured (give --torch-python, an interpreter with torch and snntorch)")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--digits", action="store_true")
    ap.add_argument("--reference", action="store_true")
    ap.add_argument("--neurons", action="store_true")
    ap.add_argument("--convert", action="store_true")
    ap.add_argument("--events", action="store_true")
    ap.add_argument("--edge", action="store_true")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--speed", action="store_true", help="epoch seconds of snnlang, the reference and snnTorch")
    ap.add_argument("--rounds", type=int, default=12, help="--speed: epochs per variant (the first is a warm-up)")
    ap.add_argument("--float64", action="store_true", help="--speed: snnlang and the reference in float64 too")
    ap.add_argument("--torch-python", help="--speed: an interpreter with torch and snntorch")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    if args.worker:
        return speed_worker(args.worker, args.seed)
    if not any((args.digits, args.reference, args.neurons, args.convert, args.events, args.edge, args.all, args.speed)):
        args.digits = True
    results = {}
    if args.speed:
        python = torch_python(args.torch_python)
        if args.torch_python and not python:
            print(f"{args.torch_python}: cannot import torch and snntorch; snnTorch is not measured", flush=True)
        results["speed"] = speed(args.rounds, args.seeds[0], python, args.float64)
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
