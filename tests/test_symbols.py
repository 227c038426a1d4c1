"""The symbol table: every name of generated code comes from it, and none means two things.

Clashes between spec names and the targets' own names, or between two owners' names, are
renamed by the table; the behaviour is then the same as with clash-free names (the
conformance tests compare spikes across targets for such specs).
"""
from __future__ import annotations

import ast
import re

import pytest

from snnlang.build import render
from snnlang.frontend.diagnostics import SpecError
from snnlang.frontend import load
from snnlang.plan import make_plan
from snnlang.plan.symbols import RESERVED, SymbolTable

from helpers import SPECS, TEST_SPECS


def test_spec_names_keep_their_spelling_and_internal_names_give_way():
    table = SymbolTable()
    assert table.spec("a_b", "v") == "a_b_v"
    assert table.spec("a", "b_v") == "a_b_v_2"  # the same spelling: the later owner's is renamed
    assert table.spec("cells", "spiked") == "cells_spiked"
    assert table.internal("cells", "spiked") == "cells_spiked_2"  # a target's own name gives way
    assert table.internal("cells", "spiked") == "cells_spiked_2"  # and is the same every time
    assert table.spec("n", "syn") == "n_syn_2"  # n_syn is a name the targets use bare
    assert table.internal("int64", "t") == "int64_t_2"  # a C type
    assert table.renamed() == {"a.b_v": "a_b_v_2", "cells.spiked": "cells_spiked_2", "n.syn": "n_syn_2",
                               "int64.t": "int64_t_2"}


def _assigned_names(source: str) -> set[str]:
    """Every name a Python module assigns (targets of =, augmented =, for, with, comprehensions)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


SPEC_FILES = sorted(p for p in list(SPECS.glob("*.snn")) + list(TEST_SPECS.glob("*.snn"))
                    if "simulate" in p.read_text())


@pytest.mark.parametrize("spec", SPEC_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("target", ["numpy", "cupy", "c"])
def test_every_generated_name_comes_from_the_symbol_table(spec, target):
    """A name with an underscore that generated code assigns is the table's or a reserved one:
    no emitter makes a name the table does not know (which could meet a spec name)."""
    plan = make_plan(load(spec))
    try:
        files = render(plan, target, "net")
    except SpecError:
        if target != "c":
            raise
        pytest.skip("the c target refuses this spec (plasticity; tests/test_native.py)")
    known = set(plan.symbols.names.values()) | RESERVED
    for name in ("network.py", "kernels.cu", "step.c"):
        if name not in files:
            continue
        if name.endswith(".py"):
            made = {n for n in _assigned_names(files[name]) if "_" in n.strip("_")}
        else:  # C: declared locals and parameters
            made = set(re.findall(r"\b(?:const\s+)?(?:real|int|long long|unsigned long long|bool)\*?\s+"
                                  r"(?:__restrict__\s+|restrict\s+)?([A-Za-z]\w*_\w+)", files[name]))
            made = {n[2:] if n.startswith("d_") else n for n in made}
        # names of the templates (not the emitters'): loop bookkeeping of the Network class
        made -= {"all_steps", "all_index", "step_key", "index_key", "param_keys", "kind", "_pop"}
        assert made <= known, sorted(made - known)
