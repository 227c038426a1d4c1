"""``snnlang sweep`` and :func:`sweep`: many runs of one spec (a grid of parameter values,
seeds, or a table of runs) on Dask, each run summarised (docs/scale.md).

The package is built once (:mod:`snnlang.driver`); parameters never need a rebuild
(``Network(params=...)``). The runs go to Dask workers, which get the package's files and
:mod:`snnlang.sweep_worker` (standard library and NumPy only): a worker needs neither
snnlang nor its compiler. Every file is written under a temporary name and renamed onto
its own, so an interrupted sweep leaves whole files; ``resume`` keeps finished runs.

Dask (``pip install 'snnlang[sweep]'``), pandas, pyarrow, matplotlib and tqdm are loaded
only when used.
"""
from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import itertools
import json
import logging
import math
import os
import sys
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from .run import _NUMBER, parse_setting, run_folder
from .frontend.units import DIMENSIONLESS, format_dim

#: What a sweep writes into its folder (besides the run-folder marker).
SWEEP_FILES = ("sweep.json", "results.csv", "results.parquet", "summary.png", "runs")
#: The statuses of a finished run: ``resume`` keeps them. A "lost" run (its worker died,
#: or it was cancelled) is run again.
FINISHED = ("ok", "failed")
#: The most runs one sweep expands to (a range with a tiny step is a mistake, not a sweep).
MAX_RUNS = 1_000_000

Dim = tuple


@dataclass(frozen=True)
class Value:
    """One value of a parameter: SI number, its dimension (None: given as a plain SI number
    from Python, not checked) and how the user wrote it (for messages)."""

    si: float
    dim: Optional[Dim]
    shown: str


@dataclass(frozen=True)
class Run:
    index: int
    settings: dict  # parameter name as given -> SI value
    seed: int


# ---- the runs: grid, zip, table, seeds ---------------------------------------------------

def parse_values(name: str, text: str, where: str = "--set") -> list[Value]:
    """The values of ``name=text``: a comma-separated list of values and ranges
    ``start:stop:step`` (stop included when the steps reach it). Each value is a number with
    units (``10ms``, ``-50 mV``); a bare number takes the unit written last (``10,15,20 ms``,
    ``10:20:5 ms``), else it is dimensionless."""
    shown = f"{where} {name + '=' + text!r}"
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ValueError(f"{shown}: expected values such as 10ms,15ms or a range such as 4:6:0.5")
    numbers = []
    for item in items:
        for part in item.split(":"):
            match = _NUMBER.fullmatch(part)
            if not match:
                raise ValueError(f"{shown}: {part.strip()!r} is not a number with units")
            numbers.append((match.group(1), match.group(2)))
    last_unit = numbers[-1][1]
    values: list[Value] = []
    for item in items:
        parts = [_NUMBER.fullmatch(part) for part in item.split(":")]
        units = {p.group(2) or last_unit for p in parts}
        if len(parts) == 1:
            values.append(_value(name, parts[0].group(1), units.pop(), shown))
            continue
        if len(parts) != 3:
            raise ValueError(f"{shown}: a range is start:stop:step, such as 4:6:0.5 or 10ms:20ms:5ms")
        if len(units) != 1:
            raise ValueError(f"{shown}: the parts of the range {item!r} take one unit: 10ms:20ms:5ms or 10:20:5 ms")
        unit = units.pop()
        start, stop, step = (float(p.group(1)) for p in parts)
        if step == 0 or (stop - start) * step < 0:
            raise ValueError(f"{shown}: the range {item!r} does not reach its end: the step must be nonzero "
                             "and go from start towards stop")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if len(values) + count > MAX_RUNS:
            raise ValueError(f"{shown}: the range {item!r} has {count} values; a sweep takes at most {MAX_RUNS} runs")
        for k in range(count):
            number = float(f"{start + k * step:.12g}")  # 4.5, not 4.499999999999999
            values.append(_value(name, repr(number), unit, shown))
    return values


