"""Diagnostics: errors and warnings with a place in a spec file.

Every stage reports problems through :class:`Diagnostics`; nothing the user
wrote may end in a Python traceback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the IR (and SymPy) load only when a spec is lowered
    from .model import Loc


@dataclass(frozen=True)
class Diagnostic:
    loc: Loc
    severity: str  # "error" or "warning"
    message: str

    def render(self, sources: dict[str, str]) -> str:
        """``file:line:col: error: message``, then the source line and a caret."""
        text = _escaped(f"{self.loc}: {self.severity}: {self.message}")
        source = sources.get(self.loc.file)
        if source is not None:
            lines = source.split("\n")  # as the lexer counts lines (splitlines also splits at \f, \v, ...)
            if 1 <= self.loc.line <= len(lines) and lines[self.loc.line - 1].strip():
                # control characters of the spec must not reach the terminal; '?' keeps the caret aligned
                line = "".join(c if c.isprintable() or c == "\t" else "?" for c in lines[self.loc.line - 1].rstrip("\r"))
                caret = "".join(c if c == "\t" else " " for c in line[: self.loc.column - 1])
                text += f"\n    {line}\n    {caret}^"
        return text


def _escaped(text: str) -> str:
    """``text`` with control characters written as escapes (a message may quote the spec)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass
class Diagnostics:
    """Collects diagnostics of every file of a build, in the order found."""

    items: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    #: the items, to find a repeated one without a search through all (a spec of 100,000 lines
    #: may warn on each); rebuilt when items was changed by other means than error / warning
    _seen: set = field(default_factory=set, init=False, repr=False, compare=False)

    def error(self, loc: Loc, message: str) -> None:
        self._add(Diagnostic(loc, "error", message))

    def warning(self, loc: Loc, message: str) -> None:
        self._add(Diagnostic(loc, "warning", message))

    def _add(self, d: Diagnostic) -> None:
        if len(self._seen) != len(self.items):
            self._seen = set(self.items)
        if d not in self._seen:
            self.items.append(d)
            self._seen.add(d)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]

    def render(self) -> str:
        ordered = sorted(self.items, key=lambda d: (d.loc.file, d.loc.line, d.loc.column))
        return "\n".join(d.render(self.sources) for d in ordered)


class SpecError(Exception):
    """Raised when a spec has errors; carries every diagnostic found."""

    def __init__(self, diagnostics: Diagnostics):
        self.diagnostics = diagnostics
        super().__init__(diagnostics.render())


def did_you_mean(name: str, candidates) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or an empty string.

    Letters are compared without case first, then with it: 'mv' is closest to 'mV',
    not to 'm' or 'MV'."""
    import difflib  # only when there is an error to explain

    by_folded: dict[str, list[str]] = {}
    for c in set(candidates):
        by_folded.setdefault(c.lower(), []).append(c)
    close = difflib.get_close_matches(name.lower(), sorted(by_folded), n=1, cutoff=0.6)
    if not close:
        return ""
    best = max(sorted(by_folded[close[0]]), key=lambda c: difflib.SequenceMatcher(None, name, c).ratio())
    return f" (did you mean '{best}'?)" if best != name else ""


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
