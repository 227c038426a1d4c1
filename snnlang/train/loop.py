"""The epoch loop every training method shares: checkpoints, --resume, a progress bar."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional


def run_epochs(trainer, out: Path, desc: str, resume: bool, progress: bool, stop_after: Optional[int],
               unit: str, per_epoch: int, write: Callable[[list, bool], dict],
               postfix: Callable[[dict], dict]) -> dict:
    """Run ``trainer.run_epoch`` from the last checkpoint (with ``resume``) to ``trainer.epochs``,
    saving a checkpoint and the results after every epoch. ``stop_after``: stop, as if
    interrupted, once that many epochs are done."""
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    first, history = 0, []
    if resume:
        found = sorted(checkpoints.glob("epoch_[0-9][0-9][0-9].npz"))
        if found:
            first, history = trainer.restore(found[-1])
    last = trainer.epochs if stop_after is None else min(trainer.epochs, stop_after)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=trainer.epochs * per_epoch, initial=first * per_epoch, unit=unit, desc=desc)
    for epoch in range(first, last):
        history.append(trainer.run_epoch(epoch, bar.update if bar is not None else None))
        trainer.save(checkpoints / f"epoch_{epoch + 1:03d}.npz", epoch + 1, history)
        write(history, False)
        if bar is not None:
            bar.set_postfix(**postfix(history[-1]))
    if bar is not None:
        bar.close()
    return write(history, True)