def _value(name: str, number: str, unit: str, shown: str) -> Value:
    """``number unit`` as ``snnlang run --set`` reads it; errors start with ``shown``."""
    try:
        _, si, dim = parse_setting(f"{name}={number} {unit}")
    except ValueError as e:  # the unit: said with the user's text
        raise ValueError(f"{shown}: " + str(e).split(": ", 1)[-1]) from None
    return Value(si, dim, f"{number}{' ' + unit if unit else ''}")


def parse_seeds(text: str) -> list[int]:
    """``1-16``, ``1,2,5``, ``1-4,10``: the seeds (non-negative integers, in that order)."""
    seeds: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        first, sep, last = item.partition("-")
        try:
            a = int(first)
            b = int(last) if sep else a
        except ValueError:
            raise ValueError(f"--seeds {text!r}: expected seeds such as 1-16 or 1,2,5") from None
        if a < 0 or b < a:
            raise ValueError(f"--seeds {text!r}: {item!r} is not a range of non-negative seeds (first-last)")
        if len(seeds) + b - a + 1 > MAX_RUNS:
            raise ValueError(f"--seeds {text!r}: more than {MAX_RUNS} seeds")
        seeds.extend(range(a, b + 1))
    return seeds


def read_table(path: Path) -> list[tuple[dict[str, Value], Optional[int]]]:
    """The runs of a CSV file: a header of parameter names (``tau_m`` or ``tau_m [ms]``: bare
    numbers of that column take the unit) and optionally ``seed``; a row per run, each value as
    in ``--set`` (one value). Returns (settings, seed or None) per row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"--table {str(path)!r}: cannot read it: {getattr(e, 'strerror', None) or e}") from None
    rows = list(csv.reader(io.StringIO(text)))
    where = [k + 1 for k, row in enumerate(rows) if any(cell.strip() for cell in row)]
    if not where:
        raise ValueError(f"{path}: the table is empty; its first line names the parameters (and seed)")
    header_line = where[0]
    columns = []
    for cell in rows[header_line - 1]:
        name, _, unit = cell.strip().partition("[")
        name, unit = name.strip(), unit.rstrip("] ").strip()
        if not name or (cell.count("[") and not cell.strip().endswith("]")):
            raise ValueError(f"{path}:{header_line}: {cell.strip()!r} is not a column name such as tau_m or tau_m [ms]")
        columns.append((name, unit))
    names = [name for name, _ in columns]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ValueError(f"{path}:{header_line}: the column {duplicate!r} appears twice")
    runs = []
    for line in where[1:]:
        row = [cell.strip() for cell in rows[line - 1]]
        if len(row) != len(columns):
            raise ValueError(f"{path}:{line}: {len(row)} values for {len(columns)} columns ({', '.join(names)})")
        settings, seed = {}, None
        for (name, unit), cell in zip(columns, row):
            if name == "seed":
                if not cell.isdigit():
                    raise ValueError(f"{path}:{line}: seed {cell!r} is not a non-negative integer")
                seed = int(cell)
                continue
            match = _NUMBER.fullmatch(cell)
            if not match:
                raise ValueError(f"{path}:{line}: {name} = {cell!r} is not a number with units")
            settings[name] = _value(name, match.group(1), match.group(2) or unit, f"{path}:{line}: {name} = {cell!r}")
        runs.append((settings, seed))
    if not runs:
        raise ValueError(f"{path}: the table has no runs below its header")
    return runs


def _python_values(name: str, given: Any) -> list[Value]:
    """Values of the Python API: a string as in ``--set``, a number (SI), or a sequence of them."""
    if isinstance(given, str):
        return parse_values(name, given, where="grid")
    items = list(given) if isinstance(given, Iterable) else [given]
    values = []
    for item in items:
        if isinstance(item, Value):  # parsed already (the command line)
            values.append(item)
        elif isinstance(item, str):
            values.extend(parse_values(name, item, where="grid"))
        else:
            try:
                number = float(item)
            except (TypeError, ValueError):
                raise ValueError(f"grid {name}: {item!r} is not a number or a value with units such as '10ms'") from None
            values.append(Value(number, None, repr(number)))
    if not values:
        raise ValueError(f"grid {name}: no values")
    return values


def expand(module, grid=None, seeds=None, zip_values: bool = False, table=None) -> list[Run]:
    """The runs of a sweep of ``module`` (a built package), checked against its parameters.

    ``grid``: parameter name -> values (``--set`` text, SI numbers, or a list of them), or a
    list of runs (dicts of name -> value, optionally with ``seed``); ``zip_values``: the k-th
    values of every parameter together rather than every combination; ``table``: a CSV file
    of runs; ``seeds``: ``"1-16"``, an int or ints (default: the spec's seed). Each setting
    combination runs with every seed, unless its row names its own.
    """
    if table is not None and grid:
        raise ValueError("give the runs either as a grid (--set) or as a table (--table), not both")
    if isinstance(seeds, str):
        seed_list = parse_seeds(seeds)
    elif seeds is None:
        seed_list = [int(module.SEED)]
    elif isinstance(seeds, int):
        seed_list = [seeds]
        if seeds < 0:
            raise ValueError(f"seeds {seeds!r}: expected non-negative integers")
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list or min(seed_list) < 0:
            raise ValueError(f"seeds {seeds!r}: expected non-negative integers")
    rows: list[tuple[dict[str, Value], Optional[int]]]
    if table is not None:
        rows = read_table(table)
    elif isinstance(grid, (list, tuple)):  # explicit runs
        rows = []
        for k, run in enumerate(grid):
            run = dict(run)
            seed = run.pop("seed", None)
            settings = {}
            for name, value in run.items():
                values = _python_values(name, value)
                if len(values) != 1:
                    raise ValueError(f"grid[{k}] {name}: one value per run, not {len(values)}")
                settings[name] = values[0]
            rows.append((settings, None if seed is None else int(seed)))
    else:
        columns = {name: _python_values(name, value) for name, value in (grid or {}).items()}
        if "seed" in columns:
            raise ValueError("seed is not a parameter: give the seeds with --seeds (seeds=)")
        names = list(columns)
        if zip_values:
            lengths = {len(v) for v in columns.values() if len(v) != 1}
            if len(lengths) > 1:
                raise ValueError("--zip pairs the k-th values of every --set: they need as many values each "
                                 f"(or one), not {', '.join(f'{n}: {len(v)}' for n, v in columns.items())}")
            count = lengths.pop() if lengths else 1
            combos = [tuple(v[k] if len(v) > 1 else v[0] for v in columns.values()) for k in range(count)]
        else:
            total = math.prod(len(v) for v in columns.values())
            if total * len(seed_list) > MAX_RUNS:
                raise ValueError(f"the grid has {total * len(seed_list)} runs; a sweep takes at most {MAX_RUNS}")
            combos = list(itertools.product(*columns.values()))
        rows = [(dict(zip(names, combo)), None) for combo in combos]
    for settings, _ in rows:
        for name, value in settings.items():
            _check(module, name, value)
    runs: list[Run] = []
    for settings, own_seed in rows:
        for seed in ([own_seed] if own_seed is not None else seed_list):
            runs.append(Run(len(runs), {name: value.si for name, value in settings.items()}, seed))
    if len(runs) > MAX_RUNS:
        raise ValueError(f"the sweep has {len(runs)} runs; it takes at most {MAX_RUNS}")
    return runs


def _check(module, name: str, value: Value) -> None:
    """A parameter of the package, in its unit (as ``snnlang run --set`` checks it)."""
    owners = [k for k in module.PARAMETERS if k == name or k.split(".", 1)[1] == name]
    if not owners:
        raise ValueError(f"no parameter {name!r}; parameters: {', '.join(module.PARAMETERS)}")
    if value.dim is None:
        return
    given = format_dim(value.dim)
    for key in owners:
        unit = module.UNITS.get(key) or format_dim(DIMENSIONLESS)
        if unit != given:
            raise ValueError(f"{name} = {value.shown}: {key} is in {unit}, the value is in {given}")


# ---- files --------------------------------------------------------------------------------

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


def write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """Write ``path`` whole or not at all: ``write(temporary path)`` beside it, then a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_text(path: Path, text: str) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_atomic(path, write)


def _write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ---- the package and the worker module -----------------------------------------------------

def shipped_package(module) -> dict:
    """The files of an imported generated package, to send to workers: {"key", "files"}."""
    folder = Path(module.__file__).parent
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return {"key": digest.hexdigest()[:24], "files": files}


_WORKER_FILE = Path(__file__).with_name("sweep_worker.py")
_WORKER = "snnlang_sweep_worker"


def worker_module():
    """:mod:`snnlang.sweep_worker` under the name it has on the workers, so that its
    functions are pickled as ``snnlang_sweep_worker.run`` and found there."""
    module = sys.modules.get(_WORKER)
    if module is None:
        spec = importlib.util.spec_from_file_location(_WORKER, _WORKER_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[_WORKER] = module
        spec.loader.exec_module(module)
    return module


_UPLOADED: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def _upload_worker(client) -> None:
    """Send the worker module to the scheduler and every worker (and to workers that join
    later): Dask's ``Client.upload_file``; once per client and version of the file."""
    data = _WORKER_FILE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if _UPLOADED.get(client) == digest:
        return
    with tempfile.TemporaryDirectory(prefix="snnlang-sweep-") as folder:
        path = Path(folder) / f"{_WORKER}.py"
        path.write_bytes(data)
        client.upload_file(str(path))
    _UPLOADED[client] = digest


# ---- running -----------------------------------------------------------------------------

def _lost(run: Run, steps: int, error: BaseException) -> dict:
    return {"run": run.index, "status": "lost", "message": f"{type(error).__name__}: {error}",
            "settings": dict(run.settings), "seed": run.seed, "steps": steps}


def _run_serial(todo: list[Run], module, steps: int, record: Callable[[dict], None]) -> None:
    worker = worker_module()
    for run in todo:
        record(worker.run(module, run.index, run.settings, run.seed, steps))


def local_cluster(workers: Optional[int] = None):
    """A Dask LocalCluster for runs: ``workers`` processes (default: one per core), one thread each.

    Dask's nanny gives its workers MALLOC_TRIM_THRESHOLD_=65536, which fixes glibc's mmap
    threshold at 128 KiB: every larger NumPy array is then mapped and unmapped anew, and a run
    of CUBA (N = 4000) takes 1.5 to 3 times as long. These workers keep glibc's defaults, and
    run without Dask's statistical profiler (a stack sample every 10 ms: about 8 % of each run
    with two workers on two cores)."""
    import dask
    from dask.system import CPU_COUNT
    from distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.worker.profile.enabled": False}):
        return LocalCluster(n_workers=workers or CPU_COUNT, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)


def _run_dask(todo: list[Run], module, steps: int, record: Callable[[dict], None], client, workers) -> None:
    """Run ``todo`` on Dask: ``client`` (a Client or a scheduler address) or a local cluster."""
    from distributed import Client, as_completed

    owned, futures, package = [], {}, None
    local = client is None
    try:
        if local:
            owned.append(local_cluster(workers))
            client = Client(owned[0])
            owned.insert(0, client)
        elif isinstance(client, str):
            client = Client(client)
            owned.append(client)
        _upload_worker(client)
        worker = worker_module()
        if local:  # the workers share this terminal: Ctrl-C is for this process, which closes them
            client.run(worker.ignore_interrupts)
        [package] = client.scatter([shipped_package(module)], broadcast=True)  # once to every worker
        token = uuid.uuid4().hex[:8]
        futures = {client.submit(worker.run, package, run.index, run.settings, run.seed, steps, pure=False,
                                 key=f"snnlang-run-{run.index}-{token}"): run for run in todo}
        for future in as_completed(futures):
            try:
                summary = future.result()
            except Exception as e:  # noqa: BLE001 - the worker died or the task was cancelled
                summary = _lost(futures[future], steps, e)
            record(summary)
            future.release()
    finally:  # finished or interrupted: what has not run is cancelled, the shipped package let go
        pending = [f for f in futures if not f.done()]
        try:
            if pending:
                client.cancel(pending)
            if package is not None:
                package.release()
        except Exception:  # noqa: BLE001 - a scheduler gone away has nothing left to cancel
            pass
        for thing in owned:
            thing.close()


def sweep(spec: Union[str, Path], grid=None, seeds=None, client=None, out: Union[str, Path, None] = None, *,
          zip: bool = False, table: Union[str, Path, None] = None, duration: Optional[float] = None,
          workers: Optional[int] = None, resume: bool = False, progress: Optional[bool] = None,
          callback: Optional[Callable[[dict], None]] = None, plots: bool = True):
    """Run a spec's network once per setting combination and seed; returns a pandas DataFrame
    (a list of dicts without pandas), one row per run: the settings (SI units), seed, status
    ("ok", "failed" with its message, "lost"), seconds, and per population with a spike
    monitor its rate (Hz), CV of ISIs and spike count.

    ``grid``: name -> values (``"10ms,15ms"``, ``"4:6:0.5"``, ``[0.01, 0.02]`` in SI), or a list
    of runs (dicts, optionally with ``seed``); ``zip``: pair the values instead of the grid;
    ``table``: a CSV of runs; ``seeds``: ``"1-16"``, an int or ints (default: the spec's).
    ``client``: a ``distributed.Client`` or a scheduler address; None: a local cluster of
    ``workers`` processes (default: one per core), closed at the end; ``workers=0``: run in
    this process without Dask. ``out``: the sweep folder (``runs/<k>/summary.json``,
    ``results.csv``, ``results.parquet``, ``summary.png``); ``resume``: keep its finished
    runs. ``callback(row)`` is called in this process after each run.
    """
    from .driver import package

    in_process = workers == 0 and client is None
    if not in_process and importlib.util.find_spec("distributed") is None:
        raise ImportError("the runs go to Dask workers: pip install 'snnlang[sweep]' (dask, distributed); "
                          "or run them in this process (--workers 0)")
    spec = Path(spec)
    module, _ = package(spec)
    runs = expand(module, grid, seeds, zip, table)
    if duration is not None and not (float(duration) > 0 and math.isfinite(float(duration))):
        raise ValueError(f"duration {duration!r}: expected a positive time in seconds")
    steps = int(module.STEPS) if duration is None else max(1, int(round(float(duration) / module.DT)))
    names = list(dict.fromkeys(name for run in runs for name in run.settings))
    populations = list(dict.fromkeys(pop for kind, pop, *_ in module.MONITORS if kind == "spikes"))
    units = {name: _unit_of(module, name) for name in names}
    folder = Path(out) if out is not None else None
    results: dict[int, dict] = {}
    if folder is not None:
        results = _prepare(folder, module, runs, steps, units, resume)
    todo = [run for run in runs if run.index not in results]
    skipped = len(results)
    bar = _progress(len(runs), skipped, module.NETWORK, progress)

    def record(summary: dict) -> None:
        summary.setdefault("network", module.NETWORK)
        summary["units"] = {name: units[name] for name in summary["settings"]}
        results[summary["run"]] = summary
        if folder is not None:
            run_dir = folder / "runs" / str(summary["run"])
            run_dir.mkdir(parents=True, exist_ok=True)
            _write_json(run_dir / "summary.json", _jsonable(summary))
        if bar is not None:
            bar.update(1)
        if callback is not None:
            callback(_row(summary, names, populations))

    start = time.perf_counter()
    try:
        if todo:
            if in_process:
                _run_serial(todo, module, steps, record)
            else:
                _run_dask(todo, module, steps, record, client, workers)
    finally:
        if bar is not None:
            bar.close()
        rows = [_row(results[run.index], names, populations) for run in runs if run.index in results]
        if folder is not None:
            _write_tables(folder, rows, names, populations, units, plots)
    _LAST.update(seconds=time.perf_counter() - start, skipped=skipped, ran=len(todo))
    return _frame(rows, names, populations)


#: Facts of the last sweep of this process, for the command line's report.
_LAST: dict = {}


def _unit_of(module, name: str) -> str:
    key = next(k for k in module.PARAMETERS if k == name or k.split(".", 1)[1] == name)
    return module.UNITS.get(key) or format_dim(DIMENSIONLESS)


def _progress(total: int, initial: int, name: str, progress: Optional[bool]):
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, unit="run", desc=f"sweep {name}", file=sys.stderr,
                disable=None if progress is None else False)


def _prepare(folder: Path, module, runs: list[Run], steps: int, units: dict, resume: bool) -> dict[int, dict]:
    """Make ``folder`` the sweep's folder; with ``resume``, the summaries of its finished runs."""
    run_folder(folder, SWEEP_FILES, "sweep")
    description = {"spec": str(module.SPEC), "network": module.NETWORK, "spec_hash": module.SPEC_HASH,
                   "dt": module.DT, "steps": steps, "units": units,
                   "runs": [{"run": r.index, "settings": r.settings, "seed": r.seed} for r in runs]}
    path = folder / "sweep.json"
    if path.exists():
        old = _read_json(path)
        if not resume and any((folder / "runs").glob("*/summary.json")):
            raise ValueError(f"-o {str(folder)!r}: it holds a sweep already: --resume continues it; "
                             "or choose another folder")
        same = isinstance(old, dict) and old.get("runs") == description["runs"] and old.get("steps") == steps
        if resume and not same:
            raise ValueError(f"-o {str(folder)!r}: it holds another sweep (other runs, settings, seeds or "
                             "duration); --resume continues only the same sweep: choose another folder")
    _write_json(path, description)
    if not resume:
        return {}
    finished = {}
    for run in runs:
        summary = _read_json(folder / "runs" / str(run.index) / "summary.json")
        if (isinstance(summary, dict) and summary.get("status") in FINISHED and summary.get("settings") == run.settings
                and summary.get("seed") == run.seed and summary.get("steps") == steps
                and summary.get("spec_hash") == module.SPEC_HASH):
            finished[run.index] = summary
    return finished


def _jsonable(value):
    """NaN and infinities as null (JSON has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ---- results: table, parquet, plot -----------------------------------------------------------

def _columns(names: list[str], populations: list[str]) -> list[str]:
    metrics = [f"{pop}.{m}" for pop in populations for m in ("rate_hz", "cv_isi", "spikes")]
    return ["run", *names, "seed", "status", "seconds", *metrics, "synops", "message"]


def _row(summary: dict, names: list[str], populations: list[str]) -> dict:
    row = {"run": summary["run"]}
    for name in names:
        row[name] = summary["settings"].get(name)
    row.update(seed=summary["seed"], status=summary["status"], seconds=summary.get("seconds"))
    measured = summary.get("populations") or {}
    for pop in populations:
        m = measured.get(pop) or {}
        row[f"{pop}.rate_hz"], row[f"{pop}.cv_isi"], row[f"{pop}.spikes"] = (
            m.get("rate_hz"), m.get("cv_isi"), m.get("spikes"))
    row["synops"] = summary.get("synops")
    row["message"] = summary.get("message")
    return row


def _frame(rows: list[dict], names: list[str], populations: list[str]):
    try:
        import pandas as pd
    except ImportError:
        return rows
    frame = pd.DataFrame(rows, columns=_columns(names, populations))
    for column in frame.columns:
        if column.endswith((".rate_hz", ".cv_isi")) or column == "seconds":
            frame[column] = frame[column].astype(float)
    return frame


def _write_tables(folder: Path, rows: list[dict], names, populations, units, plots: bool) -> None:
    columns = _columns(names, populations)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else repr(row[c]) if isinstance(row[c], float) else row[c]
                         for c in columns])
    _write_text(folder / "results.csv", text.getvalue())
    try:
        import pyarrow  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        pass
    else:
        frame = _frame(rows, names, populations)
        write_atomic(folder / "results.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
    if plots and rows:
        _plot(folder, rows, names, populations, units)


def _plot(folder: Path, rows: list[dict], names: list[str], populations: list[str], units: dict) -> None:
    """summary.png: the rate of each population against each swept parameter (every run a dot,
    the mean over runs of one value a line); against the seed when only seeds vary."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    ok = [row for row in rows if row["status"] == "ok"]
    swept = [name for name in names if len({row[name] for row in rows}) > 1] or ["seed"]
    if not ok or not populations:
        return
    fig, axes = plt.subplots(1, len(swept), figsize=(4 * len(swept), 3.2), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], swept):
        for pop in populations:
            x = [row[name] for row in ok]
            y = [row[f"{pop}.rate_hz"] for row in ok]
            dots = ax.plot(x, y, ".", alpha=0.35)
            means = {}
            for xv, yv in zip(x, y):
                means.setdefault(xv, []).append(yv)
            xs = sorted(means)
            ax.plot(xs, [sum(means[v]) / len(means[v]) for v in xs], "-", color=dots[0].get_color(), label=pop)
        unit = "" if name == "seed" else units.get(name, "")
        ax.set_xlabel(f"{name} ({unit})" if unit and not unit.startswith("1") else name)
    axes[0, 0].set_ylabel("rate (Hz)" if len(populations) > 1 else f"rate of {populations[0]} (Hz)")
    if len(populations) > 1:
        axes[0, 0].legend()
    failed = len(rows) - len(ok)
    fig.suptitle(f"{len(ok)} runs" + (f"; {failed} failed or lost, not shown" if failed else ""))
    fig.tight_layout()
    write_atomic(folder / "summary.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


# ---- the command line ---------------------------------------------------------------------

def command(args) -> int:
    """``snnlang sweep`` (its arguments are defined in :mod:`snnlang.cli`)."""
    from .cli import time_option

    duration = time_option("sweep", "--duration", args.duration, "2s or 500ms", "a duration")
    if duration == -1.0:
        return 2
    if args.workers is not None and args.workers < 0:
        print("snnlang sweep: --workers takes a number of processes (0: run in this process)", file=sys.stderr)
        return 2
    if args.scheduler and args.workers:
        print("snnlang sweep: --workers sizes the local cluster; a --scheduler has its own workers", file=sys.stderr)
        return 2
    grid = {}
    try:
        for text in args.settings:
            if "=" not in text:
                raise ValueError(f"--set {text!r}: expected name=values, such as tau_m=10ms,15ms or g=4:6:0.5")
            name, values = (part.strip() for part in text.split("=", 1))
            if name in grid:
                raise ValueError(f"--set {name}: given twice; give its values in one --set, separated by commas")
            grid[name] = parse_values(name, values)
        frame = sweep(args.spec, grid, args.seeds, client=args.scheduler, out=args.out, zip=args.zip,
                      table=args.table, duration=duration, workers=args.workers, resume=args.resume,
                      progress=sys.stderr.isatty(), plots=args.plots)
    except KeyboardInterrupt:
        print(f"snnlang sweep: interrupted; the finished runs are in {args.out}: --resume continues", file=sys.stderr)
        raise
    except (ValueError, KeyError, ImportError, OSError) as e:
        print(f"snnlang sweep: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    rows = frame.to_dict("records") if hasattr(frame, "to_dict") else frame
    counts = {status: sum(1 for row in rows if row["status"] == status) for status in ("ok", "failed", "lost")}
    where = args.scheduler or ("this process" if args.workers == 0 else "a local cluster")
    print(f"sweep: {len(rows)} runs ({counts['ok']} ok, {counts['failed']} failed, {counts['lost']} lost; "
          f"{_LAST.get('skipped', 0)} finished before) in {_LAST.get('seconds', 0):.2f} s on {where} -> {args.out}")
    bad = [row for row in rows if row["status"] != "ok"]
    for row in bad[:5]:
        print(f"  run {row['run']} (seed {row['seed']}): {row['status']}: {row['message']}", file=sys.stderr)
    if len(bad) > 5:
        print(f"  ... and {len(bad) - 5} more: see {Path(args.out) / 'results.csv'}", file=sys.stderr)
    if counts["lost"]:
        print("  lost runs are run again by --resume", file=sys.stderr)
        return 1
    return 0
