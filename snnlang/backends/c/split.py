"""One network over several processes (MPI) on the c target: ``snnpart()``, the C function of one
process's part, and the host code around it.

The split is the NumPy target's (its package's ``parallel.py``, rendered from the same template,
ships in the c package): every process holds its part of each population and poisson source
(``PARTITION``), builds the synapses onto its neurons with the NumPy target's partitioned
builders (``reset_part_code``: no process draws the rest), and keys its random draws on the
neuron's index in the population. ``snnpart()`` is the schedule's partitioned phases printed
as C with this process's sizes (integers of the call, not literals): a population's loop runs
over the neurons held here and writes its spikes into a row of its own; the exchange phase
appends them, as indices in the population, to what the host sends. The host calls it for at
most min-delay steps at a time (the shortest delay: a spike is read that many steps after it is
emitted at the earliest), and between two calls one gather (``Partition.exchange``) writes every
process's spikes into each source's history, which the deliveries read as in one process.
Within a call a delivery reads only rows at least min-delay steps old, which the last gather
wrote (so a call that stops early, a buffer full, resumes within its window); a delivery of one
step of delay reads last step's spikes from the list that each call builds from the history
at its start: with such a delivery the min-delay is one step, and every call is one step.
Spike and state monitors record this process's neurons; the first process merges them.

What the NumPy target does not split (plasticity, ...) is refused with its message
(:func:`problems`).
"""
from __future__ import annotations

import dataclasses

from ..lines import Lines


def problems(numpy_emitter) -> list[str]:
    """Why this network cannot be split over processes on the c target: the NumPy target's reasons
    (the c target splits what the NumPy target splits; what it does not print at all it refuses
    at build: refuse.py)."""
    return numpy_emitter.partition_problems()


