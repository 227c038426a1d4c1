"""The command line: ``snnlang check | schema | build | run | sweep | train``."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from . import __version__
from .backends import TARGETS


#: the models ``check`` made, when run as the command (entry): kept until the process ends
_kept: list | None = None


def entry() -> None:
    """The ``snnlang`` command (and ``python -m snnlang``). After ``check``, which holds no file,
    process or connection open, the process ends without freeing its models object by object
    (0.4 s of a spec of 100,000 lines)."""
    global _kept
    _kept = []
    code = main()
    if _kept:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError):  # (None after a broken pipe)
                stream.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snnlang", description="Compile spiking neural network specs.")
    parser.add_argument("--version", action="version", version=f"snnlang {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="report every error and warning of the specs; exit 1 on errors")
    p.add_argument("specs", nargs="+", type=Path)
    p.add_argument("--emit-ir", action="store_true", help="print the checked model as JSON")
    _include(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the JSON schema of the model (IR)")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("build", help="generate a standalone simulator package")
    p.add_argument("spec", type=Path)
    p.add_argument("--target", default="numpy", choices=list(TARGETS),
                   help="; ".join(f"{t.name}: {t.summary}" for t in TARGETS.values()))
    p.add_argument("-o", "--out", type=Path, required=True, help="folder of the package (replaced only on success)")
    p.add_argument("--network", help="which network, if the spec has several")
    p.add_argument("--precision", choices=("float64", "float32", "loihi"),
                   help="the arithmetic, over the simulate block's precision: float32 (the c target, docs/native.md), "
                        "loihi: Loihi's fixed point (docs/lava.md)")
    _threads(p)
    _include(p)
    _max_memory(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", help="build (cached), simulate, and write spikes, a summary and plots")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--target", default="numpy", choices=[t.name for t in TARGETS.values() if t.runs])
    p.add_argument("--duration", help="model time, e.g. 2s or 500ms (default: the spec's)")
    p.add_argument("--dt", help="the time step, over the simulate block's, e.g. 0.05ms (a build of its own, "
                                "cached; the spec's duration is kept)")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter value, e.g. tau_m=10ms or exc.tau_m=10ms (repeatable)")
    p.add_argument("--weights", type=Path, help="an .npz of synaptic state arrays to load before running "
                                                "(the layout of weights.npz: docs/language.md)")
    p.add_argument("--input", dest="inputs", action="append", default=[], metavar="POP.VAR=FILE.npy",
                   help="an input variable's values over time: a .npy table (steps x neurons, or steps) in SI "
                        "units, e.g. exc.I_ext=current.npy (repeatable)")
    p.add_argument("--save-weights", action="store_true",
                   help="write the final synaptic state of every connection to RUNDIR/weights.npz (--weights reads it)")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip raster.png and traces.png")
    _threads(p)
    _include(p)
    _max_memory(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train the network of a spec's train block")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--train", dest="block", help="which train block, if the spec has several")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the run folder")
    p.add_argument("--start-over", action="store_true",
                   help="with --resume: train from the first epoch when the last checkpoint is of another run "
                        "(another spec, train block, seed or setting) instead of refusing it")
    p.add_argument("--evaluate", action="store_true",
                   help="do not train: test RUNDIR/weights.npz (with --steps, --set, --quantize) -> RUNDIR/evaluation.json")
    p.add_argument("--steps", type=int, help="with --evaluate: time steps per sample")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="with --evaluate: a parameter value, e.g. thr=1.5 or hidden.thr=1.5 (repeatable)")
    p.add_argument("--quantize", type=int, metavar="BITS", help="with --evaluate: weights as signed BITS-bit integers")
    _include(p)
    _max_memory(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="many runs of one spec (a grid of parameter values, seeds) on Dask; "
                                     "pip install 'snnlang[sweep]' (docs/scale.md)")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="sweep folder: runs/<k>/summary.json, results.csv (.parquet), summary.png")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUES",
                   help="values of a parameter: a list (tau_m=10ms,15ms,20ms) or a range with its end included "
                        "(g=4:6:0.5); the runs are every combination (repeatable)")
    p.add_argument("--seeds", help="the seeds of each combination, e.g. 1-16 or 1,2,5 (default: the spec's)")
    p.add_argument("--zip", action="store_true", help="pair the k-th values of every --set instead of their grid")
    p.add_argument("--table", type=Path, metavar="RUNS.CSV",
                   help="the runs as a CSV table: a column per parameter (tau_m or tau_m [ms]), optionally seed")
    p.add_argument("--duration", help="model time of each run, e.g. 500ms (default: the spec's)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786 "
                                                          "(default: a local cluster)")
    p.add_argument("--workers", type=int, help="processes of the local cluster (default: one per core; "
                                               "0: run in this process, without Dask)")
    p.add_argument("--resume", action="store_true", help="continue the sweep in -o: its finished runs are kept")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip summary.png")
    _include(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("export", help="write the spec's network (and trained weights) as a NIR graph")
    p.add_argument("spec", type=Path)
    p.add_argument("--weights", type=Path, help="an .npz of trained weights (weights.npz of snnlang train)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the NIR file to write (model.nir)")
    _include(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="a NIR graph as a spec (and an .npz of its weights beside it)")
    p.add_argument("graph", type=Path, help="a NIR file (model.nir)")
    p.add_argument("-o", "--out", type=Path, required=True, help="the spec to write (model.snn; model.npz beside it)")
    p.add_argument("--dt", default="1ms", help="the time step the NIR neurons are stepped at (default 1ms)")
    p.add_argument("--steps", type=int, default=100, help="the simulate block's steps (default 100)")
    p.set_defaults(func=cmd_import)

    args = parser.parse_args(argv)
    from .frontend.diagnostics import SpecError
    from .output import OutputError
    from .limits import max_memory
    from .resources import include_dirs

    for folder in getattr(args, "include", []):
        if not folder.is_dir():
            print(f"snnlang {args.command}: --include {str(folder)!r} is not a folder", file=sys.stderr)
            return 2
    try:
        with include_dirs(getattr(args, "include", [])), max_memory(getattr(args, "max_memory", None)):
            return args.func(args)
    except SpecError as e:
        print(e.diagnostics.render(), file=sys.stderr)
        return 1
    except OutputError as e:  # a full disk or a read-only folder: the earlier file is kept
        print(f"snnlang {args.command}: {e}", file=sys.stderr)
        return 1
    except RecursionError:  # the front end locates what it finds too deep; a later stage cannot
        spec = getattr(args, "spec", None)
        print(f"snnlang {args.command}: {_shown(spec) + ': ' if spec else ''}an expression is nested too deeply "
              "to compile; write it in steps (algebraic definitions)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `snnlang check --emit-ir x.snn | head`: the reader has gone
        sys.stdout = None  # nothing more to flush at exit
        return 141


def _shown(path) -> str:
    """A path for the terminal: control characters, Unicode line breaks and bytes that are not
    UTF-8 written as escapes (a file name must not move the cursor or fail to print)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N",
                   help="--target c: OpenMP threads of the compiled loop (default: the cores); results do not depend on it")


