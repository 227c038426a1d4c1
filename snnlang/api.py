"""The Python API: compile, check and train specs from a program or a notebook.

```python
import snnlang

Network = snnlang.compile('''
    import "lif.snn"
    network demo { population cells = LIF(10) { I_ext = 2 nA }; monitor spikes of cells }
    simulate demo { dt = 0.1 ms; duration = 100 ms }
''')
net = Network(seed=1)
net.run()
times, neurons = net.spikes("cells")
```

A spec is a path (a :class:`~pathlib.Path`, or a string without a line break or ``{``
that names a file) or the spec's text. Text is written once into the cache, to a file named
by the hash of the text (:func:`snnlang.driver.text_spec`), and compiled like any file: the
same text reuses its cached package, and its diagnostics point into it as
``<string>:line:col`` (or the ``name`` given). A spec given as text imports from the standard
library and from the ``include`` folders only (``include=["."]`` for files beside the
notebook).

Everything goes through :mod:`snnlang.driver`, as the command line does. This module
imports nothing heavy itself: ``import snnlang`` stays cheap, and SymPy loads only when a
package has to be built.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

SpecLike = Union[str, Path]

#: The name a spec given as text is shown by in diagnostics.
TEXT_NAME = "<string>"


@dataclass(frozen=True)
class Diagnostic:
    """One error or warning of a spec: where (file, line, column), how bad, and what.

    ``file`` is the path as the user would type it, or ``<string>`` (the ``name`` given)
    for a spec given as text. ``str(d)`` is ``file:line:col: severity: message``;
    :meth:`render` adds the source line and a caret.
    """

    file: str
    line: int
    column: int
    severity: str  # "error" or "warning"
    message: str
    source_line: Optional[str] = None  # the line of the spec it points into, when known

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"

    def render(self) -> str:
        """``file:line:col: severity: message``, then the source line and a caret under the place."""
        text = str(self)
        if self.source_line and self.source_line.strip():
            line = "".join(c if c.isprintable() or c == "\t" else "?" for c in self.source_line)
            caret = "".join(c if c == "\t" else " " for c in line[: self.column - 1])
            text += f"\n    {line}\n    {caret}^"
        return text


class Report(list):
    """The diagnostics of :func:`check`, a list of :class:`Diagnostic` in the order of the
    files' text, with ``errors``, ``warnings`` and ``ok`` (no errors)."""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self if d.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        return "\n".join(d.render() for d in self) if self else "ok"

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows the rendered diagnostics
        printer.text(str(self))


def _is_text(spec: SpecLike) -> bool:
    """A string with a line break or a brace is spec text; any other string is a path."""
    return isinstance(spec, str) and ("\n" in spec or "{" in spec)


@contextmanager
def _spec(spec: SpecLike, name: Optional[str], include: Sequence[SpecLike]):
    """(path of the spec, the file name to show instead of it), inside the include folders;
    a SpecError raised inside points into the text as ``name``."""
    from .frontend.diagnostics import SpecError, display_path
    from .driver import text_spec
    from .resources import include_dirs

    for folder in include:
        if not Path(folder).is_dir():
            raise ValueError(f"include: {str(folder)!r} is not a folder")
    if _is_text(spec):
        path = text_spec(spec)
        renamed = (display_path(path), name or TEXT_NAME)
    elif isinstance(spec, (str, Path)):
        path, renamed = Path(spec), None
    else:
        raise TypeError(f"a spec is a path or the text of a spec, not {type(spec).__name__}")
    try:
        with include_dirs(list(include)):
            yield path, renamed
    except SpecError as e:
        raise SpecError(_renamed(e.diagnostics, renamed)) from None


def _renamed(diags, renamed):
    """Diagnostics with the cache file of a text spec shown by its name (``<string>``)."""
    if renamed is None:
        return diags
    from .frontend.diagnostics import Diagnostic as Item, Diagnostics

    old, new = renamed
    out = Diagnostics(sources={(new if k == old else k): v for k, v in diags.sources.items()})
    for d in diags.items:
        loc = d.loc._replace(file=new) if d.loc.file == old else d.loc
        out.items.append(Item(loc, d.severity, d.message))
    return out


