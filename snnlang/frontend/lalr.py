"""A faster driver for the LALR(1) tables and lexers that Lark builds from grammar/snn.lark.

Lark's own parser spends most of its time per token and per reduction in general-purpose
machinery (a generator per token, a Token per keyword and bracket, a chain of wrappers per
reduction that also propagates positions): about 8 microseconds a token, 14 s for the
1.7 million tokens of 100,000 connect lines. This driver runs the very same tables with the
very same per-state lexers (each state's scanner, in Lark's order of preference, with its
keywords and ignored terminals), and builds the very same tree: each reduction keeps,
inlines and fills in (``maybe_placeholders``) the children Lark's tree builder would, and
each tree gets the start position (line, column, start_pos) Lark's ``propagate_positions``
gives it. What it does differently only saves time: blanks are skipped in the same
regular-expression match as the token after them; keywords, brackets and separators, which
no tree keeps, get no Token object; a chain of rules of one child that stands for it
(``?expr: or_test``, ..., ``?postfix: atom``) is one step, looked up by parser state; trees
carry no end positions (nothing reads them). That loop takes about 2.4 microseconds a token.

Large specs repeat a few shapes of line many times (``connect a -> a { p = ...; on_pre: ... }``
with other numbers), and for those the parser replays *traces* (:class:`_Trace`). The actions
of an LALR parser depend only on the states on its stack and the types of the tokens, and the
type of a token only on the text and the state it is lexed in. So a run of tokens parsed from
a stack whose top states are S0 ... Sd (S0 on top, down to the lowest the run's reductions
expose) does the same reductions and leaves the same states wherever its tokens have the same
types. A trace records such a run once (:meth:`FastParser._record`): the type of each token
and the state it is lexed in and, worked out symbolically, the trees the reductions build
(which tokens, trees and values from below the run each one holds, where its position comes
from) and the values and states the run leaves on the stack. To replay it (:meth:`_Trace.replay`),
S0 ... Sd must be on top of the stack and one regular expression, made of one part per
token, must match the text (a part matches exactly where the state's own lexer finds a token
of the recorded terminal: blanks, then no terminal that lexer prefers, then that terminal's
first match); keywords are checked, and that tokens of a type that may span lines do not.
Only then are the tokens and trees built, in the recorded order, and the stacks changed: a
trace that does not apply changes nothing, and the usual loop goes on. A run ends after a
token that holds new lines (its lines counted; one that a tree keeps is left to the usual
loop instead), after ``_TRACE_TOKENS`` tokens, or at a token whose reductions the record
cannot work out (one that reaches more than ``_TRACE_DEPTH`` values down, or a ``?rule`` that
a single kid other than a tree of the run may stand for): the usual loop goes on with that
token (its remaining reductions, its shift). Traces start at the start of a line, belong to
one parse, and are made only in long texts, of shapes of lines that come back
(:class:`_Tracer`): 100,000 connect lines then take 40% of the time, 100,000 parameters 60%.

It reports no error itself: where Lark would raise one (a character no terminal matches, a
token the table has no action for) it raises :class:`Refused`, and the caller asks Lark's
own parser, which raises the error with its usual details (expected tokens, the interactive
parser, positions). tests/test_parse.py checks that both give the same trees and tokens,
positions included, on every spec of the repository, and that both accept and refuse the
same texts among hundreds of mutated specs, with and without traces.
"""
from __future__ import annotations

import re
from operator import itemgetter
from typing import Optional

import lark
from lark.lexer import PatternStr, Token, UnlessCallback
from lark.parse_tree_builder import maybe_create_child_filter
from lark.parsers.lalr_analysis import Shift
from lark.tree import Meta, Tree


_ALL, _INLINED, _SOME, _GENERAL = range(4)  # how a reduction chooses its children (FastParser._rule)

#: A trace holds at most this many tokens (a line of a spec is usually 5 to 20),
_TRACE_TOKENS = 48
#: reaches at most this many values down the stack it starts on (a line of a block reaches 2:
#: the separator before it, and the list of the items before that),
_TRACE_DEPTH = 4
#: At most this many traces are kept for a state,
_TRACES_PER_STATE = 4
#: and this many lines that start in a state are recorded to find two of the same shape (_Tracer).
_SHAPES_COMPARED = 4

