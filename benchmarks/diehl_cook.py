"""Unsupervised digits: specs/diehl_cook.snn trained with ``snnlang train`` (method = stdp).

Trains 100 excitatory neurons for 3 epochs on scikit-learn's digits (25 % stratified test
split, seed 0) through the generated simulator, one sample at a time, and reports the
test accuracy after every epoch, the training time (wall and CPU; CPU is the fairer
figure on a shared machine) and the testing time.

    python benchmarks/diehl_cook.py                    # seed 0
    python benchmarks/diehl_cook.py --seeds 0,1,2      # several seeds (the spec's seed replaced)
    python benchmarks/diehl_cook.py --profile 300      # cost of each generated line over 300 training samples
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "diehl_cook.snn"


def train_once(seed: int, out: Path) -> dict:
    from snnlang.training import train

    start = time.perf_counter()
    metrics = train(SPEC, out, seed=seed)
    metrics["total_seconds"] = time.perf_counter() - start
    return metrics


def profile(samples: int) -> None:
    """line_profiler over the generated step loop while the trainer presents training samples."""
    from line_profiler import LineProfiler

    from snnlang.frontend import load
    from snnlang.training.stdp import STDPTrainer

    model = load(SPEC)
    block = next(iter(model.trainings.values()))
    trainer = STDPTrainer(SPEC, model, block)
    Network = trainer.package.network.Network
    lp = LineProfiler()
    for f in (Network._advance, Network.run, trainer.present.__func__, trainer.fresh_start.__func__):
        lp.add_function(f)
    cpu = time.process_time()

    def go():
        for k in range(samples):
            trainer.present(trainer.X[k])
            trainer.normalise()

    lp.runcall(go)
    cpu = time.process_time() - cpu
    print(f"{samples} samples of {trainer.steps} steps: {cpu / samples * 1e3:.2f} ms CPU per sample under the profiler")
    lp.print_stats(output_unit=1e-6, stripzeros=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", type=Path, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--profile", type=int, metavar="SAMPLES", help="profile the generated code instead")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        for seed in (int(s) for s in args.seeds.split(",")):
            m = train_once(seed, base / f"seed{seed}")
            per_epoch = ", ".join(f"{e['test_accuracy']:.4f}" for e in m["epochs"])
            print(f"seed {seed}: test accuracy per epoch {per_epoch}; training {m['training_seconds']:.1f} s wall, "
                  f"{m['training_cpu_seconds']:.1f} s CPU; testing {sum(e['test_seconds'] for e in m['epochs']):.1f} s; "
                  f"whole command {m['total_seconds']:.1f} s", flush=True)
            results.append({"seed": seed, **m})
    accs = [r["test_accuracy"] for r in results]
    print(f"final test accuracy: mean {sum(accs) / len(accs):.4f}, min {min(accs):.4f} over {len(accs)} seed(s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
