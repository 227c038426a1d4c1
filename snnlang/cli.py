"""The command line: ``snnlang check | schema | build | run | train``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snnlang", description="Compile spiking neural network specs.")
    parser.add_argument("--version", action="version", version=f"snnlang {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="report every error and warning of the specs; exit 1 on errors")
    p.add_argument("specs", nargs="+", type=Path)
    p.add_argument("--emit-ir", action="store_true", help="print the checked model as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the JSON schema of the model (IR)")
    p.set_defaults(func=cmd_schema)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_check(args) -> int:
    from .frontend import analyse

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
        names = ", ".join(str(s) for s in args.specs)
        print(f"ok: {names}")
    return 0


def cmd_schema(args) -> int:
    from .model import Model

    print(json.dumps(Model.model_json_schema(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
