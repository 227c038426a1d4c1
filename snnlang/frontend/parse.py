"""Parse: .snn text to a Lark syntax tree, or diagnostics with file:line:col."""
from __future__ import annotations

import gc
from contextlib import contextmanager
from functools import lru_cache
from typing import Optional

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostics
from .lalr import FastParser, Refused
from .model import Loc
from ..resources import grammar_path

_NAMES = frozenset({"NAME", "DERIV"})  # the tokens that name something (parse(names=...))
_TERMINAL_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "a whole number",
    "STRING": "a string",
    "DERIV": "a derivative such as dv/dt",
    "AUGOP": "'+=', '-=', '*=' or '/='",
    "COMPARE": "a comparison",
    "ADDOP": "'+' or '-'",
    "MULOP": "'*' or '/'",
    "_NL": "a new line",
    "$END": "the end of the file",
}


#: Objects made while the collector is paused above which they are frozen after (collector_paused).
FREEZE_ABOVE = 100_000


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off inside the ``with`` (on again after, if it was).

    Parsing and lowering a spec create many objects and free few: the collector would walk
    the growing heap again and again (half the time of checking 10,000 connect lines), and
    finds nothing to free. A spec is at most 10 MiB, so what it builds is bounded.

    After a large spec (over ``FREEZE_ABOVE`` objects made inside), the objects then alive are
    frozen (``gc.freeze()``, the caller's too): the collections that follow, and the one when
    Python exits, would walk the model again and again (4 s of 15 for 100,000 connect lines) and
    find nothing either. Frozen objects are freed as usual once no longer used (by their
    reference counts); only a cycle of references among them would stay until
    ``gc.unfreeze()``, and the model and SymPy's expressions hold none. Small specs (every
    spec of the repository) leave the collector as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    made = gc.get_count()[0]
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_count()[0] - made > FREEZE_ABOVE:
                gc.freeze()
            gc.enable()


@lru_cache(maxsize=1)
def parser() -> lark.Lark:
    return lark.Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
    )


@lru_cache(maxsize=1)
def fast_parser() -> Optional[FastParser]:
    """The same tables and lexers as :func:`parser`, driven faster (lalr.py); Lark's parser
    itself only says what is wrong with a text this one refuses. None where the grammar uses
    something the fast driver does not (tests/test_parse.py fails then): Lark parses alone."""
    try:
        return FastParser(parser())
    except ValueError:
        return None


def _describe(p: lark.Lark, name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = p.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


#: Tokens that can start an expression, and tokens that can continue one.
_STARTS = {"ADDOP", "NAME", "NUMBER", "INT", "LPAR", "LSQB", "STRING", "NOT"}
_OPERATORS = {"ADDOP", "MULOP", "COMPARE", "AND", "OR", "DOT", "LPAR", "LSQB", "'**'"}  # '**' is anonymous
#: Characters people carry over from other languages.
_HINTS = {"^": " (a power is written **)", "&": " (write 'and')", "|": " (write 'or')",
          "!": " (write 'not', or != for 'not equal')", "'": " (a string is written in double quotes)"}


def _expected(p: lark.Lark, error: UnexpectedInput, names) -> str:
    """``; expected X, Y or Z``: the tokens that would let the parse go on."""
    parser_state = getattr(error, "interactive_parser", None)
    if parser_state is not None:
        try:  # exact where the LALR tables merge states (their 'expected' sets are supersets)
            names = parser_state.accepts()
        except Exception:  # noqa: BLE001 - a diagnostic must not fail; keep Lark's set
            pass
    names = set(names or ())
    items = set()
    if {"NUMBER", "INT", "LPAR"} <= names:
        items.add("an expression")
        names -= _STARTS
    if {"MULOP", "COMPARE"} <= names:
        items.add("an operator")
        names = {n for n in names if n not in _OPERATORS and _describe(p, n) not in _OPERATORS}
    items |= {_describe(p, n) for n in names}
    items = sorted(items)
    if not items:
        return ""
    if len(items) == 1:
        return f"; expected {items[0]}"
    return "; expected " + ", ".join(items[:-1]) + " or " + items[-1]


def _token_text(token: lark.Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "_NL":
        return "new line"
    return f"'{token}'"


def parse(text: str, file: str, diags: Diagnostics, names: Optional[list] = None) -> lark.Tree | None:
    """The syntax tree of ``text``, or None after reporting the syntax error. ``names``, if
    given, receives every NAME and DERIV token of the tree (in the order of the text)."""
    diags.sources[file] = text
    fast = fast_parser()
    if fast is not None:
        try:
            return fast.parse(text, names, _NAMES)
        except Refused:  # not in the language: Lark's parser finds the error, with what was expected
            if names is not None:
                names.clear()
    p = parser()
    try:
        tree = p.parse(text)
        if names is not None:  # (without the fast parser: it accepts all that Lark does)
            names += tree.scan_values(lambda v: isinstance(v, lark.Token) and v.type in _NAMES)
        return tree
    except UnexpectedToken as e:
        token = e.token
        line = token.line if token.line is not None else e.line
        column = token.column if token.column is not None else e.column
        if token.type == "$END":
            line, column = _end_position(text)
        diags.error(Loc(file=file, line=line, column=column),
                    f"syntax error: unexpected {_token_text(token)}{_expected(p, e, e.expected)}")
    except UnexpectedCharacters as e:
        char = text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(text) else "?"
        loc = Loc(file=file, line=e.line, column=e.column)
        if char == '"':
            diags.error(loc, "syntax error: a string must end with '\"' on the same line")
        else:
            shown = repr(char) if not char.isprintable() or char in "'\"" else f"'{char}'"
            diags.error(loc, f"syntax error: unexpected character {shown}{_HINTS.get(char, '')}{_expected(p, e, e.allowed)}")
    except UnexpectedEOF as e:
        line, column = _end_position(text)
        diags.error(Loc(file=file, line=line, column=column),
                    f"syntax error: unexpected end of file{_expected(p, e, e.expected)}")
    except UnexpectedInput as e:  # any other parse failure Lark reports
        diags.error(Loc(file=file, line=getattr(e, "line", 1) or 1, column=getattr(e, "column", 1) or 1),
                    "syntax error")
    return None


def _end_position(text: str) -> tuple[int, int]:
    """Just after the last character that is not white space (where the missing part belongs)."""
    body = text.rstrip()
    lines = body.split("\n")
    return len(lines), len(lines[-1]) + 1
