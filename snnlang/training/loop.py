"""The epoch loop every training method shares: checkpoints, --resume, a progress bar.

Each checkpoint records the run that wrote it (:func:`run_record`): the spec's hash, the
train block, the seed and the block's settings (all but ``epochs``, which ``--epochs``
may raise to train on). ``--resume`` continues only a checkpoint of the same run: another
one is refused, saying what differs, or with ``start_over`` left for a fresh start.
"""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Optional

#: The key of a checkpoint's run record (a JSON string).
RUN_KEY = "train/run"


def run_record(model, block, seed: int) -> dict:
    """What makes two trainings the same run: spec, train block, seed and settings."""
    from ..frontend.settings import training

    values = training(model, block)
    settings = {k: _plain(values[k]) for k in values._values if k != "epochs"}
    return {"spec_hash": model.spec_hash, "train": block.name, "seed": int(seed), "settings": settings}


def _plain(value: Any) -> Any:
    """A setting as JSON: numbers, text, lists, and calls as {"form": name, arguments...}."""
    from ..frontend.settings import Values

    if isinstance(value, Values):
        return {"form": value.name, **{k: _plain(v) for k, v in value._values.items()}}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def read_record(path: Path) -> Optional[dict]:
    """The run record of a checkpoint (None: one written before snnlang recorded it); ValueError
    when the file cannot be read as a checkpoint (truncated, not an .npz)."""
    import numpy as np

    try:
        with np.load(path) as data:
            if RUN_KEY not in data.files:
                return None
            return json.loads(str(data[RUN_KEY]))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path} is not a readable checkpoint ({e}); delete it to resume from the one before, "
                         "or train without --resume to start over") from None


def differences(found: Optional[dict], mine: dict) -> list[str]:
    """What differs between the run of a checkpoint and this one, in words."""
    if found is None:
        return ["it does not record its run (an older snnlang wrote it)"]
    out = []
    if found.get("train") != mine["train"]:
        out.append(f"train block '{found.get('train')}', this run's is '{mine['train']}'")
    if found.get("seed") != mine["seed"]:
        out.append(f"seed {found.get('seed')}, this run's is {mine['seed']}")
    theirs = found.get("settings", {})
    for key in sorted(set(theirs) | set(mine["settings"])):
        if theirs.get(key) != mine["settings"].get(key):
            out.append(f"{key} = {_shown(theirs.get(key))}, this run's is {_shown(mine['settings'].get(key))}")
    if found.get("spec_hash") != mine["spec_hash"]:
        out.append(f"spec hash {found.get('spec_hash')}, this spec's is {mine['spec_hash']} (the spec has changed)")
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict) and "form" in value:
        args = ", ".join(f"{k} = {_shown(v)}" for k, v in value.items() if k != "form" and v is not None)
        return f"{value['form']}({args})"
    return json.dumps(value)


def last_checkpoint(checkpoints: Path, record: dict, start_over: bool) -> Optional[Path]:
    """The checkpoint --resume continues from: the highest epoch's, if it is of this run."""
    found = sorted(checkpoints.glob("epoch_[0-9][0-9][0-9].npz"))
    if not found:
        return None
    problems = differences(read_record(found[-1]), record)
    if not problems:
        return found[-1]
    what = f"{found[-1]} is of another run: " + "; ".join(problems)
    if start_over:
        print(f"snnlang train: {what}; starting over (--start-over)", file=sys.stderr)
        return None
    raise ValueError(f"{what}. Resume it with what it was trained with, train into another folder (-o), "
                     "or pass --start-over to train this run from the first epoch")


def run_epochs(trainer, out: Path, desc: str, resume: bool, progress: bool, stop_after: Optional[int],
               unit: str, per_epoch: int, write: Callable[[list, bool], dict],
               postfix: Callable[[dict], dict], record: Optional[dict] = None, start_over: bool = False) -> dict:
    """Run ``trainer.run_epoch`` from the last checkpoint (with ``resume``) to ``trainer.epochs``,
    saving a checkpoint (with ``record``, the run's) and the results after every epoch.
    ``stop_after``: stop, as if interrupted, once that many epochs are done."""
    out.mkdir(parents=True, exist_ok=True)
    checkpoints = out / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    record = record or {}
    first, history = 0, []
    if resume:
        found = last_checkpoint(checkpoints, record, start_over)
        if found is not None:
            try:
                first, history = trainer.restore(found)
            except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
                raise ValueError(f"{found} is not a readable checkpoint ({e}); delete it to resume from the one "
                                 "before, or train without --resume to start over") from None
    last = trainer.epochs if stop_after is None else min(trainer.epochs, stop_after)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=trainer.epochs * per_epoch, initial=first * per_epoch, unit=unit, desc=desc)
    for epoch in range(first, last):
        history.append(trainer.run_epoch(epoch, bar.update if bar is not None else None))
        trainer.save(checkpoints / f"epoch_{epoch + 1:03d}.npz", epoch + 1, history, record)
        write(history, False)
        if bar is not None:
            bar.set_postfix(**postfix(history[-1]))
    if bar is not None:
        bar.close()
    return write(history, True)