def check(spec: SpecLike, *, name: Optional[str] = None, include: Iterable[SpecLike] = ()) -> Report:
    """Every error and warning of a spec (a path or its text), as :class:`Diagnostic` objects.

    Nothing is raised for a spec with errors: ``report.ok`` says whether it has none, and
    ``print(report)`` shows each with its source line, as ``snnlang check`` does.
    ``name``: what a spec given as text is called in the diagnostics (default ``<string>``);
    ``include``: folders its imports may come from too (``--include``).
    """
    from .driver import analyse

    with _spec(spec, name, tuple(include)) as (path, renamed):
        _, diags = analyse(path)
    diags = _renamed(diags, renamed)
    items = sorted(diags.items, key=lambda d: (d.loc.file, d.loc.line, d.loc.column))
    report = Report()
    for d in items:
        source = diags.sources.get(d.loc.file)
        lines = source.split("\n") if source is not None else []
        line = lines[d.loc.line - 1].rstrip("\r") if 1 <= d.loc.line <= len(lines) else None
        report.append(Diagnostic(d.loc.file, d.loc.line, d.loc.column, d.severity, d.message, line))
    return report


def compile(spec: SpecLike, target: str = "numpy", *, name: Optional[str] = None,
            include: Iterable[SpecLike] = ()) -> type:
    """The ``Network`` class of the package generated from a spec (a path or its text).

    The package is built once into the cache (keyed by the spec's text, its imports and the
    compiler, as for ``snnlang run``) and imported; a second call with the same spec returns
    at once. ``target``: ``numpy`` (default), ``cupy`` (needs a GPU to run), or another
    target of ``snnlang build --target``. ``name``: what a spec given as text is called in
    diagnostics (default ``<string>``); ``include``: folders its imports may also come from.

    Raises :class:`snnlang.frontend.diagnostics.SpecError` when the spec has errors: its message is
    every diagnostic with its place (``<string>:3:14: error: ...``), and ``.diagnostics``
    holds them. The class's module (``sys.modules[Network.__module__]``) holds the package's
    constants: ``NETWORK``, ``DT``, ``STEPS``, ``SIZES``, ``PARAMETERS``, ``MONITORS``.

    ```python
    Network = snnlang.compile("specs/cuba.snn")
    net = Network(seed=1, params={"cells.tau_m": 0.025})
    net.run(duration=0.5)
    times, neurons = net.spikes("cells")
    ```
    """
    from .backends import TARGETS
    from .driver import package

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    with _spec(spec, name, tuple(include)) as (path, _):
        module, _seconds = package(path, target)
    return module.Network


def load_weights(net, path: SpecLike) -> None:
    """Load synaptic state arrays (``weights.npz`` of ``snnlang train``, the ``.npz`` of
    ``snnlang import``) into a ``Network``, as ``snnlang run --weights`` does: each array
    replaces the state of that name; ``input:<population>.<variable>`` keys set an input's
    outside value (a trained bias)."""
    from .run import load_weights as load

    load(net, Path(path))


def train(spec: SpecLike, out: SpecLike, *, block: Optional[str] = None, epochs: Optional[int] = None,
          seed: Optional[int] = None, resume: bool = False, progress: bool = True,
          name: Optional[str] = None, include: Iterable[SpecLike] = ()) -> dict:
    """Train the network of a spec's ``train`` block, as ``snnlang train SPEC -o OUT`` does.

    Writes ``OUT/metrics.json``, ``OUT/weights.npz`` (for :func:`load_weights` or
    ``snnlang run --weights``), a checkpoint per epoch and ``training.png``, and returns the
    metrics (``epochs``: one dict per epoch; ``test_accuracy``; SynOps and spikes per
    sample). ``block``: which train block, if the spec has several; ``epochs`` and
    ``seed`` override the block's; ``resume`` continues from the last checkpoint in ``OUT``;
    ``progress`` shows a progress bar. A spec given as text reads its data files relative to
    the cache folder it is written to: give them as absolute paths. ``OUT`` is refused
    (ValueError) if it holds files of those names that snnlang did not write.
    """
    from .training import train as run_training

    with _spec(spec, name, tuple(include)) as (path, _):
        return run_training(path, Path(out), block, epochs=epochs, resume=resume, seed=seed, progress=progress)


__all__ = ["compile", "check", "train", "load_weights", "Diagnostic", "Report"]
