"""The tonic data set specs on small stand-ins written in tonic's own files (nothing is downloaded).

    python benchmarks/datasets.py                       # 200 training / 100 test samples, 10 epochs
    python benchmarks/datasets.py --train 200 --test 100 --epochs 5 --only SHD

For each family (specs/nmnist_bptt.snn: N-MNIST-style events, 34 x 34 x 2; specs/shd_bptt.snn:
SHD-style spikes on 700 channels) it writes the stand-in of snnlang.training.synthetic into
a temporary folder as tonic keeps the real data set (``data/NMNIST/Train/<digit>/*.bin``,
``data/SHD/shd_train.h5``), copies the spec beside it (its ``root = "data"``), and trains it
with ``snnlang.train`` as ``snnlang train`` does. Prints per family: the samples and events
per sample, the first read (files -> cached .npz) and a second read (the cache only), the
median seconds per epoch (metrics.json), the training and test accuracy of the last epoch, and the load
average before and after (the machine may be shared).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SPECS = {"NMNIST": ROOT / "specs" / "nmnist_bptt.snn", "SHD": ROOT / "specs" / "shd_bptt.snn"}


def one(name: str, folder: Path, train: int, test: int, epochs: int, seed: int) -> dict:
    import numpy as np

    import snnlang
    from snnlang.frontend.settings import training
    from snnlang.training import synthetic
    from snnlang.training.data import load_block_data
    from snnlang.training.package import load_block

    start = time.perf_counter()
    synthetic.write_like(name, folder / "data", train, test, seed=seed)
    written = time.perf_counter() - start
    spec = folder / SPECS[name].name
    shutil.copy(SPECS[name], spec)
    model, block = load_block(spec)
    settings = training(model, block)
    start = time.perf_counter()
    X, y, X_test, y_test = load_block_data(settings, folder)  # the files, converted and cached
    first = time.perf_counter() - start
    start = time.perf_counter()
    load_block_data(settings, folder)  # the cache only
    second = time.perf_counter() - start
    metrics = snnlang.train(spec, folder / "run", epochs=epochs, progress=False)
    seconds = [e["seconds"] for e in metrics["epochs"]]
    return {"data": name, "spec": str(SPECS[name].relative_to(ROOT)), "train": len(y), "test": len(y_test),
            "events_per_sample": float(np.diff(X.ptr).mean()), "write_s": round(written, 2),
            "first_read_s": round(first, 3), "cached_read_s": round(second, 3), "epochs": len(seconds),
            "median_epoch_s": round(statistics.median(seconds), 3),
            "train_accuracy": metrics["epochs"][-1]["train_accuracy"], "test_accuracy": metrics["test_accuracy"],
            "test_accuracy_by_epoch": [round(e["test_accuracy"], 3) for e in metrics["epochs"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="the seed of the stand-in data")
    parser.add_argument("--only", choices=sorted(SPECS), action="append")
    args = parser.parse_args()
    results = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("SNNLANG_CACHE", str(Path(tmp) / "cache"))
        for name in args.only or sorted(SPECS):
            results[name] = one(name, Path(tmp) / name, args.train, args.test, args.epochs, args.seed)
            print(json.dumps(results[name]), flush=True)
    results["load_after"] = os.getloadavg()
    print(f"load average: before {results['load_before']}, after {results['load_after']}")


if __name__ == "__main__":
    main()