_new_token, _new_meta = str.__new__, Meta.__new__


class Refused(Exception):
    """The text is not in the language (Lark's parser says why)."""


#: What the ignored terminal of blanks matches: folded into each state's expression, before its
#: token (no other terminal starts with one of these characters; checked when it is built).
_BLANKS = " \t\f"


class _Lexer:
    """One parser state's lexer: its scanner (one regular expression of named groups, in Lark's
    order of preference), preceded by any blanks (the ignored terminal ``[ \\t\\f]+``), and the
    keywords its NAME-like terminals become."""

    __slots__ = ("match", "keywords", "alternatives", "rank", "flags")

    def __init__(self, basic, blanks: str) -> None:
        scanner = basic.scanner  # built by Lark: terminals sorted and "unless" keywords split off
        if len(scanner._mres) != 1:
            raise ValueError("a scanner of more than one regular expression")
        mre = scanner._mres[0]
        if blanks not in {t.name for t in scanner.terminals}:
            raise ValueError("a state whose lexer does not skip blanks")
        self.match = re.compile(f"[{re.escape(_BLANKS)}]*(?:{mre.pattern})", mre.flags).match
        # the terminals' expressions in the scanner's order (a trace's parts are made of them)
        self.alternatives = [t.pattern.to_regexp() for t in scanner.terminals]
        self.rank = {t.name: k for k, t in enumerate(scanner.terminals)}
        self.flags = scanner.g_regex_flags
        if mre.pattern != "|".join(f"(?P<{t.name}>{a})" for t, a in zip(scanner.terminals, self.alternatives)):
            raise ValueError("a scanner that is not its terminals in order")
        if any(re.search(r"\\[1-9]|\(\?P=", a) for a in self.alternatives):
            raise ValueError("a terminal that refers back to a group")
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

    def part(self, type_: str, group: str) -> str:
        """An expression that matches where this lexer finds a token of terminal ``type_``: any
        blanks, then no terminal the lexer prefers, then ``type_``'s first match (a look-ahead
        and a reference back to it, so that nothing after it can make it match otherwise),
        held in the named group ``group``."""
        k = self.rank[type_]
        preferred = "|".join(f"(?:{a})" for a in self.alternatives[:k])
        return (f"[{re.escape(_BLANKS)}]*" + (f"(?!{preferred})" if preferred else "")
                + f"(?=(?P<{group}>{self.alternatives[k]}))(?P={group})")


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

    #: Traces (see _Tracer) are made only in texts of this many characters or more (a
    #: hand-written spec, whose lines are mostly of shapes of their own, would not repay them),
    trace_above = 100_000
    #: of lines recorded at most once in this many characters (and a few lines after: records
    #: then cost a few percent at most where no trace comes of them),
    record_after = 20_000
    #: and each after the first only once the traces made have been replayed this many times
    #: each (a trace costs about as much to make as 100 lines replayed save).
    replays_per_trace = 100

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
        self.blanks = _blanks_terminal(p)
        for state, basic in contextual.lexers.items():
            if id(basic) not in lexers:
                lexers[id(basic)] = _Lexer(basic, self.blanks)
            self.lexers[state] = lexers[id(basic)]
        self.ignore = frozenset(p.lexer_conf.ignore)
        self.newline_types = contextual.root_lexer.newline_types  # terminals whose pattern may span lines
        if any(self.ignore.union(self.newline_types).intersection(lexer.keywords) for lexer in lexers.values()):
            raise ValueError("an ignored or line-counting terminal with keywords")
        if set(vars(Tree("tree", []))) != {"data", "children", "_meta"}:  # (traces make trees without __init__)
            raise ValueError("a Tree of other attributes than data, children and _meta")
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
        new_token, new_meta = _new_token, _new_meta
        states = [self.start_state]
        values: list = []
        places: list = []  # (line, column, start_pos) of each value as its parent sees it, or None
        pos, line, line_start, size = 0, 1, 0, len(text)
        tracer = _Tracer(self, text, states, values, places, found, watched) if size >= self.trace_above else None
        while True:
            state = states[-1]
            if pos < size:
                got = tracer.replay(pos, line, line_start) if tracer is not None and pos == line_start else None
                if got is None:
                    lexer = lexers[state]
                    m = lexer.match(text, pos)
                    if m is None:
                        raise Refused
                    type_ = m.lastgroup
                    start, pos = m.span(type_)
                    value = text[start:pos]
                    words = lexer.keywords.get(type_)
                    if words is not None:
                        type_ = words.get(value, type_)
                else:  # a trace was replayed, up to the token that ended it (if any)
                    pos, line, line_start, type_, start = got
                    if type_ is None:
                        continue
                    state = states[-1]
                    value = text[start:pos]
                column = start - line_start + 1
                place = (line, column, start)
                if type_ in newline_types:
                    count = value.count("\n")
                    if count:
                        line += count
                        line_start = start + value.rindex("\n") + 1
                if type_ in ignore:
                    continue
                if type_ in kept:
                    token = new_token(Token, value)
                    token.type = type_
                    token.value = value
                    token.start_pos = start
                    token.line = place[0]
                    token.column = column
                    token.end_line = line
                    token.end_column = pos - line_start + 1
                    token.end_pos = pos
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

    # ---- traces ---------------------------------------------------------------------------------

    def _record(self, text: str, pos: int, states: list) -> Optional[tuple]:
        """The record of the tokens from ``pos`` on, parsed from the stack ``states`` (which it
        only reads), that :class:`_Trace` makes a trace of, or None where it would replay fewer
        than two tokens: (the states on top of the stack it needs, how many values it reaches
        below, its tokens, the token it leaves to the usual loop, the token of new lines it ends
        with, its trees, the states and values it leaves on the stack).

        The values the trace works with are described symbolically, as tuples (kind, arg,
        place): ("tok", j) the j-th token of the trace (a Token if its type is kept, else
        None); ("slot", i) the value i places down the stack the trace started on (values[-i]);
        ("tree", k) the k-th tree the trace builds; ("none", None) None; ("list", items) the
        value of an inlined rule, whose items are such values or ("splice", i) for the items of
        a list from below (an inlined rule's value, values[-i]). A place is where the value's
        position comes from: the first that is not None of a tuple of candidates, j >= 0 the
        j-th token's (always there), -i places[-i] (the position of a value from below).
        """
        actions, rules, lexers, ignore, newline_types = (
            self.actions, self.rules, self.lexers, self.ignore, self.newline_types)
        height = len(states)
        real = height  # states[:real] are still on the stack; the trace's own are in `stack`
        stack: list[tuple[int, tuple]] = []  # (state, value) pushed by the trace
        tokens: list[tuple] = []  # (lexer, terminal, type) of each token
        trees: list[tuple] = []  # (name, items, place) of each tree, in the order they are built
        final = None  # the token that ends the trace before it is shifted (left to the usual loop), if any
        lines = None  # or the token that holds new lines, last of the trace (shifted unless ignored)
        size = len(text)
        while pos < size and final is None and lines is None:
            state = stack[-1][0] if stack else states[real - 1]
            lexer = lexers[state]
            m = lexer.match(text, pos)
            if m is None:
                break
            terminal = m.lastgroup
            if terminal == self.blanks:  # blanks and nothing after them
                break
            start, pos = m.span(terminal)
            value = text[start:pos]
            words = lexer.keywords.get(terminal)
            type_ = words.get(value, terminal) if words else terminal
            j = len(tokens)
            tokens.append((lexer, terminal, type_))
            on_lines = terminal in newline_types and "\n" in value
            if terminal in ignore:
                if on_lines:
                    lines = j
                continue
            code = actions[state].get(type_)
            while code is not None and code < 0:
                rule = rules[~code]
                from_below = max(0, rule[0] - len(stack))  # values the reduction takes from below
                if real - from_below < 1 or height - (real - from_below) > _TRACE_DEPTH:
                    break
                children = [("slot", i, (-i,)) for i in range(height - real + from_below, height - real, -1)]
                children += [symbolic for _, symbolic in stack[len(stack) - rule[0] + from_below:]]
                result = children[0] if rule[2] is None else self._reduce(rule, children, trees)
                if result is None:
                    break
                del stack[len(stack) - rule[0] + from_below:]
                real -= from_below
                state = actions[stack[-1][0] if stack else states[real - 1]][rule[1]]
                stack.append((state, result))
                code = actions[state].get(type_)
            else:
                if code is not None and j + 1 < _TRACE_TOKENS and not (on_lines and type_ in self.kept):
                    stack.append((code, ("tok", j, (j,))))
                    if on_lines:
                        lines = j
                    continue
            final = j
        if len(tokens) - (final is not None) < 2:
            return None
        return states[real - 1:], height - real, tokens, final, lines, trees, stack

    def _reduce(self, rule: tuple, children: list, trees: list) -> Optional[tuple]:
        """The symbolic value (see :meth:`_record`) of a reduction by ``rule`` of ``children``,
        as the loop of :meth:`parse` builds it; a tree is added to ``trees``. None for a
        ``?rule`` that a single kid other than a tree of the trace's stands for, or may (where
        it spreads a list from below: how many kids there are is not known)."""
        _, _, name, mode, arg, append_none, expand1, inline = rule
        first: list = []  # the candidates for the position, up to the first token
        for child in children:
            first += child[2]
            if first and first[-1] >= 0:
                break
        first = tuple(first)

        def spread(child):  # the items of an inlined child
            return list(child[1]) if child[0] == "list" else [("splice", child[1], None)]

        none = ("none", None, ())
        if mode == _ALL:
            kids = list(children)
        elif mode == _INLINED:
            kids = spread(children[arg])
        elif mode == _SOME:
            kids = [children[i] for i in arg]
        else:
            kids = []
            for i, expand, nones in arg:
                kids += [none] * nones
                kids += spread(children[i]) if expand else [children[i]]
            kids += [none] * append_none
        if inline:
            return "list", tuple(kids), first
        if expand1 and any(kid[0] == "splice" for kid in kids):
            return None  # whether a single kid stands for the rule is not known
        if expand1 and len(kids) == 1:
            kind, arg, _ = kids[0]  # the tree (or else a token, None, a value from below: left to the usual loop)
            return (kind, arg, first) if kind == "tree" else None
        trees.append((name, tuple(kids), first))
        return "tree", len(trees) - 1, first


