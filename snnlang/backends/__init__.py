"""The targets: one registry that the CLI, the build and the cache read, and one template environment.

A target is a printer of the plan (a class with ``context()``: what its templates show) and a
folder of templates, ``templates/<name>/``, whose ``*.j2`` files become the package's files.
Adding a target means one printer module, its templates and one entry here
(docs/architecture.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Target:
    name: str
    printer: str  # "module:Class" below snnlang.backends: Class(plan).context() -> template values
    summary: str  # one line, for --help
    runs: bool = True  # `snnlang run` can simulate its package in this process
    skip: frozenset[str] = frozenset()  # templates of the folder that are not package files
    finish: str = ""  # "module:function" run on the written package folder (the c target compiles it)
    precisions: tuple[str, ...] = ("float64",)  # the arithmetic modes it prints (Plan.precision)

    def emitter(self, plan):
        return _load(self.printer)(plan)

    def finish_package(self, folder, **options) -> None:
        """What a package needs once written (options: the build's, such as threads)."""
        if self.finish:
            _load(self.finish)(folder, **options)


def _load(where: str):
    module, name = where.split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("numpy", "numpy:NumpyEmitter", "vectorised NumPy, any CPU",
           skip=frozenset({"training.py.j2"}),  # written by render_training for train blocks
           precisions=("float64", "loihi")),
    Target("cupy", "cupy:CupyEmitter", "CUDA kernels driven by CuPy, NVIDIA GPUs"),
    Target("c", "c:CEmitter", "one compiled C function per run (the system C compiler, OpenMP), any CPU",
           finish="c:compile_package", precisions=("float64", "float32")),
    Target("lava", "lava:LavaEmitter", "Lava processes (Loihi), run in Lava's Python", runs=False,
           precisions=("float64", "loihi")),
)}


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None


@lru_cache(maxsize=1)
def environment():
    """The one Jinja environment of every target: templates by path below templates/
    (``numpy/network.py.j2`` extends ``common/network.py.j2``)."""
    import jinja2

    from ..resources import templates_dir

    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined)


def templates(name: str) -> list[str]:
    """The template files of a target that become package files, relative to its folder."""
    t = target(name)
    prefix = f"{name}/"
    return [n[len(prefix):] for n in environment().list_templates(extensions=["j2"])
            if n.startswith(prefix) and n[len(prefix):] not in t.skip]
