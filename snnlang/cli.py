"""The command line: ``snnlang check | schema | build | run | train``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .backends import TARGETS


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
    _include(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("run", help="build (cached), simulate, and write spikes, a summary and plots")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--target", default="numpy", choices=[t.name for t in TARGETS.values() if t.runs])
    p.add_argument("--duration", help="model time, e.g. 2s or 500ms (default: the spec's)")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter value, e.g. tau_m=10ms or exc.tau_m=10ms (repeatable)")
    p.add_argument("--weights", type=Path, help="an .npz of synaptic state arrays to load before running")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip raster.png and traces.png")
    _include(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="train the network of a spec's train block")
    p.add_argument("spec", type=Path)
    p.add_argument("-o", "--out", type=Path, help="run folder (default: runs/<spec name>)")
    p.add_argument("--train", dest="block", help="which train block, if the spec has several")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the run folder")
    p.add_argument("--evaluate", action="store_true",
                   help="do not train: test RUNDIR/weights.npz (with --steps, --set, --quantize) -> RUNDIR/evaluation.json")
    p.add_argument("--steps", type=int, help="with --evaluate: time steps per sample")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="with --evaluate: a parameter value, e.g. thr=1.5 or hidden.thr=1.5 (repeatable)")
    p.add_argument("--quantize", type=int, metavar="BITS", help="with --evaluate: weights as signed BITS-bit integers")
    _include(p)
    p.set_defaults(func=cmd_train)

    args = parser.parse_args(argv)
    from .diagnostics import SpecError
    from .resources import include_dirs

    for folder in getattr(args, "include", []):
        if not folder.is_dir():
            print(f"snnlang {args.command}: --include {str(folder)!r} is not a folder", file=sys.stderr)
            return 2
    try:
        with include_dirs(getattr(args, "include", [])):
            return args.func(args)
    except SpecError as e:
        print(e.diagnostics.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _shown(path) -> str:
    """A path for the terminal: control characters, Unicode line breaks and bytes that are not
    UTF-8 written as escapes (a file name must not move the cursor or fail to print)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _include(p: argparse.ArgumentParser) -> None:
    p.add_argument("--include", action="append", default=[], type=Path, metavar="DIR",
                   help="also allow imports from this folder (repeatable); by default a spec imports only "
                        "from its own folder (and below) and the standard library")


def cmd_check(args) -> int:
    from .driver import analyse

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
    if args.emit_ir:
        for model in models:
            print(model.model_dump_json(indent=2))
    if failed:
        return 1
    if not args.emit_ir:
        names = ", ".join(_shown(s) for s in args.specs)
        print(f"ok: {names}")
    return 0


def cmd_schema(args) -> int:
    from .model import Model

    print(json.dumps(Model.model_json_schema(), indent=2))
    return 0


def cmd_build(args) -> int:
    import time

    from .build import build

    start = time.perf_counter()
    try:
        plan = build(args.spec, args.out, args.target, args.network)
    except ValueError as e:  # a target that cannot print something the plan needs
        print(f"snnlang build: {e}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(f"built {_shown(args.out)} ({args.target}) from {_shown(args.spec)}: network '{plan.network}', "
          f"{len(plan.populations)} populations, {len(plan.connections)} connections, in {elapsed:.2f} s")
    for pop in plan.populations:
        print(f"  {pop.name}: {pop.size} x {pop.neuron}, {pop.method_reason}")
    if args.target == "lava":  # Loihi's fixed point: quantisation errors, and what has no fixed-point form
        from .backends.lava import report_lines

        for line in report_lines(plan):
            print(f"  lava: {line}")
    return 0


def cmd_run(args) -> int:
    from .run import parse_setting, run

    duration = None
    if args.duration is not None:
        try:
            _, duration, dim = parse_setting(f"duration={args.duration}")
        except ValueError:
            dim = None
        if dim != (0, 0, 1, 0, 0, 0, 0):
            print(f"snnlang run: --duration {args.duration!r} is not a time such as 2s or 500ms", file=sys.stderr)
            return 2
    out = args.out or Path("runs") / args.spec.stem
    try:
        summary = run(args.spec, out, duration=duration, seed=args.seed, settings=tuple(args.settings),
                      target=args.target, weights=args.weights, progress=sys.stderr.isatty(), plots=args.plots)
    except (ValueError, KeyError) as e:
        print(f"snnlang run: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if type(e).__name__ != "DeviceUnavailable":  # the CuPy target without a usable GPU
            raise
        print(f"snnlang run: {e}", file=sys.stderr)
        return 2
    print(f"{summary['network']}: {summary['steps']} steps of {summary['dt'] * 1e3:g} ms in {summary['run_s']:.2f} s "
          f"(build {summary['build_s']:.2f} s), {summary['synops']} synaptic events -> {_shown(out)}")
    for name, pop in summary["populations"].items():
        print(f"  {name}: {pop['n']} neurons, {pop['spikes']} spikes, {pop['rate_hz']:.2f} Hz")
    return 0


def cmd_train(args) -> int:
    from .train import train

    out = args.out or Path("runs") / args.spec.stem
    if args.evaluate:
        return cmd_train_evaluate(args, out)
    if args.steps is not None or args.settings or args.quantize is not None:
        print("snnlang train: --steps, --set and --quantize go with --evaluate", file=sys.stderr)
        return 2
    try:
        metrics = train(args.spec, out, args.block, epochs=args.epochs, resume=args.resume, seed=args.seed,
                        progress=sys.stderr.isatty())
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
    from .train import evaluate

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
    path.write_text(json.dumps(runs, indent=2) + "\n")
    print(f"evaluated {_shown(weights)}: accuracy {result['accuracy']:.4f} with {result['steps']} steps"
          + (f", {args.quantize}-bit weights" if args.quantize else "")
          + (f", {', '.join(args.settings)}" if args.settings else "")
          + f"; {result['synops_per_sample']:.0f} SynOps and {result['spikes_per_sample']:.1f} spikes per sample -> {_shown(path)}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
