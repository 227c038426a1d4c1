"""A faster driver for the LALR(1) tables and lexers that Lark builds from grammar/snn.lark.

Lark's own parser spends most of its time per token and per reduction in general-purpose
machinery (a generator per token, a Token per keyword and bracket, a chain of wrappers per
reduction that also propagates positions): about 8 microseconds a token, 14 s for the
1.7 million tokens of 100,000 connect lines. This driver takes 2 microseconds a token. It
runs the very same tables with the very same per-state lexers (each state's scanner, in
Lark's order of preference, with its keywords and ignored terminals), and builds the very
same tree: each reduction keeps, inlines and fills in (``maybe_placeholders``) the children
Lark's tree builder would, and each tree gets the start position (line, column, start_pos)
Lark's ``propagate_positions`` gives it. What it does differently only saves time: blanks
are skipped in the same regular-expression match as the token after them; keywords,
brackets and separators, which no tree keeps, get no Token object; a chain of rules of one
child that stands for it (``?expr: or_test``, ..., ``?postfix: atom``) is one step, looked
up by parser state; trees carry no end positions (nothing reads them).

It reports no error itself: where Lark would raise one (a character no terminal matches, a
token the table has no action for) it raises :class:`Refused`, and the caller asks Lark's
own parser, which raises the error with its usual details (expected tokens, the interactive
parser, positions). tests/test_parse.py checks that both give the same trees and tokens,
positions included, on every spec of the repository, and that both accept and refuse the
same texts among hundreds of mutated specs.
"""
from __future__ import annotations

import re
from typing import Optional

import lark
from lark.lexer import PatternStr, Token, UnlessCallback
from lark.parse_tree_builder import maybe_create_child_filter
from lark.parsers.lalr_analysis import Shift
from lark.tree import Meta, Tree


_ALL, _INLINED, _SOME, _GENERAL = range(4)  # how a reduction chooses its children (FastParser._rule)


class Refused(Exception):
    """The text is not in the language (Lark's parser says why)."""


#: What the ignored terminal of blanks matches: folded into each state's expression, before its
#: token (no other terminal starts with one of these characters; checked when it is built).
_BLANKS = " \t\f"


class _Lexer:
    """One parser state's lexer: its scanner (one regular expression of named groups, in Lark's
    order of preference), preceded by any blanks (the ignored terminal ``[ \\t\\f]+``), and the
    keywords its NAME-like terminals become."""

    __slots__ = ("match", "keywords")

    def __init__(self, basic, blanks: str) -> None:
        scanner = basic.scanner  # built by Lark: terminals sorted and "unless" keywords split off
        if len(scanner._mres) != 1:
            raise ValueError("a scanner of more than one regular expression")
        mre = scanner._mres[0]
        if blanks not in {t.name for t in scanner.terminals}:
            raise ValueError("a state whose lexer does not skip blanks")
        self.match = re.compile(f"[{re.escape(_BLANKS)}]*(?:{mre.pattern})", mre.flags).match
        self.keywords: dict[str, dict[str, str]] = {}
        for type_, callback in basic.callback.items():
            if not isinstance(callback, UnlessCallback):
                raise ValueError(f"a lexer callback other than keywords on {type_}")
            words = {}
            for t in callback.scanner.terminals:
                if not isinstance(t.pattern, PatternStr) or t.pattern.flags:
                    raise ValueError(f"keyword {t.name} is not a plain string")
                words[t.pattern.value] = t.name
            self.keywords[type_] = words


def _blanks_terminal(p: lark.Lark) -> str:
    """The ignored terminal that matches runs of blanks, after checking that no other terminal
    can start with a blank (so that blanks before a token can be skipped in the same match)."""
    found = [t.name for t in p.terminals if t.name in p.lexer_conf.ignore
             and t.pattern.to_regexp() == f"[{_BLANKS}]+"]
    if len(found) != 1:
        raise ValueError("no ignored terminal of blanks")
    probes = [b + tail for b in _BLANKS for tail in ("", "a", "0", "1.5", "x y", "\n", "#", "\\", '"a"', "-", "(", "=")]
    for t in p.terminals:
        if t.name != found[0] and any(re.match(t.pattern.to_regexp(), probe) for probe in probes):
            raise ValueError(f"terminal {t.name} may start with a blank")
    return found[0]


