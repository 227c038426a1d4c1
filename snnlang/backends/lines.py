"""Generated source as lines with indentation, shared by every backend (Python and C)."""
from __future__ import annotations

import re


class Lines:
    """Source lines with indentation (Python, or C with ``block``)."""

    def __init__(self, unit: str = "    "):
        self.lines: list[str] = []
        self.level = 0
        self.unit = unit

    def __call__(self, text: str = "") -> None:
        self.lines.append((self.unit * self.level + text) if text else "")

    def indent(self):
        """A Python block: the lines written inside are indented one level."""
        return self.block(None, None)

    def block(self, opener: str | None = None, closer: str | None = "}"):
        """``opener {`` ... ``}`` in C (``opener:`` and an indent in Python: closer=None)."""
        lines = self

        class _Block:
            def __enter__(self):
                if opener is not None:
                    if closer:  # C: the brace before a trailing comment
                        code, sep, comment = opener.partition("  //")
                        lines(code + " {" + sep + comment)
                    else:  # Python: the opener ends with its colon
                        lines(opener)
                lines.level += 1

            def __exit__(self, *exc):
                lines.level -= 1
                if closer:
                    lines(closer)

        return _Block()

    def text(self, base_indent: int = 0) -> str:
        pad = self.unit * base_indent
        return "\n".join((pad + line) if line else "" for line in self.lines)

    def prune(self, context: str = "") -> "Lines":
        """Drop top-level Python assignments whose values nothing reads: not the lines after
        them before the name is assigned again, nor ``context`` (code that runs after these
        lines). The plan loads every parameter of a population; not every block uses each one."""
        while True:
            kept = [line for k, line in enumerate(self.lines) if not self._dead(k, context)]
            if len(kept) == len(self.lines):
                return self
            self.lines = kept

    def _dead(self, k: int, context: str) -> bool:
        m = _ASSIGNMENT.match(self.lines[k])
        if not m:
            return False
        for name in m.group(1).split(", "):
            word = re.compile(rf"\b{name}\b")
            for line in self.lines[k + 1:]:
                later = _ASSIGNMENT.match(line)
                if word.search(line[later.end():] if later else line):
                    return False  # read
                if later and name in later.group(1).split(", "):
                    break  # assigned again before any read
            else:
                if word.search(context):
                    return False
        return True


#: ``name = ...`` or ``a, b = ...`` at the top level of a block: not ``==``, not ``+=``, and
#: not a chained ``a = b[k] = ...`` (which writes into b whatever becomes of a).
_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*) = (?!=)(?![^#]*\] = )")