class _Trace:
    """A run of tokens recorded once and replayed where the same types follow the same states
    (see the module's docstring; :meth:`FastParser._record` records it).

    At replay, the values the trace works with are in one list: None, the values it reaches
    below the stack (values[-depth:]), its kept tokens, then its trees as they are built; a
    value is referred to by its index there. Children are given as an index (one child), an
    ``itemgetter`` (several), or a tuple of (index, spread) pairs (none, or where the list of
    a value from below is spread among them; always so for the value of an inlined rule). A
    position is given as a group of the expression (the start of that token, on the trace's
    line), or a tuple of candidates (a group; -i: places[-i]), the first not None of which
    it is (None if there is none).
    """

    __slots__ = ("lower", "depth", "match", "checks", "one_line", "tokens", "watched", "trees",
                 "states", "pushed", "final", "lines")

    def __init__(self, parser: FastParser, record: tuple, watched: frozenset) -> None:
        lower, depth, tokens, final, lines, trees, stack = record
        self.lower = lower  # the states on top of the stack the trace starts on
        self.depth = depth  # how many values below it reaches
        parts = [lexer.part(terminal, f"t{j}") for j, (lexer, terminal, _) in enumerate(tokens)]
        compiled = re.compile("".join(parts), tokens[0][0].flags)
        self.match = compiled.match
        group = [compiled.groupindex[f"t{j}"] for j in range(len(tokens))]
        ref: dict = {}  # the index of each symbolic value (FastParser._record) in the list of values
        self.checks = []  # (group, terminal, type, keywords): tokens whose type depends on keywords
        self.one_line = []  # groups of tokens of a type that may span lines, which must not
        self.tokens = []  # (group, type, terminal, keywords) of each kept token
        watched_tokens = []  # the indices of the tokens ``found`` receives
        for j, (lexer, terminal, type_) in enumerate(tokens):
            words = lexer.keywords.get(terminal, {})
            if j == final or type_ not in parser.kept:
                ref["tok", j] = 0
                if words:
                    self.checks.append((group[j], terminal, type_, words))
            else:
                ref["tok", j] = 1 + depth + len(self.tokens)
                if type_ in watched:
                    watched_tokens.append(ref["tok", j])
                self.tokens.append((group[j], type_, terminal, words))
            if j != final and j != lines and terminal in parser.newline_types:
                self.one_line.append(group[j])
        for i in range(1, depth + 1):
            ref["slot", i] = 1 + depth - i
        ref["none", None] = 0
        for k in range(len(trees)):
            ref["tree", k] = 1 + depth + len(self.tokens) + k

        def spread(items):
            return tuple((ref["slot", arg], True) if kind == "splice" else (ref[kind, arg], False)
                         for kind, arg, _ in items)

        def children(items):
            if any(kind == "splice" for kind, _, _ in items) or not items:
                return spread(items)
            if len(items) == 1:
                return ref[items[0][:2]]
            return itemgetter(*(ref[item[:2]] for item in items))

        def place(candidates):
            at = tuple(group[c] if c >= 0 else c for c in candidates)
            return at[0] if at and at[0] > 0 else at

        # the tokens ``found`` receives: their index, or an itemgetter of them, or None
        self.watched = (None if not watched_tokens else watched_tokens[0] if len(watched_tokens) == 1
                        else itemgetter(*watched_tokens))
        self.trees = [(name, children(items), place(first)) for name, items, first in trees]
        self.states = [state for state, _ in stack]  # pushed on the stack, after `depth` are popped
        self.pushed = [(value[0] == "list", spread(value[1]) if value[0] == "list" else ref[value[:2]],
                        place(value[2])) for _, value in stack]
        self.final = None if final is None else (group[final], tokens[final][2])
        self.lines = None if lines is None else group[lines]

    def replay(self, text: str, pos: int, line: int, line_start: int, states: list, values: list,
               places: list, found: Optional[list]) -> Optional[tuple]:
        """Replays the trace at ``pos`` (the stacks and ``found`` as :meth:`FastParser.parse`
        has them), or returns None, having changed nothing, where it does not apply. Returns
        where it ends, the line and where that line starts there, and the type and start of
        the token that ended it (None, None if none did)."""
        lower = self.lower
        if states[-len(lower):] != lower:
            return None
        m = self.match(text, pos)
        if m is None:
            return None
        span, begin = m.span, m.start
        for g, terminal, type_, words in self.checks:
            start, end = span(g)
            if words.get(text[start:end], terminal) != type_:
                return None
        for g in self.one_line:
            start, end = span(g)
            if text.find("\n", start, end) >= 0:
                return None
        depth = self.depth
        vals = [None] + values[-depth:] if depth else [None]
        column = 1 - line_start
        new_token = _new_token
        for g, type_, terminal, words in self.tokens:
            start, end = span(g)
            value = text[start:end]
            if words and words.get(value, terminal) != type_:
                return None
            token = new_token(Token, value)
            token.type = type_
            token.value = value
            token.start_pos = start
            token.line = token.end_line = line
            token.column = start + column
            token.end_column = end + column
            token.end_pos = end
            vals.append(token)
        # the trace applies: nothing has been changed so far
        new_meta, new_tree = _new_meta, object.__new__
        for name, kids, at in self.trees:
            if kids.__class__ is int:
                kids = [vals[kids]]
            elif kids.__class__ is itemgetter:
                kids = list(kids(vals))
            else:
                kids = _children(kids, vals)
            meta = new_meta(Meta)
            if at.__class__ is int:
                meta.empty = False
                meta.line = line
                meta.start_pos = start = begin(at)
                meta.column = start + column
            else:
                where = _place(at, begin, places, line, column)
                if where is None:
                    meta.empty = True
                else:
                    meta.empty = False
                    meta.line, meta.column, meta.start_pos = where
            tree = new_tree(Tree)
            tree.data = name
            tree.children = kids
            tree._meta = meta
            vals.append(tree)
        watched = self.watched
        if watched is not None:
            if watched.__class__ is int:
                found.append(vals[watched])
            else:
                found += watched(vals)
        pushed, where = [], []
        for is_list, arg, at in self.pushed:
            pushed.append(_children(arg, vals) if is_list else vals[arg])
            if at.__class__ is int:
                start = begin(at)
                where.append((line, start + column, start))
            else:
                where.append(_place(at, begin, places, line, column))
        if depth:
            del states[-depth:], values[-depth:], places[-depth:]
        states += self.states
        values += pushed
        places += where
        if self.lines is not None:
            start, end = span(self.lines)
            count = text.count("\n", start, end)
            if count:
                line += count
                line_start = text.rindex("\n", start, end) + 1
        if self.final is None:
            return m.end(), line, line_start, None, None
        g, type_ = self.final
        start, end = span(g)
        return end, line, line_start, type_, start