class FastParser:
    """Parses a text as ``lark_parser.parse`` does, faster; raises :class:`Refused` where Lark
    would raise an error (see the module's docstring)."""

    def __init__(self, p: lark.Lark) -> None:
        o = p.options
        if (o.parser != "lalr" or o.lexer != "contextual" or o.postlex is not None or o.transformer is not None
                or not o.propagate_positions or not o.maybe_placeholders or p.lexer_conf.callbacks
                or o.tree_class not in (None, Tree) or len(o.start) != 1):
            raise ValueError("FastParser drives only Lark's LALR parser with the contextual lexer, "
                             "positions and placeholders, and no callbacks")
        frontend = p.parser
        table = frontend.parser.parser.parse_table
        contextual = frontend.lexer
        start = o.start[0]
        self.start_state = table.start_states[start]
        self.chains: dict[tuple[int, int, str], int] = {}  # see _chain
        self.end_state = table.end_states[start]

        # rules, by index; a reduction is coded ~index (-1 - index), a shift (or goto) the new state
        index: dict = {}
        self.rules: list[tuple] = []
        self.actions: dict[int, dict[str, int]] = {}
        for state, row in table.states.items():
            codes = {}
            for symbol, (action, arg) in row.items():
                if action is Shift:
                    codes[symbol] = arg
                else:
                    if arg not in index:
                        index[arg] = len(self.rules)
                        self.rules.append(self._rule(arg))
                    codes[symbol] = -1 - index[arg]
            self.actions[state] = codes

        # each state's lexer (states share them), ignored and line-counting terminals
        lexers: dict[int, _Lexer] = {}
        self.lexers: dict[int, _Lexer] = {}
        blanks = _blanks_terminal(p)
        for state, basic in contextual.lexers.items():
            if id(basic) not in lexers:
                lexers[id(basic)] = _Lexer(basic, blanks)
            self.lexers[state] = lexers[id(basic)]
        self.ignore = frozenset(p.lexer_conf.ignore)
        self.newline_types = contextual.root_lexer.newline_types  # terminals whose pattern may span lines
        # terminals a tree may hold (the others, keywords and punctuation, get no Token)
        self.kept = frozenset(sym.name for rule in index for sym in rule.expansion
                              if sym.is_term and (rule.options.keep_all_tokens or not sym.filter_out))

    @staticmethod
    def _rule(rule) -> tuple:
        """How a reduction by ``rule`` builds its value: (the number of children, the symbol of
        the goto, the tree's name (None: a rule of one child that stands for it), how the kept
        children are chosen and from which (Lark's ``maybe_create_child_filter``), the Nones to
        append, whether a single kept child stands for the rule (``?rule``), whether the rule
        is inlined into its parent (``_rule``: its value is the list of its children))."""
        options = rule.options
        size = len(rule.expansion)
        make_filter = maybe_create_child_filter(rule.expansion, options.keep_all_tokens, False,
                                                options.empty_indices)
        if make_filter is None:
            include, append_none = None, 0
        else:
            include, append_none = make_filter.args[0], (make_filter.args[1] if len(make_filter.args) > 1 else 0)
            include = [item if len(item) == 3 else (item[0], item[1], 0) for item in include]
        expand1 = bool(options.expand1) and not rule.alias
        inline = rule.origin.name.startswith("_")
        if inline and expand1:
            raise ValueError(f"an inlined rule that expands a single child: {rule}")
        name = rule.alias or options.template_source or rule.origin.name
        unit = expand1 and size == 1 and include is None  # the child itself, unchanged
        # how the children are chosen: all of them; the children of one inlined child; some of
        # them; or in general (placeholders for missing optional parts, inlined children)
        if include is None:
            mode, arg = _ALL, None
        elif len(include) == 1 and include[0][1] and not include[0][2] and not append_none:
            mode, arg = _INLINED, include[0][0]
        elif not append_none and not any(expand or nones for _, expand, nones in include):
            mode, arg = _SOME, tuple(i for i, _, _ in include)
        else:
            mode, arg = _GENERAL, include
        return size, rule.origin.name, None if unit else name, mode, arg, append_none, expand1, inline

    def parse(self, text: str, found: Optional[list] = None, types: frozenset = frozenset()) -> Tree:
        """The tree of ``text``; ``found``, if given, receives the tokens of ``types`` (terminals a
        tree keeps, such as NAME) in the order of the text."""
        actions, lexers, rules, kept = self.actions, self.lexers, self.rules, self.kept
        watched = types if found is not None else frozenset()
        ignore, newline_types, chains = self.ignore, self.newline_types, self.chains
        end_state = self.end_state
        new_token, new_meta = str.__new__, Meta.__new__
        states = [self.start_state]
        values: list = []
        places: list = []  # (line, column, start_pos) of each value as its parent sees it, or None
        pos, line, line_start, size = 0, 1, 0, len(text)
        while True:
            state = states[-1]
            if pos < size:
                lexer = lexers[state]
                m = lexer.match(text, pos)
                if m is None:
                    raise Refused
                type_ = m.lastgroup
                start, pos = m.span(type_)
                value = text[start:pos]
                place = (line, start - line_start + 1, start)
                if type_ in newline_types:
                    count = value.count("\n")
                    if count:
                        line += count
                        line_start = start + value.rindex("\n") + 1
                if type_ in ignore:
                    continue
                words = lexer.keywords.get(type_)
                if words is not None:
                    type_ = words.get(value, type_)
                if type_ in kept:
                    token = new_token(Token, value)
                    token.type, token.value, token.start_pos, token.line, token.column = (
                        type_, value, start, place[0], place[1])
                    token.end_line, token.end_column, token.end_pos = line, pos - line_start + 1, pos
                    if type_ in watched:
                        found.append(token)
                else:
                    token = None
            else:
                type_, token, place = "$END", None, None
            code = actions[state].get(type_)
            while code is not None and code < 0:  # reductions, then the shift of this token
                rule_size, origin, name, mode, arg, append_none, expand1, inline = rules[~code]
                if name is None:  # rules of one child that stand for it (expr: or_test: ...: atom)
                    key = (states[-2], state, type_)
                    state = chains.get(key)
                    if state is None:
                        state = chains[key] = self._chain(states[-2], states[-1], type_)
                    states[-1] = state
                else:
                    n = len(values) - rule_size
                    children = values[n:]
                    first = places[n] if rule_size else None
                    if first is None:
                        for first in places[n:]:
                            if first is not None:
                                break
                    del values[n:], places[n:], states[n + 1:]
                    if mode == _ALL:
                        kids = children
                    elif mode == _INLINED:
                        kids = children[arg]
                    elif mode == _SOME:
                        kids = [children[i] for i in arg]
                    else:
                        kids = []
                        for i, expand, nones in arg:
                            if nones:
                                kids += [None] * nones
                            if not expand:
                                kids.append(children[i])
                            elif kids:
                                kids += children[i]
                            else:
                                kids = children[i]
                        if append_none:
                            kids += [None] * append_none
                    if inline:
                        result = kids
                    elif expand1 and len(kids) == 1:
                        result = kids[0]
                        if result is None:
                            first = None
                        elif isinstance(result, Token):
                            first = (result.line, result.column, result.start_pos)
                    else:
                        meta = new_meta(Meta)
                        if first is None:
                            meta.empty = True
                        else:
                            meta.empty = False
                            meta.line, meta.column, meta.start_pos = first
                        result = Tree(name, kids, meta)
                    state = actions[states[-1]][origin]
                    states.append(state)
                    values.append(result)
                    places.append(first)
                if type_ == "$END" and state == end_state:
                    return values[-1]
                code = actions[state].get(type_)
            if code is None or type_ == "$END":
                raise Refused
            states.append(code)
            values.append(token)
            places.append(place)

    def _chain(self, below: int, state: int, type_: str) -> int:
        """The state after every reduction by a rule of one child that stands for it, from
        ``state`` (above ``below``) with the next token ``type_``: each replaces the top state by
        the goto of ``below`` (the stack below it is untouched)."""
        code = self.actions[state].get(type_)
        while code is not None and code < 0 and self.rules[~code][2] is None:
            state = self.actions[below][self.rules[~code][1]]
            if type_ == "$END" and state == self.end_state:
                break
            code = self.actions[state].get(type_)
        return state
