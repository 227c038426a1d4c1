"""What a run of the NumPy package holds: initial state and connectivity (``reset``), each
neuron's list of targets (``_index``), what a run loads before its loop (``prologue``) and
stores after it (``epilogue``)."""
from __future__ import annotations

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan, PopulationPlan
from ..lines import Lines
from .code import _array, _assign, _draws, code

#: a spike train read from a file with more spikes than this is packed (rt.unpack_spikes), not listed
_INLINE_SPIKES = 2000
#: Why a network with a synapse monitor runs in one process only.
_SPLIT_SYNAPSE_MONITOR = ("monitor {m.variables[0]} of {m.population}: a synapse monitor records the synapses of "
                          "the whole connection, which a network split over processes holds in parts; run it in "
                          "one process")


def pack_spikes(times, indices) -> str:
    """Times (float64) and indices (int64) as base64 text of a compressed .npz, for the package."""
    import base64
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, times=np.asarray(times, dtype=np.float64), indices=np.asarray(indices, dtype=np.int64))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _comment(text: str) -> str:
    """A file name as a comment may show it (no line breaks, no control characters)."""
    return "".join(c if c.isprintable() else "?" for c in text)


class State:
    part = False  # printing the partitioned variant (one process's part of the network; parallel.py)

    def _size(self, name: str) -> str:
        """The number of neurons of a population or source that this process's arrays hold:
        the whole (a literal), or in a partitioned network its part (a name bound at the start)."""
        if self.part and name in self.plan.schedule.partition:
            return self.n(name, "n_local")
        return str(self.sizes[name])

    def _split(self, out: Lines) -> None:
        """Partitioned: the neurons of each population and poisson source that this process holds."""
        for name, how in self.plan.schedule.partition.items():
            out(f"{self.n(name, 'own')} = part.own[{name!r}]  # the neurons of {name} held here ({how.replace('_', ' ')}), in increasing order")
            out(f"{self.n(name, 'n_local')} = {self.n(name, 'own')}.size")

    def _index_of(self, name: str) -> str:
        """The indices (in the population) of the neurons this process's arrays hold."""
        return self.n(name, "own") if self.part and name in self.plan.schedule.partition else f"np.arange({self.sizes[name]})"

    def _exchanged(self, name: str) -> bool:
        """Partitioned: a population or source whose spikes the processes exchange."""
        return self.part and name in self.plan.schedule.exchange.sources

    def index(self) -> str:
        """Network._index: each source neuron's targets, for the connections delivered by gathering."""
        out = Lines()
        if self.part:
            out("part = self.part")
            self._split(out)
        out("self.targets = {}")
        for c in self.plan.connections:
            if not self._gathered(c) or self.route[c.name].connection != c.name:
                continue
            group = self.together.get(c.name, [c])
            if c.name in self.together:
                n, rows = (self._size(c.target) if self.part else self.pops[c.target].size), self.pops[c.target].propagator.variables
                out(f"# {', '.join(g.name for g in group)}: as index row * {n} + neuron in the stacked state of {c.target}")
                row = (lambda k: f"{k} * {n}") if self.part else (lambda k: str(k * n))
                posts = ", ".join(f"s[{self.n(g.name, 'post')!r}] + {row(rows.index(g.linear[0]))}" for g in group)
            else:
                posts = f"s[{self.n(c.name, 'post')!r}]"
            pres = ", ".join(f"s[{self.n(g.name, 'pre')!r}]" for g in group)
            out(f"self.targets[{c.name!r}] = rt.rows_by_source([{pres}], [{posts}], {c.pre_rows})")
        if len(out.lines) > 1:
            out.lines.insert(0, "s = self.state")
        return out.prune().text(2) if self.part else out.text(2)

    def _stacked_weights(self, group: list[ConnectionPlan]) -> str:
        """What one spike adds to each stacked variable of the target, as one value per row."""
        target = self.pops[group[0].target]
        by_row = {c.linear[0]: code(c.linear[1]) for c in group}
        return ", ".join(by_row.get(v, "0.0") for v in target.propagator.variables)

    # ---- reset: initial state and connectivity ----------------------------------------
    def reset(self) -> str:
        out = Lines()
        if self.part:
            self._split(out)
        for pop in self.plan.populations:
            out(f"# population {pop.name}: {pop.size} x {pop.neuron}" + (", the neurons held here" if self.part else ""))
            if self.part:
                out(f"N, i = {self._size(pop.name)}, {self.n(pop.name, 'own')}  # their number, their indices in the population")
            else:
                out(f"N = {pop.size}")
                out("i = np.arange(N)")
            for prm in pop.params:
                if prm.value is not None:
                    out(f"{prm.name} = p[{prm.key!r}]")
            for a in pop.arrays:
                _draws(out, a.draws, "0", "i")
                prm = next((x for x in pop.params if x.name == a.name), None)
                if prm is not None:
                    out(f"{a.name} = {_array(a.expr, 'N')} if p[{prm.key!r}] is None else rt.of_neurons(p[{prm.key!r}], i)")
                else:
                    out(f"{a.name} = {_array(a.expr, 'N')}")
                out(f"s[{a.name!r}] = {a.name}")
            if self.fixed:
                self.fixed_reset(out, pop)
            if pop.refractory is not None:
                out(f"s[{self.n(pop.name, 'refractory_until')!r}] = np.full(N, -1, dtype=np.int64)  # last refractory step")
            out()
        for src in self.plan.sources:
            if src.kind == "spike_times":
                self.spike_times_reset(out, src)
            elif src.kind == "events":
                out(f"# input {src.name}: an event stream fed with feed_events()")
                out(f"s[{self.n(src.name, 'event_step')!r}] = np.zeros(0, dtype=np.int64)")
                out(f"s[{self.n(src.name, 'event_index')!r}] = np.zeros(0, dtype=np.int64)")
        for c in self.plan.connections:
            self.connect(out, c)
        self.synapse_monitors(out)
        exchange = self.plan.schedule.exchange
        if self.part and exchange.sources:
            arrays = ", ".join(f"s[{a!r}]" for a in exchange.delay_arrays)
            out("# the processes exchange spikes every min-delay steps: the shortest delay of every process's synapses")
            out(f"self.every = part.min_delay({exchange.every}, [{arrays}])")
        out("# spike history of each source, as long as its longest outgoing delay")
        for name, size in self.sizes.items():
            history = self.plan.schedule.history[name]
            delays = [f"int(s[{a!r}].max(initial=1))" for a in history.delay_arrays]
            length = f"max({', '.join(delays)}, {history.steps})" if delays else str(history.steps)
            out(f"s[{self.n(name, 'history')!r}] = np.zeros(({length}, {size}), dtype={self._history_dtype(name)})")
        return out.prune().text(2)

    def synapse_monitors(self, out: Lines) -> None:
        """The synapses each synapse monitor records, chosen once the connectivity is drawn: their
        indices in the storage order (a selection stops at the last synapse), and their pre- and
        postsynaptic neurons (indices in the whole populations), kept in the state."""
        for k, m in enumerate(self.plan.monitors):
            if m.kind != "synapses":
                continue
            if self.part:  # each process holds the synapses onto its neurons: no one order of all of them
                out(f"raise ValueError({_SPLIT_SYNAPSE_MONITOR.format(m=m)!r})")
                return
            c = self.conns[m.population]
            spans = [f"{a or ''}:{'' if b is None else b}" + (f":{t}" if t != 1 else "") for a, b, t in m.selections]
            index = ["np.arange(n_syn)" if span == ":" else f"np.arange(n_syn)[{span}]" for span in spans]
            chosen = index[0] if len(index) == 1 else f"np.unique(np.concatenate([{', '.join(index)}]))"
            keys = [self.n("", f"monitor{k}_{role}") for role in ("synapses", "pre", "post")]
            what = "every synapse" if spans == [":"] else "synapses " + ", ".join(f"[{span}]" for span in spans)
            out(f"# monitor {k}: {', '.join(m.variables)} of {c.name}, {what} (in storage order; a selection "
                "stops at the last synapse)")
            out(f"n_syn = s[{m.qualified[0]!r}].size")
            out(f"s[{keys[0]!r}] = {chosen}")
            out(f"s[{keys[1]!r}], s[{keys[2]!r}] = s[{self.n(c.name, 'pre')!r}][s[{keys[0]!r}]], "
                f"s[{self.n(c.name, 'post')!r}][s[{keys[0]!r}]]  # their neurons")
            out()

    def _history_dtype(self, name: str) -> str:
        """A source with counts = true keeps each step's count per neuron; the others, whether it spiked."""
        return "np.int64" if name in self.sources and self.sources[name].counts else "bool"

    def spike_times_reset(self, out: Lines, src) -> None:
        """The spikes of a spike_times input, as steps in time order: written in the spec (a list),
        or read from a file at build (up to a few thousand spikes as lists, else packed arrays)."""
        step_key, index_key = self.n(src.name, 'event_step'), self.n(src.name, 'event_index')
        if src.file is not None and len(src.times) > _INLINE_SPIKES:
            out(f"# input {src.name}: {len(src.times)} spike times read from {_comment(src.file)} when the package was built")
            out(f"s[{step_key!r}], s[{index_key!r}] = rt.unpack_spikes({pack_spikes(src.times, src.indices)!r})  # times (s), neurons")
        else:
            if src.file is not None:
                out(f"# input {src.name}: spike times read from {_comment(src.file)} when the package was built")
            else:
                out(f"# input {src.name}: spike times, as steps")
            times = src.times.tolist() if hasattr(src.times, "tolist") else src.times
            indices = src.indices.tolist() if hasattr(src.indices, "tolist") else src.indices
            out(f"s[{step_key!r}], s[{index_key!r}] = np.array({times!r}, dtype=float), np.array({indices!r}, dtype=np.int64)")
        out(f"steps_ = np.rint(s[{step_key!r}] / dt).astype(np.int64)")
        out("order_ = np.argsort(steps_, kind='stable')")
        out(f"s[{step_key!r}], s[{index_key!r}] = steps_[order_], s[{index_key!r}][order_]  # in time order")

    def connect(self, out: Lines, c: ConnectionPlan) -> None:
        out(f"# connection {c.name}: {c.source} -> {c.target} ({c.synapse}, {c.pattern}, {c.storage})")
        out(f"N_pre, N_post = {c.n_pre}, {c.n_post}")
        for prm in c.params:
            out(f"{prm.name} = p[{prm.key!r}]")
        posts = ""
        if self.part:  # only the synapses onto the neurons this process holds
            out(f"posts = part.posts({c.target!r}, {c.post_offset}, N_post)  # of the slice, held here")
            posts = ", posts"
        keyed = c.pattern == "indegree"  # the builder gives each synapse's key
        if c.file is not None:  # from_file: the synapses read at build (file_connect)
            self.file_connect(out, c, posts)
        elif c.pattern == "all_to_all":
            out(f"pre, post = rt.all_to_all(N_pre, N_post{posts})")
        elif c.pattern == "one_to_one":
            out(f"pre, post = rt.one_to_one(N_pre, N_post{posts})")
        elif c.pattern == "indegree":
            out(f"pre, post, key = rt.fixed_indegree(seed, {c.connect_stream}, N_pre, N_post, {c.indegree}{posts})")
        elif c.p is not None and not ({s.name for s in c.p.free_symbols} & {"i", "j"}):
            out(f"pre, post = rt.fixed_probability(seed, {c.connect_stream}, N_pre, N_post, {code(c.p)}{posts})")
        else:
            out(f"pre, post = rt.pairwise_probability(seed, {c.connect_stream}, N_pre, N_post, "
                f"lambda i, j: {code(c.p)}{posts})")
        if c.condition is not None:
            out("i, j = pre, post  # the condition is on the pair's indices")
            out(f"keep = np.broadcast_to({code(c.condition)}, pre.shape)")
            out("pre, post, key = pre[keep], post[keep], key[keep]" if keyed else "pre, post = pre[keep], post[keep]")
        out("n_syn = pre.size")
        out("i, j, syn = pre, post, np.arange(n_syn)")
        synapse_draws = any(a.draws for a in c.arrays) or any(tr.draws for tr in c.traces if tr.size == "n_syn")
        if synapse_draws and not keyed:
            out("key = rt.pair_keys(pre, post, N_post)  # each synapse's random numbers are keyed on its pair")
        for a in c.arrays:
            _draws(out, a.draws, "0", "key")
            if a.dtype == "int":
                out(f"{a.name} = np.broadcast_to({code(a.expr)}, (n_syn,)).astype(np.int64)")
            else:
                out(f"{a.name} = {_array(a.expr, 'n_syn')}")
        shifts = [(side, offset) for side, offset in (("pre", c.pre_offset), ("post", c.post_offset)) if offset]
        if shifts:
            out(f"{', '.join(side for side, _ in shifts)} = {', '.join(f'{side} + {o}' for side, o in shifts)}"
                "  # slices: indices in the whole populations")
        if self.part:
            out(f"post = part.local({c.target!r}, post)  # the target neurons as indices into this process's arrays")
        if c.delay_array:
            delays = c.delay_array
        else:
            delays = str(int(c.delay)) if c.delay.is_Integer else f"int({code(c.delay)})"  # one for every synapse
        out(f"order, s[{self.n(c.name, 'group_delay')!r}], s[{self.n(c.name, 'group_ptr')!r}] = rt.delay_groups({delays}, pre, {c.pre_rows})")
        out(f"s[{self.n(c.name, 'pre')!r}], s[{self.n(c.name, 'post')!r}] = pre[order], post[order]")
        for a in c.arrays:
            out(f"s[{a.name!r}] = {a.name}[order]")
        if c.on_post:
            out(f"s[{self.n(c.name, 'by_post')!r}] = np.argsort(post[order], kind='stable')")
            out(f"s[{self.n(c.name, 'post_ptr')!r}] = rt.row_pointers(post[order][s[{self.n(c.name, 'by_post')!r}]], {self._size(c.target)})")
        for tr in c.traces:
            size = tr.size
            if tr.dtype == "int":
                out(f"s[{tr.name!r}] = np.zeros({size}, dtype=np.int64)  # step of the last update")
                continue
            if size == "n_syn":  # a pre trace kept per synapse (per-synapse delays); i: its presynaptic neuron
                out(f"i = s[{self.n(c.name, 'pre')!r}] - {c.pre_offset}")
                _draws(out, tr.draws, "0", "key[order]")
            else:
                out(f"i = np.arange({size})")
                _draws(out, tr.draws, "0", "i")
            out(f"s[{tr.name!r}] = {_array(tr.expr, size)}")
        out()

    def file_connect(self, out: Lines, c: ConnectionPlan, posts: str) -> None:
        """``from_file(...)``: the synapses (and their weights, delays) that the build read from the
        file, embedded in the package: ``pre``, ``post`` (indices in the slices) and the arrays the
        plan fills from them (``file_arrays``)."""
        f = c.file
        names = self.plan.symbols
        data = {names.get(c.name, "file_w"): f.w, names.get(c.name, "file_delay"): f.delay}
        out(f"# the synapses of {f.name!r} (sha256 {f.sha256[:16]}...), {f.pre.size} of them, as the build read them")
        big = any(v is not None and v.size > _LISTED_VALUES for v in (f.pre, f.post, f.w, f.delay))
        if big:
            out("import base64, io, zlib  # the file's arrays are embedded below: .npy, compressed, base64")
        out(f"pre = {_embedded(f.pre)}")
        out(f"post = {_embedded(f.post)}")
        loaded = [name for name in c.file_arrays.values() if data.get(name) is not None]
        for name in loaded:
            out(f"{name} = {_embedded(data[name])}")
        if posts:  # only the synapses onto the neurons this process holds
            out("keep = np.isin(post, posts)")
            out(", ".join(["pre", "post"] + loaded) + " = " + ", ".join(f"{n}[keep]" for n in ["pre", "post"] + loaded))

    # ---- one step ------------------------------------------------------------------------------
    def prologue(self, uses: str = "") -> str:
        """Parameters, constants and state of one run; ``uses``: the code that reads them."""
        out = Lines()
        if self.part:
            out("part = self.part")
            self._split(out)
        for pop in self.plan.populations:
            out(f"# {pop.name}: parameters, constants of the {pop.method} scheme, state")
            for prm in pop.params:
                if prm.value is None:
                    out(f"{prm.name} = s[{prm.name!r}]")
                else:
                    out(f"{prm.name} = p[{prm.key!r}]")
            for a in pop.constants:
                _assign(out, a)
            for name in pop.state:
                out(f"{name} = s[{name!r}]")

            if pop.refractory is not None:
                self.refractory_prologue(out, pop)
            if self.fixed:
                self.fixed_prologue(out, pop)
            elif pop.propagator is not None:
                self.stack(out, pop)
            if pop.inputs or any(d for d in pop.input_draws):
                out(f"{self.n(pop.name, 'index')} = {self._index_of(pop.name)}")
            for a in pop.inputs:
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({pop.name + '.' + self.spec_name[a.name]!r})")
        for d in self.plan.drives:
            out(f"# input {d.name}: poisson_drive into {self.spec_name.get(d.variable, d.variable)} of {d.population}")
            out(f"{self.n(d.name, 'index')} = {self._index_of(d.population)}")
            out(f"{self.n(d.name, 'mean')} = {d.n} * {d.rate!r} * dt  # input spikes per neuron and step, on average")
            out(f"{self.n(d.name, 'weight')} = {d.weight!r}  # what one input spike adds")
        for src in self.plan.sources:
            out(f"# input {src.name} ({src.kind}{', counts' if src.counts else ''})")
            if src.kind == "poisson":
                out(f"{self.n(src.name, 'index')} = {self._index_of(src.name)}")
                if not src.counts:
                    out(f"{self.n(src.name, 'from')}, {self.n(src.name, 'u')} = start, np.zeros((0, {self._size(src.name)}))  # uniforms of steps from ...")
                if src.rate_key:
                    out(f"{self.n(src.name, 'rate_outside')} = self.inputs.get({src.rate_key!r})  # rates set from outside")
                    fixed = f"rt.constant_input({self.n(src.name, 'rate_outside')}, {src.size})"
                    if self.part:
                        fixed = f"rt.held({fixed}, {self.n(src.name, 'own')})"
                    out(f"{self.n(src.name, 'rate_fixed')} = {fixed}")
                    out(f"{self.n(src.name, 'p')} = ({code(src.rate)} if {self.n(src.name, 'rate_fixed')} is None else {self.n(src.name, 'rate_fixed')}) "
                        "* dt  # " + ("mean spike count per step" if src.counts else "spike probability per step"))
                else:
                    out(f"{self.n(src.name, 'p')} = {code(src.rate)} * dt  # spike probability per step")
            else:
                out(f"{self.n(src.name, 'event_step')} = s[{self.n(src.name, 'event_step')!r}]")
                out(f"{self.n(src.name, 'event_index')} = s[{self.n(src.name, 'event_index')!r}]")
        for c in self.plan.connections:
            header = len(out.lines)
            out(f"# {c.name}: {c.synapse}")
            for prm in c.params:
                out(f"{prm.name} = p[{prm.key!r}]")
            for a in c.inputs:
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({c.name + '.' + self.spec_name[a.name]!r})")
            for a in c.trace_constants + c.syn_constants:
                _assign(out, a)
            if not self._gathered(c):
                for name in ("pre", "post", "group_delay", "group_ptr"):
                    out(f"{self.n(c.name, name)} = s[{self.n(c.name, name)!r}]")
            if c.on_post:
                out(f"{self.n(c.name, 'by_post')} = s[{self.n(c.name, 'by_post')!r}]")
                out(f"{self.n(c.name, 'post_ptr')} = s[{self.n(c.name, 'post_ptr')!r}]")
            for name in c.state + [t.name for t in c.traces]:
                out(f"{name} = s[{name!r}]")
            if c.delay_array:
                out(f"{c.delay_array} = s[{c.delay_array!r}]")
            if self._gathered(c) and not self.route[c.name].group:
                out(f"{self.n(c.name, 'rows')} = self.targets[{c.name!r}]  # the targets of each neuron")
            each = self.each_weight(c)
            if each is not None:  # a parameter of the weight set as an array: a weight per synapse, else None
                if self._gathered(c):  # (delivered from lists of targets, unless a weight is per synapse)
                    for name in ("post", "group_ptr"):
                        out(f"{self.n(c.name, name)} = s[{self.n(c.name, name)!r}]")
                out(f"{each} = rt.each_synapse({code(c.linear[1])}, {self.n(c.name, 'post')}.size)  "
                    "# what each synapse adds, where a parameter is one value per synapse (else None)")
            if self.fixed:
                self.fixed_weights(out, c)
            elif c.linear is not None:
                target, weight = c.linear
                if weight.free_symbols & {symbol(n) for n in c.state}:
                    out(f"{self.n(c.name, 'weight')} = {code(weight)}  # what one spike adds, per synapse")
                    if c.storage == "dense":
                        n_post = self._size(c.target) if self.part else c.n_post
                        out(f"{self.n(c.name, 'weight')} = rt.dense({self.n(c.name, 'pre')}, {self.n(c.name, 'post')}, {self.n(c.name, 'weight')}, "
                            f"{c.n_pre}, {n_post})  # a weight matrix: pre x post")
            if len(out.lines) == header + 1:  # nothing to load for this connection
                out.lines.pop()
        for first, group in self.together.items():
            target = self.pops[group[0].target]
            out(f"# {', '.join(c.name for c in group)}: delivered together, into the stacked state of {target.name}")
            out(f"{self.n(first, 'rows')} = self.targets[{first!r}]  # the targets of each neuron, as row * {target.size} + neuron")
            stacked = f"np.repeat([{self._stacked_weights(group)}], {self._size(target.name)})"
            each = [w for w in (self.each_weight(c) for c in group) if w is not None]
            if each:  # a weight parameter set as an array: delivered connection by connection instead
                stacked += f" if {' and '.join(f'{w} is None' for w in each)} else None"
            out(f"{self.n(first, 'weight')} = {stacked}  # what a spike adds, by target")
        for name in dict.fromkeys(group[0].target for group in self.together.values()):
            out(f"{self.n(name, 'x_flat')} = tuple(x.reshape(-1) for x in {self.n(name, 'x')})  # the stacked buffers as flat views")
        for name in self.sizes:
            out(f"{self.n(name, 'history')} = s[{self.n(name, 'history')!r}]")
            if name in self.sources and self.sources[name].counts and not self._exchanged(name):  # counts = true
                out(f"{self.n(name, 'spk')} = rt.counted_spikes({self.n(name, 'history')}[(start - 1) % {self.n(name, 'history')}.shape[0]])  # last step's")
            elif self._exchanged(name):  # last step's spikes of every process
                out(f"{self.n(name, 'fired')} = np.flatnonzero({self.n(name, 'history')}[(start - 1) % {self.n(name, 'history')}.shape[0]])  # last step's, of every process")
                out(f"{self.n(name, 'sent')} = []  # the spikes of the steps since the last exchange, held here")
            else:
                out(f"{self.n(name, 'spk')} = np.flatnonzero({self.n(name, 'history')}[(start - 1) % {self.n(name, 'history')}.shape[0]])  # last step's")
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "synapses":
                out(f"{self.n('', f'monitor{k}_synapses')} = s[{self.n('', f'monitor{k}_synapses')!r}]  # the synapses monitor {k} records")
            elif m.kind == "state" and self.part:
                out(f"{self.n('', f'monitor{k}_cols')} = part.columns({k})  # the neurons monitor {k} records that are held here, as local indices")
            elif m.kind == "state" and m.as_slice() is None:
                out(f"{self.n('', f'monitor{k}_neurons')} = np.asarray(NEURONS[{k}])  # the neurons monitor {k} records")
        if self.part and self.plan.schedule.exchange.sources:
            out("every = self.every  # steps between exchanges of spikes (the shortest delay)")
        out("synops = self.synops")
        return out.prune(uses).text(2)

    def refractory_prologue(self, out: Lines, pop: PopulationPlan) -> None:
        name = pop.name
        out(f"{self.n(name, 'refractory_until')} = s[{self.n(name, 'refractory_until')!r}]  # last refractory step of each neuron")
        if pop.refractory_uniform:
            out(f"{self.n(name, 'ref_steps')} = int({code(pop.refractory)})  # refractory in the steps after a spike")
            out("# refractory neurons, and the ring of those released at each step (slot: step % (ref_steps + 1))")
            out(f"{self.n(name, 'refractory')}, {self.n(name, 'released')} = rt.refractory_ring({self.n(name, 'refractory_until')}, start, {self.n(name, 'ref_steps')})")
        else:
            out(f"{self.n(name, 'ref_steps')} = np.broadcast_to({code(pop.refractory)}, ({pop.size},)).astype(np.int64)"
                "  # per neuron, in the steps after a spike")

    def stack(self, out: Lines, pop: PopulationPlan) -> None:
        """The variables of an exact scheme stacked in one array, for one matrix product a step."""
        prop, name = pop.propagator, pop.name
        labels = ", ".join(self.spec_name[v] for v in prop.variables)
        rows = ", ".join("[" + ", ".join(code(e) for e in row) + "]" for row in prop.matrix)
        out(f"{self.n(name, 'P')} = np.array([{rows}])  # exact propagator: [{labels}] <- P @ [{labels}, 1]")
        out(f"# two stacked buffers (rows {labels}, then ones), written in turn: even steps read the first")
        out(f"{self.n(name, 'x')}, {self.n(name, 'x_out')}, {self.n(name, 'x_rows')} = rt.stacked([{', '.join(prop.variables)}])")
        out(f"{', '.join(prop.variables)} = {self.n(name, 'x_rows')}[start & 1]")

    def epilogue(self) -> str:
        out = Lines()
        names = []
        for pop in self.plan.populations:
            names += pop.state + (self.fixed_stored(pop) if self.fixed else [])
            if pop.refractory is not None:
                names.append(f"{self.n(pop.name, 'refractory_until')}")
            if pop.refractory_uniform:
                out(f"{self.n(pop.name, 'refractory_until')} = rt.refractory_until({self.n(pop.name, 'released')}, stop, "
                    f"{self.n(pop.name, 'ref_steps')}, {self._size(pop.name)})")
        for c in self.plan.connections:
            names += c.state + [t.name for t in c.traces]
        for name in names:
            out(f"s[{name!r}] = {name}")
        for name in self.sizes:
            if self.part and name in self.plan.schedule.partition:  # the exchange wrote every step's spikes into the history
                continue
            if name not in self.delayed:  # the loop reads only last step's spikes: keep those
                out("if stop > start:")
                with out.indent():
                    out(f"{self.n(name, 'history')}[(stop - 1) % {self.n(name, 'history')}.shape[0]] = {self.n(name, 'spiked')}")
        out("self.synops = synops")
        return out.text(2)


#: Arrays of a file connection with at most this many values are written out as lists.
_LISTED_VALUES = 64


def _embedded(values) -> str:
    """An array as code: a list when short, else its .npy bytes compressed and in base64."""
    import base64
    import io
    import zlib

    import numpy as np

    if values.size <= _LISTED_VALUES:
        kind = "np.int64" if values.dtype.kind in "iu" else "float"
        return f"np.array({[v.item() for v in values]!r}, dtype={kind})"
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    text = base64.b64encode(zlib.compress(buffer.getvalue(), 9)).decode("ascii")
    return f"np.load(io.BytesIO(zlib.decompress(base64.b64decode({text!r}))), allow_pickle=False)"