class Split:
    #: printing snnpart(): one process's part of a network split over processes
    part = False

    # ---- what source.py asks while printing ------------------------------------------------
    def _split(self, name: str) -> bool:
        return self.part and name in self.plan.schedule.partition

    def held_size(self, name: str) -> str:
        """The neurons of a population or source that the function's arrays hold: its size (a
        literal), or in snnpart() of a split population the part held here (an integer of the call,
        and a name of the host's)."""
        if self._split(name):
            return self.integer(self.n(name, "n_local"), self.n(name, "n_local"))
        return str(self.sizes[name])

    def host_size(self, name: str) -> str:
        """The same as the host writes it (the host's variable in snnpart()'s host code)."""
        return self.n(name, "n_local") if self._split(name) else str(self.sizes[name])

    def spike_row(self, name: str, history: str, rows: str) -> str:
        """Where a population or source writes this step's spikes (one byte a neuron, N of them): its
        history's row; in snnpart(), for a split one, a row of its own (the exchange fills the history)."""
        if self._split(name):
            return self.n(name, "held")
        return f"{history} + (step % {rows}) * N"

    def neuron_index(self, out: Lines, name: str) -> str:
        """The index in the population of neuron i of the loop (random draws are keyed on it): i, or
        in snnpart() the index of the i-th neuron held here (declared as ``neuron``)."""
        if not self._split(name):
            return "i"
        own = self.array(self.n(name, "own"), "long long", self.n(name, "own"))
        out(f"const long long neuron = {own}[i];  // its index in {name}")
        return "neuron"

    def monitored(self, k: int, m) -> tuple[str, str]:
        """(how many neurons a state monitor samples, the array index of the m-th of them)."""
        if not self.part:
            return str(len(range(m.start, m.stop, m.step))), f"{m.start} + m * {m.step}"
        columns = self.n("", f"monitor{k}_cols")
        cols = self.array(columns, "long long", columns)
        return self.integer(self.n("", f"monitor{k}_width"), f"{columns}.size"), f"{cols}[m]"

    def deliver(self, out: Lines, c, op) -> None:
        """snnpart(): a weight matrix (dense) has the columns of the target neurons held here."""
        if self._split(c.target) and op.strategy == "dense":
            c = dataclasses.replace(c, n_post=self.held_size(c.target))  # (a C integer: printed, never computed with)
        super().deliver(out, c, op)

    # ---- what snnpart() adds ---------------------------------------------------------------
    def _guard(self, out: Lines) -> None:
        super()._guard(out)
        full = []
        for name in self._sent():
            self.held_size(name)
            full.append(f"{self.n(name, 'sent_fill')} + {self.n(name, 'n_local')} > {self._sent_size(name)}")
        if full:
            out(f"if ({' || '.join(full)}) break;  // what waits for the exchange fills its buffer: the host takes it")

    def _sent(self) -> tuple[str, ...]:
        """snnpart(): the split populations and sources whose spikes the processes exchange."""
        exchange = self.plan.schedule.exchange
        return tuple(exchange.sources) if self.part and exchange is not None else ()

    def _sent_size(self, name: str) -> str:
        key = self.n(name, "sent")
        return self.integer(self.n(name, "sent_size"), f"b[{key!r}].size")

    def start_code(self) -> str:
        text = super().start_code()
        if not self.part:
            return text
        out = Lines()
        for name in self.plan.schedule.partition:
            n = self.held_size(name)
            out(f"unsigned char* {self.n(name, 'held')} = malloc({n} > 0 ? {n} : 1);  "
                f"// {name}: this step's spikes of the neurons held here")
        for name in self._sent():
            out(f"long long {self.n(name, 'sent_fill')} = 0;")
        return text + "\n" + out.text(1)

    def end_code(self) -> str:
        text = super().end_code()
        if not self.part:
            return text
        return "\n".join(f"    free({self.n(name, 'held')});" for name in self.plan.schedule.partition) + "\n" + text

    def print_RecordSpikes(self, out: Lines, op) -> None:
        if not self._split(op.population):
            return super().print_RecordSpikes(out, op)
        k, name = op.monitor, op.population
        rec = self.array(self.n("", f"record{k}"), "long long", f"b['record{k}']", True)
        per_step = self.array(self.n("", f"record{k}_count"), "long long", f"b['record{k}_count']", True)
        own = self.array(self.n(name, "own"), "long long", self.n(name, "own"))
        fill, spk, count = self.n("", f"record{k}_fill"), self.n(name, "spk"), self.n(name, "count")
        out(f"for (long long m = 0; m < {count}; m++) {rec}[{fill} + m] = {own}[{spk}[m]];  "
            f"// monitor {k}: spikes of {name}, as its neurons")
        out(f"{per_step}[step - start] = {count};")
        out(f"{fill} += {count};")

    def print_Exchange(self, out: Lines, op) -> None:
        """This step's spikes of each exchanged source held here, as indices in the source, join
        what the host sends; every min-delay steps (between two calls) one gather writes every
        process's spikes into the histories."""
        for name in op.sources:
            key = self.n(name, "sent")
            sent = self.array(key, "long long", f"b[{key!r}]", True)
            per_step = self.array(self.n(name, "sent_count"), "long long", f"b[{self.n(name, 'sent_count')!r}]", True)
            own = self.array(self.n(name, "own"), "long long", self.n(name, "own"))
            fill, spk, count = self.n(name, "sent_fill"), self.n(name, "spk"), self.n(name, "count")
            out(f"for (long long m = 0; m < {count}; m++) {sent}[{fill} + m] = {own}[{spk}[m]];  "
                f"// {name}: to every process")
            out(f"{per_step}[step - start] = {count};")
            out(f"{fill} += {count};")

    # ---- the host around snnpart() ----------------------------------------------------------
    def split_prologue(self, out: Lines) -> None:
        """The neurons held here (their indices, their number) and the monitored ones, and the
        buffers of the spikes to send."""
        for name, how in self.plan.schedule.partition.items():
            own = self.n(name, "own")
            out(f"{own} = np.ascontiguousarray(part.own[{name!r}], dtype=np.int64)  "
                f"# the neurons of {name} held here ({how.replace('_', ' ')})")
            out(f"{self.n(name, 'n_local')} = {own}.size")
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "state":
                out(f"{self.n('', f'monitor{k}_cols')} = np.ascontiguousarray(part.columns({k}), dtype=np.int64)  "
                    f"# the neurons monitor {k} records that are held here")

    def split_buffers(self, out: Lines) -> None:
        for name in self._sent():
            out(f"b[{self.n(name, 'sent')!r}] = np.empty(max(1 << 16, 64 * {self.n(name, 'n_local')}), dtype=np.int64)"
                f"  # {name}: spikes held here, to send")

    def split_call(self, out: Lines) -> None:
        for name in self._sent():
            out(f"_buffer(b, {self.n(name, 'sent_count')!r}, (end - step,), np.int64)  # {name}: spikes sent, per step")

    def split_collect(self, out: Lines) -> None:
        for j, name in enumerate(self._sent()):
            counts, spikes = self.n(name, "sent_count"), self.n(name, "sent")
            out(f"sent[{j}] += _sent_rows(b[{counts!r}][:done - step], b[{spikes!r}])  # {name}")

    def split_context(self, numpy_context: dict, refused: list[str]) -> dict:
        """snnpart() and its host code (empty when the network cannot be split)."""
        if refused:
            return {"part": None}
        saved = self.slots, self.reals, self.ints, self.__dict__.pop("_plastic", None)
        self.slots, self.reals, self.ints = [], [], []
        self.part = True
        try:
            step_code, start_code, end_code = self.step_code(), self.start_code(), self.end_code()
            histories = ", ".join(f"s[{self.n(name, 'history')!r}]" for name in self._sent())
            part = {
                "reset_code": numpy_context["reset_part_code"],
                "step_code": step_code,
                "start_code": start_code,
                "end_code": end_code,
                "unpack_code": self.unpack_code(),
                "prologue_code": self.prologue(),
                "call_code": self.call_code(4),
                "collect_code": self.collect_code(4),
                "finish_code": self.finish_code(),
                "histories": histories,
            }
        finally:
            self.part = False
            self.slots, self.reals, self.ints = saved[:3]
            if saved[3] is not None:
                self._plastic = saved[3]
        return {"part": part}
