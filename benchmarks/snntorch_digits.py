#!/usr/bin/env python3
"""snnTorch baseline of issue 5: the digits network of specs/digits_bptt.snn written with snnTorch,
timed against snnlang's generated trainer on the same machine at the same time.

Network and protocol (as in benchmarks/TRAINING.md)
    scikit-learn digits, X = data / 16, ``train_test_split(test_size=0.25, stratify=y,
    random_state=0)`` (1347 / 450); nn.Linear(64, 128) -> snn.Leaky -> nn.Linear(128, 10) ->
    snn.Leaky, biases, PyTorch's default init; ``snn.Leaky(beta=0.9, threshold=1.0,
    spike_grad=surrogate.fast_sigmoid(slope=25), reset_mechanism="subtract")``; T = 25; rate
    coding ``spikegen.rate`` (Bernoulli(pixel / 16) each step, drawn afresh for every batch);
    loss = cross-entropy on the output spike counts; Adam lr 1e-3; batch 64 (the last, partial
    batch kept), training set shuffled every epoch; 30 epochs; float32.  The loop over time is
    the one of snnTorch's tutorials (both layers called once per step).  ``torch.manual_seed(seed)``
    drives the init, the shuffles and the training spikes; the test set is encoded once per
    evaluation from a generator seeded by ``1000 * seed + 1`` (the same spikes every epoch).

Seconds per epoch are those of the training loop only (encoding, forward, backward, Adam),
as snnlang's ``run_epoch`` reports them; the evaluation on the 450 test samples is excluded.
Wall time (time.perf_counter) and CPU time of the process (time.process_time: all its threads)
are both measured, since the 2-core development machine is shared with other jobs.

Neuron differences (they do not matter for timing): snnTorch's Leaky decides the reset from
the previous step's membrane and subtracts the threshold undecayed (u[t] = beta u[t-1] + I[t]
- thr H(u[t-1] - thr)), fires on u > thr, and detaches the reset from the graph; the spec's
neuron resets in the same step (v -= thr after the spike, so the next step sees beta * thr
removed), fires on v >= thr and differentiates through the reset.  snnTorch delivers the
hidden layer's spikes to the output layer within the same step; snnlang's connections deliver
the previous step's spikes.  This script computes in float32, snnlang in float64 (digits_bptt.snn)
or float32 (--snnlang-spec digits_bptt_float32.snn).

Usage (snnTorch needs its own environment; the project's has no torch)

    python3 -m venv /tmp/sntvenv
    /tmp/sntvenv/bin/pip install torch==2.13.0      # the CPU build
    /tmp/sntvenv/bin/pip install snntorch scikit-learn

    # snnTorch alone
    /tmp/sntvenv/bin/python benchmarks/snntorch_digits.py --seeds 0 --epochs 30 --threads 1

    # the comparison: snnTorch with 1 thread, snnTorch with torch's default threads and
    # snnlang (run by --snnlang-python, the project's interpreter) as three worker processes,
    # stepped one epoch each in turn (the order rotating every epoch), so that all three see
    # the same load
    /tmp/sntvenv/bin/python benchmarks/snntorch_digits.py --alternate --seeds 0 1 2 --epochs 30 \\
        --snnlang-python python --json /tmp/snntorch_digits.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS, BATCH, LR = 25, 64, 1e-3


# --------------------------------------------------------------------------- snnTorch
def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    return train_test_split(d.data / 16.0, d.target, test_size=0.25, stratify=d.target, random_state=0)


class SnnTorchRun:
    """One seed of the snnTorch network; ``epoch(k)`` trains one epoch and evaluates."""

    def __init__(self, seed: int, threads: int):
        import torch
        import torch.nn as nn
        import snntorch as snn
        from snntorch import surrogate

        if threads > 0:
            torch.set_num_threads(threads)
        self.torch = torch
        self.threads = torch.get_num_threads()
        torch.manual_seed(seed)
        X, Xt, y, yt = digits_split()
        f32 = torch.float32
        self.X, self.y = torch.tensor(X, dtype=f32), torch.tensor(y, dtype=torch.long)
        self.Xt, self.yt = torch.tensor(Xt, dtype=f32), torch.tensor(yt, dtype=torch.long)
        self.seed = seed

        grad = surrogate.fast_sigmoid(slope=25)

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc1 = nn.Linear(64, 128)
                self.lif1 = snn.Leaky(beta=0.9, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")
                self.fc2 = nn.Linear(128, 10)
                self.lif2 = snn.Leaky(beta=0.9, threshold=1.0, spike_grad=grad, reset_mechanism="subtract")

            def forward(self, x):  # x: (T, B, 64) -> output spike counts (B, 10)
                mem1 = self.lif1.init_leaky()
                mem2 = self.lif2.init_leaky()
                spk2_rec = []
                for t in range(x.shape[0]):
                    spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
                    spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                    spk2_rec.append(spk2)
                return torch.stack(spk2_rec).sum(0)

        self.net = Net()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=LR)
        self.loss_fn = nn.CrossEntropyLoss()

    def epoch(self, k: int, evaluate: bool = True) -> dict:
        from snntorch import spikegen

        torch = self.torch
        self.net.train()
        order = torch.randperm(len(self.y))
        total, correct = 0.0, 0
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            x = spikegen.rate(self.X[idx], num_steps=STEPS)
            counts = self.net(x)
            loss = self.loss_fn(counts, self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            total += loss.item() * len(idx)
            correct += int((counts.argmax(1) == self.y[idx]).sum())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"epoch": k + 1, "loss": total / len(self.y), "train_accuracy": correct / len(self.y),
                "test_accuracy": self.evaluate() if evaluate else None, "seconds": wall, "cpu_seconds": cpu}

    def evaluate(self, draws: int = 1) -> float:
        torch = self.torch
        self.net.eval()
        g = torch.Generator().manual_seed(1000 * self.seed + 1)
        right = 0
        with torch.no_grad():
            for _ in range(draws):
                x = torch.bernoulli(self.Xt.clamp(0, 1).expand(STEPS, *self.Xt.shape), generator=g)
                right += int((self.net(x).argmax(1) == self.yt).sum())
        return right / (draws * len(self.yt))


# --------------------------------------------------------------------------- snnlang
class SnnlangRun:
    """snnlang's generated trainer for specs/digits_bptt.snn, the loop of Trainer.run_epoch,
    timed for wall and CPU (run_epoch itself reports wall time only)."""

    def __init__(self, seed: int, spec: str = "digits_bptt.snn"):
        sys.path.insert(0, str(ROOT))
        import numpy as np
        from snnlang.training import blas_threads
        from snnlang.training.bptt import Trainer
        from snnlang.training.package import load_block

        self.np = np
        self.blas = blas_threads()  # the trainer's default: BLAS on one thread
        self.blas.__enter__()
        spec = ROOT / "specs" / spec
        model, block = load_block(spec)
        self.tr = Trainer(spec, model, block, seed)
        self.threads = int(os.environ.get("SNNLANG_BLAS_THREADS", "1") or 0)

    def epoch(self, k: int, evaluate: bool = True) -> dict:
        tr, np = self.tr, self.np
        rng = np.random.default_rng([tr.seed, 0, k])
        lr = tr.lr(k)
        order = rng.permutation(len(tr.y))
        total, correct = 0.0, 0
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(order), tr.batch):
            idx = order[i:i + tr.batch]
            loss, right = tr.train_batch(tr.X[idx], tr.y[idx], rng, lr)
            total += loss * len(idx)
            correct += right
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"epoch": k + 1, "loss": total / len(tr.y), "train_accuracy": correct / len(tr.y),
                "test_accuracy": tr.evaluate(k)["accuracy"] if evaluate else None, "seconds": wall, "cpu_seconds": cpu}


# --------------------------------------------------------------------------- workers and driver
def worker(kind: str, seed: int, threads: int) -> int:
    """Line protocol: prints one JSON line when ready, then one per ``epoch K`` read on stdin
    (``epoch K noeval``: without the test evaluation; benchmarks/bptt.py --speed uses it)."""
    run = SnnlangRun(seed, os.environ.get("SNNLANG_SPEC", "digits_bptt.snn")) if kind == "snnlang" else SnnTorchRun(seed, threads)
    print(json.dumps({"ready": True, "threads": run.threads}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        print(json.dumps(run.epoch(int(cmd[1]), evaluate="noeval" not in cmd)), flush=True)
    return 0


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def alternate(seeds, epochs: int, snnlang_python: str, variants) -> dict:
    me = str(Path(__file__).resolve())
    specs = {"snntorch-1t": [sys.executable, me, "--worker", "snntorch", "--threads", "1"],
             "snntorch-default": [sys.executable, me, "--worker", "snntorch", "--threads", "0"],
             "snnlang": [snnlang_python, me, "--worker", "snnlang"]}
    names = [v for v in variants if v in specs]
    out = {"seeds": {}}
    for seed in seeds:
        procs, info = {}, {}
        for name in names:
            p = subprocess.Popen(specs[name] + ["--seed", str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, cwd=ROOT)
            info[name] = json.loads(p.stdout.readline())
            procs[name] = p
        hist = {name: [] for name in names}
        for k in range(epochs):
            order = names[k % len(names):] + names[:k % len(names)]  # rotate who goes first
            for name in order:
                p = procs[name]
                p.stdin.write(f"epoch {k}\n")
                p.stdin.flush()
                row = json.loads(p.stdout.readline())
                row["load"] = os.getloadavg()[0]
                hist[name].append(row)
            print(f"seed {seed} epoch {k + 1:2d} (load {os.getloadavg()[0]:4.1f}): " + " | ".join(
                f"{n} loss {hist[n][-1]['loss']:.3f} test {hist[n][-1]['test_accuracy'] * 100:6.2f}% "
                f"{hist[n][-1]['seconds']:.3f} s wall {hist[n][-1]['cpu_seconds']:.3f} s CPU" for n in names), flush=True)
        for p in procs.values():
            p.stdin.write("quit\n")
            p.stdin.flush()
            p.wait()
        res = {}
        for n in names:
            h = hist[n]
            res[n] = {"threads": info[n]["threads"], "test_accuracy": h[-1]["test_accuracy"],
                      "best_test_accuracy": max(r["test_accuracy"] for r in h),
                      "wall_s_per_epoch": median([r["seconds"] for r in h]),
                      "cpu_s_per_epoch": median([r["cpu_seconds"] for r in h]),
                      "epochs": h}
        if "snnlang" in res:
            for n in names:
                if n != "snnlang":
                    # per-epoch ratios of neighbours in time, then their median
                    res[n]["ratio_wall"] = median([a["seconds"] / b["seconds"]
                                                   for a, b in zip(hist[n], hist["snnlang"])])
                    res[n]["ratio_cpu"] = median([a["cpu_seconds"] / b["cpu_seconds"]
                                                  for a, b in zip(hist[n], hist["snnlang"])])
        out["seeds"][seed] = res
        print(f"seed {seed}: " + " | ".join(
            f"{n} ({res[n]['threads']} thr) {res[n]['test_accuracy'] * 100:.2f}% "
            f"{res[n]['wall_s_per_epoch']:.3f} s wall {res[n]['cpu_s_per_epoch']:.3f} s CPU per epoch"
            + (f", snnTorch / snnlang {res[n]['ratio_wall']:.2f} wall {res[n]['ratio_cpu']:.2f} CPU"
               if "ratio_wall" in res[n] else "") for n in names), flush=True)
    return out


def versions(snnlang_python: str) -> dict:
    import platform

    v = {"python": platform.python_version(), "machine": platform.processor() or platform.machine(),
         "cpus": os.cpu_count()}
    try:
        import torch
        import snntorch
        import sklearn
        import numpy

        v.update(torch=torch.__version__, snntorch=snntorch.__version__, sklearn_snntorch_env=sklearn.__version__,
                 numpy_snntorch_env=numpy.__version__, torch_default_threads=torch.get_num_threads())
    except ImportError:
        pass
    try:
        v["snnlang_env"] = subprocess.run(
            [snnlang_python, "-c", "import platform, numpy, sklearn; print(platform.python_version(), "
             "numpy.__version__, sklearn.__version__)"], capture_output=True, text=True, cwd="/").stdout.strip()
    except OSError:
        pass
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seed", type=int, default=0, help="(worker)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="torch threads; 0 = torch's default")
    ap.add_argument("--alternate", action="store_true", help="snnTorch and snnlang in turn, epoch by epoch")
    ap.add_argument("--variants", nargs="+", default=["snntorch-1t", "snntorch-default", "snnlang"])
    ap.add_argument("--snnlang-python", default="python", help="interpreter of the project's environment")
    ap.add_argument("--worker", choices=["snntorch", "snnlang"], help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--snnlang-spec", default="digits_bptt.snn",
                    help="the spec in specs/ snnlang trains (digits_bptt_float32.snn: single precision)")
    args = ap.parse_args(argv)
    os.environ.setdefault("SNNLANG_SPEC", args.snnlang_spec)  # read by the snnlang worker
    if args.worker:
        return worker(args.worker, args.seed, args.threads)
    if args.alternate:
        results = {"versions": versions(args.snnlang_python), "epochs": args.epochs,
                   **alternate(args.seeds, args.epochs, args.snnlang_python, args.variants)}
    else:
        results = {"versions": versions(args.snnlang_python), "epochs": args.epochs, "seeds": {}}
        for seed in args.seeds:
            run = SnnTorchRun(seed, args.threads)
            hist = []
            for k in range(args.epochs):
                hist.append(run.epoch(k))
                r = hist[-1]
                print(f"seed {seed} epoch {k + 1:2d}: loss {r['loss']:.4f} train {r['train_accuracy'] * 100:6.2f}% "
                      f"test {r['test_accuracy'] * 100:6.2f}% {r['seconds']:.3f} s wall {r['cpu_seconds']:.3f} s CPU",
                      flush=True)
            results["seeds"][seed] = {"threads": run.threads, "test_accuracy": hist[-1]["test_accuracy"],
                                      "test_accuracy_10_draws": run.evaluate(10),
                                      "wall_s_per_epoch": median([r["seconds"] for r in hist]),
                                      "cpu_s_per_epoch": median([r["cpu_seconds"] for r in hist]), "epochs": hist}
            print(f"seed {seed} ({run.threads} threads): {hist[-1]['test_accuracy'] * 100:.2f}% "
                  f"{results['seeds'][seed]['wall_s_per_epoch']:.3f} s wall "
                  f"{results['seeds'][seed]['cpu_s_per_epoch']:.3f} s CPU per epoch", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
