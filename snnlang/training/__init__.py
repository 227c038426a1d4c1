"""``snnlang train``: training from a spec's train block.

``method = bptt``: surrogate-gradient backpropagation through time (:mod:`.bptt`);
``method = convert``: a ReLU network trained and converted to integrate-and-fire
neurons (:mod:`.convert`); ``method = stdp``: unsupervised learning with the spec's own
plasticity rules, Diehl & Cook style (:mod:`.stdp`). :func:`evaluate` tests trained weights with fewer steps,
other parameters or quantised weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..frontend.settings import training

#: What ``snnlang train`` writes into its run folder (each method some of them).
TRAIN_FILES = ("metrics.json", "weights.npz", "checkpoints", "training.png", "labels.json", "receptive_fields.png",
               "ann.npz", "conversion.png")


def blas_threads():
    """Limit BLAS to SNNLANG_BLAS_THREADS threads (default 1) while training.

    The matrices of a spiking MLP are small (a batch of 64): one thread is as fast as
    several on an idle machine and many times faster on a busy one, where BLAS threads
    spin waiting for cores.
    """
    import contextlib
    import os

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    value = os.environ.get("SNNLANG_BLAS_THREADS", "1")
    return threadpool_limits(limits=None if value in ("", "0", "all") else int(value), user_api="blas")


def _method(model, block) -> str:
    return training(model, block).method


def train(spec: Path, out: Path, name: Optional[str] = None, epochs: Optional[int] = None,
          resume: bool = False, seed: Optional[int] = None, progress: bool = False,
          stop_after: Optional[int] = None, start_over: bool = False) -> dict:
    """Train the network of a spec's train block; write RUNDIR/metrics.json, weights.npz, checkpoints.

    ``resume``: continue from the last checkpoint, which must be of this run (spec, train block,
    seed and settings; else ValueError says what differs), or with ``start_over`` start from the
    first epoch instead."""
    from .package import load_block

    spec, out = Path(spec), Path(out)
    model, block = load_block(spec, name)
    method = _method(model, block)
    from ..run import run_folder

    run_folder(out, TRAIN_FILES, "train")  # a file, or a folder of other files, is refused before training
    with blas_threads():
        metrics = _train(method, spec, model, block, out, epochs, resume, seed, progress, stop_after,
                         start_over)
    return _versioned(out / "metrics.json", metrics)


def _versioned(path: Path, metrics: dict) -> dict:
    """metrics.json (and the metrics returned) with the version of snnlang that wrote them."""
    from .. import __version__
    from ..output import write_json

    if isinstance(metrics, dict) and path.is_file():
        metrics = {**metrics, "snnlang": __version__}
        write_json(path, metrics)
    return metrics


def _train(method, spec, model, block, out, epochs, resume, seed, progress, stop_after, start_over=False) -> dict:
    if method == "bptt":
        from .bptt import train_bptt

        return train_bptt(spec, model, block, out, epochs=epochs, resume=resume, seed=seed, progress=progress,
                          stop_after=stop_after, start_over=start_over)
    if method == "stdp":
        from .stdp import train_stdp

        return train_stdp(spec, model, block, out, epochs=epochs, resume=resume, seed=seed, progress=progress,
                          stop_after=stop_after, start_over=start_over)
    if method == "convert":
        from .convert import train_convert

        return train_convert(spec, model, block, out, epochs=epochs, seed=seed, progress=progress)
    raise ValueError(f"unknown training method {method!r}; choose bptt, stdp or convert")


def evaluate(spec: Path, weights: Path, name: Optional[str] = None, steps: Optional[int] = None,
             params: Optional[dict] = None, bits: Optional[int] = None, seed: Optional[int] = None) -> dict:
    """Test the trained weights of a run (RUNDIR/weights.npz) on the test set of the spec's data.

    ``steps``: time steps per sample (default: as trained); ``params``: parameter
    overrides such as {"thr": 1.5} or {"hidden.thr": 1.5}; ``bits``: quantise the weights
    to signed integers of that many bits (and write them beside ``weights`` as
    weights_<bits>bit.npz for ``snnlang run --weights``). Returns accuracy, loss,
    synops_per_sample, spikes_per_sample, input_events_per_sample.
    """
    from .bptt import Trainer
    from .package import load_block

    spec = Path(spec)
    model, block = load_block(spec, name)
    method = _method(model, block)
    if method not in ("bptt", "convert"):
        raise ValueError(f"evaluation is for method = bptt or convert, not {method}")
    trainer = Trainer(spec, model, block, seed)
    trainer.net.load_arrays(Path(weights))
    with blas_threads():
        result = trainer.evaluate(0, steps=steps, params=params, bits=bits, strict=method == "convert")
    from .. import __version__

    result.update({"steps": steps or trainer.steps, "params": params or {}, "bits": bits, "snnlang": __version__})
    if bits:  # the quantised weights, for the simulator (snnlang run --weights)
        from ..output import write_npz
        from .optim import quantize

        path = Path(weights).with_name(f"weights_{bits}bit.npz")
        write_npz(path, trainer.net.weight_arrays(weights={k: quantize(w, bits) for k, w in trainer.net.W.items()}))
        result["weights"] = str(path)
    return result


__all__ = ["train", "evaluate"]