def _children(kids: tuple, vals: list) -> list:
    """A list of children given as (index, spread) pairs (see :class:`_Trace`)."""
    result: list = []
    for index, spread in kids:
        if not spread:
            result.append(vals[index])
        elif result:
            result += vals[index]
        else:  # the list from below itself, grown in place (as the loop of FastParser.parse does)
            result = vals[index]
    return result


def _place(candidates: tuple, begin, places: list, line: int, column: int) -> Optional[tuple]:
    """The first position that is not None among a trace's candidates (see :class:`_Trace`);
    ``begin`` gives where a group of the trace's match starts."""
    for c in candidates:
        if c > 0:
            start = begin(c)
            return line, start + column, start
        if places[c] is not None:
            return places[c]
    return None


class _Tracer:
    """The traces of one parse, by the state they start in (at most ``_TRACES_PER_STATE`` a
    state, newest first), and when to make new ones.

    Traces start at the start of a line (where the loop of :meth:`FastParser.parse` asks for
    one). Making a trace costs as much as parsing about a thousand tokens (compiling its
    regular expression), and a trace repays it only where its shape comes back often. So,
    where no trace applies at the start of a line, the line is recorded (``FastParser._record``)
    if the last record was ``FastParser.record_after`` characters before or more; then the next
    lines that start in that state where no trace applies, up to ``_SHAPES_COMPARED`` lines in
    all. The first line of the shape of one before it (the same states below, the same types
    of tokens) is made into a trace, if the traces made so far have been replayed
    ``FastParser.replays_per_trace`` times each."""

    __slots__ = ("parser", "text", "states", "values", "places", "found", "watched", "traces", "shapes",
                 "recorded", "made", "replayed")

    def __init__(self, parser: FastParser, text: str, states: list, values: list, places: list,
                 found: Optional[list], watched: frozenset) -> None:
        self.parser, self.text, self.found, self.watched = parser, text, found, watched
        self.states, self.values, self.places = states, values, places
        self.traces: dict[int, list[_Trace]] = {}
        self.shapes: dict[int, list[tuple]] = {}  # the shapes of lines recorded, by the state they start in
        self.recorded = -parser.record_after  # where the last record was made
        self.made = self.replayed = 0  # traces made, and replayed

    def replay(self, pos: int, line: int, line_start: int) -> Optional[tuple]:
        """What :meth:`_Trace.replay` returns for the first trace that applies at ``pos`` (the
        start of a line), or None (then the usual loop goes on)."""
        states = self.states
        state = states[-1]
        for trace in self.traces.get(state, ()):
            got = trace.replay(self.text, pos, line, line_start, states, self.values, self.places, self.found)
            if got is not None:
                self.replayed += 1
                return got
        shapes = self.shapes.get(state)
        if shapes is None:
            if pos - self.recorded < self.parser.record_after:
                return None
            shapes = self.shapes[state] = []
        self.recorded = pos
        record = self.parser._record(self.text, pos, states)
        if record is None:
            del self.shapes[state]
            return None
        lower, _, tokens, final, lines, _, _ = record
        shape = (tuple(lower), tuple((terminal, type_) for _, terminal, type_ in tokens), final, lines)
        if shape not in shapes:
            shapes.append(shape)
            if len(shapes) == _SHAPES_COMPARED:
                del self.shapes[state]
            return None
        del self.shapes[state]
        if self.replayed < self.made * self.parser.replays_per_trace:
            return None
        trace = _Trace(self.parser, record, self.watched)
        self.made += 1
        kept = self.traces.setdefault(state, [])
        kept.insert(0, trace)
        del kept[_TRACES_PER_STATE:]
        return trace.replay(self.text, pos, line, line_start, states, self.values, self.places, self.found)