@contextlib.contextmanager
def _recursion_limit(frames: int):
    """Python's recursion limit raised to ``frames`` for a while (the front end accepts
    expressions a few hundred levels deep; SymPy and pydantic take several frames a level)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _model_json(model) -> str | None:
    """The model as JSON; None when an expression is nested too deeply to print."""
    try:
        return model.model_dump_json(indent=2)
    except (RecursionError, ValueError) as e:  # pydantic reports a RecursionError as a ValueError
        if isinstance(e, RecursionError) or "Recursion" in str(e):
            return None
        raise


def _seed_refused(command: str, seed) -> bool:
    """--seed outside the 64-bit seeds of the random streams: said, and True."""
    if seed is not None and not 0 <= seed < 2**64:
        print(f"snnlang {command}: --seed {seed}: a seed is a whole number from 0 to 2**64 - 1", file=sys.stderr)
        return True
    return False


def _below(command: str, option: str, value, low: int) -> bool:
    """A whole-number option below ``low``: said, and True."""
    if value is not None and value < low:
        print(f"snnlang {command}: {option} {value}: it must be at least {low}", file=sys.stderr)
        return True
    return False


def _max_memory(p: argparse.ArgumentParser) -> None:
    def size(text: str) -> int:
        from .limits import parse_size

        try:
            return parse_size(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    p.add_argument("--max-memory", type=size, metavar="SIZE",
                   help="the most memory the network may need by its estimate, e.g. 64GiB (default: 3/4 of "
                        "this machine's memory); a larger one is refused before anything is built (docs/safety.md)")


def _include(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include", action="append", default=[], type=Path, metavar="DIR",
                   help="also allow imports from this folder (repeatable); by default a spec imports only "
                        "from its own folder (and below) and the standard library")


def cmd_check(args) -> int:
    from .driver import analyse, memory_lines

    failed = False
    models = []
    for spec in args.specs:
        model, diags = analyse(spec)
        if diags.items:
            print(diags.render(), file=sys.stderr)
        if model is None:
            failed = True
        else:
            models.append(model)
    if _kept is not None:
        _kept.extend(models)
    if args.emit_ir:
        for model in models:
            with _recursion_limit(20000):  # a deep expression takes SymPy and pydantic frames a level
                text = _model_json(model)
                if text is None:
                    print(f"snnlang check: {_shown(model.source)}: an expression is nested too deeply to print "
                          "as JSON", file=sys.stderr)
                    return 1
                print(text)
                for line in memory_lines(model):  # the memory estimate of each network (stderr: the JSON stays the model's)
                    print(f"{_shown(model.source)}: memory: {line}", file=sys.stderr)
    if failed:
        return 1
    if not args.emit_ir:
        names = ", ".join(_shown(s) for s in args.specs)
        print(f"ok: {names}")
    return 0


def cmd_schema(args) -> int:
    from .frontend.model import Model

    print(json.dumps(Model.model_json_schema(), indent=2))
    return 0


def cmd_build(args) -> int:
    import time

    from .build import build

    from .plan.build import PRECISION

    refused = _build_front(args)  # the spec's warnings, and --network
    if refused is not None:
        return refused
    start = time.perf_counter()
    precision = PRECISION.set(args.precision)
    try:
        options = {"threads": args.threads} if args.threads is not None else {}  # the c target's default
        plan = build(args.spec, args.out, args.target, args.network, **options)
    except ValueError as e:  # a target that cannot print something the plan needs
        print(f"snnlang build: {e}", file=sys.stderr)
        return 1
    finally:
        PRECISION.reset(precision)
    elapsed = time.perf_counter() - start
    print(f"built {_shown(args.out)} ({args.target}) from {_shown(args.spec)}: network '{plan.network}', "
          f"{len(plan.populations)} populations, {len(plan.connections)} connections, in {elapsed:.2f} s")
    for pop in plan.populations:
        print(f"  {pop.name}: {pop.size} x {pop.neuron}, {pop.method_reason}")
    if plan.fixed_point is not None and args.target != "lava":  # precision = loihi: the registers' errors
        for line in plan.fixed_point.report():
            print(f"  fixed point: {line}")
    if args.target == "lava":  # Loihi's fixed point: quantisation errors, and what has no fixed-point form
        from .backends.lava import report_lines

        for line in report_lines(plan):
            print(f"  lava: {line}")
    return 0


def _build_front(args) -> int | None:
    """Check the spec before a build: its errors raise SpecError, its warnings (what check says
    about doubtful numbers) are shown, and a --network it does not have is refused (exit 2)."""
    from .frontend.diagnostics import SpecError, did_you_mean
    from .driver import analyse

    model, diags = analyse(args.spec)
    if model is None:
        raise SpecError(diags)
    if diags.items:
        print(diags.render(), file=sys.stderr)
    if args.network is not None and args.network not in model.networks:
        print(f"snnlang build: --network {args.network!r}: {_shown(args.spec)} has no such network; it has "
              f"{', '.join(model.networks) or 'none'}" + did_you_mean(args.network, model.networks), file=sys.stderr)
        return 2
    return None


def cmd_run(args) -> int:
    from .run import SimulationFailed, run

    duration = time_option("run", "--duration", args.duration, "2s or 500ms", "a duration")
    dt = time_option("run", "--dt", args.dt, "0.1ms", "a time step")
    if duration == -1.0 or dt == -1.0:
        return 2
    if _seed_refused("run", args.seed):
        return 2
    out = args.out or Path("runs") / args.spec.stem
    if args.threads is not None:  # read by the c target's Network (SNNLANG_THREADS)
        import os

        os.environ["SNNLANG_THREADS"] = str(max(1, args.threads))
    try:
        summary = run(args.spec, out, duration=duration, seed=args.seed, settings=tuple(args.settings),
                      target=args.target, weights=args.weights, progress=sys.stderr.isatty(), plots=args.plots,
                      dt=dt, dt_text=args.dt, save_weights=args.save_weights, threads=args.threads,
                      inputs=tuple(args.inputs))
    except (ValueError, KeyError) as e:
        print(f"snnlang run: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except SimulationFailed as e:  # a NaN or an overflow: what was recorded before it is written
        print(f"snnlang run: {e}; the {e.summary['steps']} steps before it are in {_shown(out)}", file=sys.stderr)
        return 1
    except RuntimeError as e:
        if type(e).__name__ != "DeviceUnavailable":  # the CuPy target without a usable GPU
            raise
        print(f"snnlang run: {e}", file=sys.stderr)
        return 2
    if summary.get("process"):  # mpirun: a process other than the first (which reports for all)
        return 0
    print(f"{summary['network']}: {summary['steps']} steps of {summary['dt'] * 1e3:g} ms in {summary['run_s']:.2f} s "
          f"(build {summary['build_s']:.2f} s), {summary['synops']} synaptic events -> {_shown(out)}")
    for name, pop in summary["populations"].items():
        print(f"  {name}: {pop['n']} neurons, {pop['spikes']} spikes, {pop['rate_hz']:.2f} Hz")
    if str(summary.get("plots", "")).startswith("skipped"):  # matplotlib is optional: one line says so
        print(f"snnlang run: note: plots {summary['plots']}", file=sys.stderr)
    return 0


def time_option(command: str, option: str, text: str | None, example: str, what: str) -> float | None:
    """A time option (``--duration 2s``, ``--dt 0.1ms``) in seconds; None when not given; -1.0
    after saying why it is refused (not a time, or not a positive, finite one: ``what``)."""
    if text is None:
        return None
    from .run import parse_setting

    try:
        _, seconds, dim = parse_setting(f"t={text}")
    except ValueError:
        dim = None
    if dim != (0, 0, 1, 0, 0, 0, 0):
        print(f"snnlang {command}: {option} {text!r} is not a time such as {example}", file=sys.stderr)
        return -1.0
    if not 0 < seconds < float("inf"):
        print(f"snnlang {command}: {option} {text!r}: {what} must be a positive, finite time", file=sys.stderr)
        return -1.0
    return seconds


def cmd_sweep(args) -> int:
    from .sweeps import command

    return command(args)


def cmd_train(args) -> int:
    from .training import train

    out = args.out or Path("runs") / args.spec.stem
    if args.evaluate:
        return cmd_train_evaluate(args, out)
    if args.steps is not None or args.settings or args.quantize is not None:
        print("snnlang train: --steps, --set and --quantize go with --evaluate", file=sys.stderr)
        return 2
    if _below("train", "--epochs", args.epochs, 1) or _seed_refused("train", args.seed):
        return 2
    if args.start_over and not args.resume:
        print("snnlang train: --start-over goes with --resume (without --resume, training starts over)",
              file=sys.stderr)
        return 2
    try:
        metrics = train(args.spec, out, args.block, epochs=args.epochs, resume=args.resume, seed=args.seed,
                        progress=sys.stderr.isatty(), start_over=args.start_over)
    except (ValueError, KeyError) as e:
        print(f"snnlang train: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    last = metrics["epochs"][-1] if metrics["epochs"] else {}
    print(f"trained {len(metrics['epochs'])} epochs -> {_shown(out)}: test accuracy {metrics['test_accuracy']}"
          + (f", last epoch {last.get('seconds', 0):.2f} s" if last else ""))
    for key in ("synops_per_sample", "spikes_per_sample", "test_accuracy_8bit"):
        if key in metrics:
            print(f"  {key}: {metrics[key]:.4g}")
    return 0


def cmd_train_evaluate(args, out: Path) -> int:
    from .run import parse_setting
    from .training import evaluate

    if (_below("train", "--steps", args.steps, 1) or _below("train", "--quantize", args.quantize, 2)
            or _seed_refused("train", args.seed)):
        return 2
    if args.epochs is not None or args.resume:
        print("snnlang train: --epochs and --resume do not go with --evaluate", file=sys.stderr)
        return 2
    weights = out / "weights.npz"
    if not weights.exists():
        print(f"snnlang train: {_shown(weights)} does not exist; train first", file=sys.stderr)
        return 2
    path = out / "evaluation.json"
    try:
        runs = json.loads(path.read_text()) if path.exists() else []
    except (OSError, ValueError):
        runs = None
    if not isinstance(runs, list):  # not the list of evaluations this command writes: keep it
        print(f"snnlang train: {_shown(path)} is not a list of evaluations snnlang wrote; move it away", file=sys.stderr)
        return 2
    try:
        params = {}
        for text in args.settings:
            key, value, _ = parse_setting(text)
            params[key] = value
        result = evaluate(args.spec, weights, args.block, steps=args.steps, params=params, bits=args.quantize,
                          seed=args.seed)
    except (ValueError, KeyError) as e:
        print(f"snnlang train: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    runs.append(result)
    from .output import write_json

    write_json(path, runs)
    print(f"evaluated {_shown(weights)}: accuracy {result['accuracy']:.4f} with {result['steps']} steps"
          + (f", {args.quantize}-bit weights" if args.quantize else "")
          + (f", {', '.join(args.settings)}" if args.settings else "")
          + f"; {result['synops_per_sample']:.0f} SynOps and {result['spikes_per_sample']:.1f} spikes per sample -> {_shown(path)}")
    return 0

def cmd_export(args) -> int:
    from .interop.nir import NEED_NIR, export

    try:
        _, warnings = export(args.spec, args.out, args.weights)
    except ImportError:
        print(f"snnlang export: {NEED_NIR}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, OSError) as e:
        print(f"snnlang export: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if warnings:
        print(warnings, file=sys.stderr)
    print(f"exported {_shown(args.spec)} -> {_shown(args.out)}")
    return 0


def cmd_import(args) -> int:
    from .interop.nir import NEED_NIR, write_import
    dt = time_option("import", "--dt", args.dt, "1ms", "a time step")
    if dt == -1.0:
        return 2
    if args.out.suffix != ".snn":
        print(f"snnlang import: -o {_shown(args.out)}: name the spec NAME.snn (its weights go to NAME.npz)", file=sys.stderr)
        return 2
    try:
        result = write_import(args.graph, args.out, dt=dt, steps=args.steps)
    except ImportError:
        print(f"snnlang import: {NEED_NIR}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:
        print(f"snnlang import: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"snnlang import: note: {note}", file=sys.stderr)
    npz = args.out.with_suffix(".npz")
    print(f"imported {_shown(args.graph)} -> {_shown(args.out)} and {_shown(npz)}; "
          f"run it with: snnlang run {_shown(args.out)} --weights {_shown(npz)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
