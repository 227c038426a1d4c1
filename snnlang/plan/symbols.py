"""The symbol table: every name of generated code comes from here, and no two meanings share one.

Generated code qualifies a spec name by its owner (``exc_v`` for the state ``v`` of the
population ``exc``) and names its own arrays after their owner and role (``exc_spiked``).
Either can meet another: population ``a_b`` with a state ``v`` and population ``a`` with a
state ``b_v`` are both ``a_b_v``; a state named ``spiked`` is the population's spike mask.
The table hands out each name once: the spec's names first, in the order of the spec, so they
keep their natural spelling where it is free; internal names after them, renamed
(``exc_spiked_2``) where a spec name already holds theirs. Names that the targets use bare
(loop indices, the runtime's module, C types) are reserved up front.
"""
from __future__ import annotations

import keyword

#: Names the generated code of some target uses bare. A qualified name always has an owner, an
#: underscore and a name, so only the reserved names with an underscore can ever be met; the
#: rest are listed for completeness (and for names a plan may hand out bare).
RESERVED = frozenset("""
    np rt cp xp math self s p seed dt t i j k n N N_pre N_post n_syn pre post syn spk d ptr lo hi keep order
    steps_ order_ rec start stop step check synops values x y
    K V m at slot rows row t_next events sum advance group groups first count spikes real clip phi1
    KERNEL_NAMES MAX_BLOCKS SNNLANG_VERSION SPEC_HASH EVENT_KEYS GROUP_DELAYS TIME_CONSTANTS FIXED DERIVED PER_ELEMENT PER_SYNAPSE ONE_NUMBER SYNAPSE_KEYS cuda_device grid_of to_host snn_mix snn_bits snn_uniform snn_normal
    snnrun snnkey snnuniform snnuniformat snnrow snnsearch
    int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t size_t ptrdiff_t intptr_t uintptr_t
    blockIdx blockDim threadIdx gridDim warpSize atomicAdd
    """.split())


class SymbolTable:
    """(owner, role) -> the one name generated code gives it.

    ``spec(owner, name)`` is the qualified name of a spec name (a variable of a population,
    source or connection); ``internal(owner, role)`` a name of the targets' own (arrays,
    temporaries, constants). Both return the same name for the same key every time.
    """

    def __init__(self, reserved: frozenset[str] = RESERVED):
        self.taken: set[str] = set(reserved)
        self.names: dict[tuple[str, str, str], str] = {}

    def _name(self, kind: str, owner: str, role: str) -> str:
        key = (kind, owner, role)
        found = self.names.get(key)
        if found is None:
            base = f"{owner}_{role}" if owner else role
            found, k = base, 2
            while found in self.taken or keyword.iskeyword(found) or not found.isidentifier():
                found, k = f"{base}_{k}", k + 1
            self.taken.add(found)
            self.names[key] = found
        return found

    def spec(self, owner: str, name: str) -> str:
        """The name of the spec's ``name`` in ``owner`` (a population, source or connection)."""
        return self._name("spec", owner, name)

    def internal(self, owner: str, role: str) -> str:
        """The name of a target's own ``role`` for ``owner`` (``exc``, or a qualified name)."""
        return self._name("internal", owner, role)

    def __call__(self, owner: str, role: str) -> str:
        return self.internal(owner, role)

    def get(self, owner: str, role: str) -> str | None:
        """The internal name of (owner, role) if the table gave one; None (and none made) otherwise."""
        return self.names.get(("internal", owner, role))

    def meaning(self, name: str) -> tuple[str, str] | None:
        """(owner, spec name or role) of a name the table gave; None for any other name."""
        if len(getattr(self, "_meanings", ())) != len(self.names):
            self._meanings = {n: (owner, role) for (_, owner, role), n in self.names.items()}
        return self._meanings.get(name)

    def internal_name(self, name: str) -> bool:
        """Whether a name is one of the targets' own (not a spec name)."""
        if len(getattr(self, "_kinds", ())) != len(self.names):
            self._kinds = {n: kind for (kind, _, _), n in self.names.items()}
        return self._kinds.get(name) == "internal"

    def local(self, name: str, owner: str) -> str:
        """What a name of ``owner`` means to it (``exc_v_2`` -> ``v``); other names unchanged."""
        found = self.meaning(name)
        return found[1] if found is not None and found[0] == owner else name

    def renamed(self) -> dict[str, str]:
        """Every name that is not spelled as its owner and role would be: what the table changed."""
        return {f"{owner}.{role}": name for (_, owner, role), name in self.names.items()
                if name != (f"{owner}_{role}" if owner else role)}
