"""The kernels of connections: deliveries (dense, linear, event by event), synapse equations, on_post."""
from __future__ import annotations

from ...plan.ir import Assign, ConnectionPlan, EventStatement
from ..lines import Lines
from .kernel import Arg, EmitError, Kernel, names_in


class Synapses:
    # ---- connections ------------------------------------------------------------------------
    def connection_kernels(self, c: ConnectionPlan) -> list[Kernel]:
        kernels = []
        if c.trace_decay:
            kernels.append(self.elementwise(self.n(c.name, "decay"), c, c.trace_decay, "trace"))
        if c.on_pre:
            if self._dense(c):
                kernels.append(self.weight_kernel(c))
                kernels.append(self.dense_kernel(c))
            elif c.linear is not None:
                kernels.append(self.linear_kernel(c))
            else:
                kernels += self.event_kernels(c, c.on_pre, "pre")
        if c.syn_integrate:
            kernels.append(self.elementwise(self.n(c.name, "integrate"), c, c.syn_integrate, "syn"))
        if c.on_post:
            kernels += self.event_kernels(c, c.on_post, "post")
        return kernels

    def _connection_scalars(self, c: ConnectionPlan, used: set[str], local: set[str],
                            indexed: dict[str, str]) -> list[Arg]:
        scalars = sorted(used - local - set(indexed) - set(self.each), key=self._order(c))
        return [self._scalar_arg(n) for n in scalars] + self._each_args(used)

    def _each_names(self, used: set[str]) -> dict[str, str]:
        """The C text of each parameter a per-synapse statement reads that may hold one value per
        synapse: its device array at ``syn`` (step 0 where it is one number)."""
        return {n: f"d_{self.each[n][0]}[syn * {self.each[n][1]}]" for n in sorted(used) if n in self.each}

    def _each_args(self, used: set[str]) -> list[Arg]:
        args = []
        for n in sorted(used):
            if n in self.each:
                values, stride = self.each[n]
                args += [self._pointer(values, False), Arg("const long long", stride, stride)]
        return args

    def _indexed(self, c: ConnectionPlan, event: str | None = None) -> dict[str, str]:
        """Names read per element in this connection's kernels, with their index variable."""
        out = {}
        for n, ix in c.indexed.items():
            if n in self.scalar_params:
                continue  # a population parameter shared by all neurons: passed by value
            out[n] = ix
        return out

    def _arrays_of(self, c: ConnectionPlan, exprs, writes: set[str], indexed: dict[str, str]) -> list[Arg]:
        used = names_in(*exprs) | writes
        names = [n for n in self.arrays if n in used and n in indexed]
        for n in used & set(indexed):
            if n not in self.arrays:
                raise EmitError(f"connection {c.name}: no device array for {n!r}")
        return [self._pointer(n, n in writes) for n in names]

    def _ring_args(self, source: str) -> list[Arg]:
        return [Arg("const int", "slot", "slot", True),
                Arg("const int* __restrict__", f"d_{self.n(source, 'ring')}", self.n(source, "ring")),
                Arg("const int* __restrict__", f"d_{self.n(source, 'ring_n')}", self.n(source, "ring_n"))]

    def _synops_arg(self) -> Arg:
        return Arg("unsigned long long* __restrict__", "d_synops", "b['synops']")

    def dense_kernel(self, c: ConnectionPlan) -> Kernel:
        target, _ = c.linear
        weight = self.n(c.name, "weight")
        args = self._ring_args(c.source)
        args += [self._pointer(weight, False), self._pointer(target, True), self._synops_arg()]
        out = Lines()
        out(f"const long long n = d_{self.n(c.source, 'ring_n')}[slot], N_pre = {self.sizes[c.source]}, "
            f"N_post = {self.sizes[c.target]};")
        out(f"const int* spikes = d_{self.n(c.source, 'ring')} + slot * N_pre;")
        with out.block("for (long long post = blockIdx.x * (long long)blockDim.x + threadIdx.x; post < N_post; "
                       "post += (long long)blockDim.x * gridDim.x)"):
            out("real sum = 0;  // the weights of the spiking rows, in spike order (as NumPy's sum over them)")
            with out.block("for (long long k = 0; k < n; ++k)"):
                out(f"sum += d_{weight}[spikes[k] * N_post + post];")
            out(f"if (n) d_{target}[post] += sum;")
        out("if (blockIdx.x == 0 && threadIdx.x == 0 && n) atomicAdd(d_synops, (unsigned long long)(n * N_post));")
        return Kernel(self.n(c.name, "on_pre"), f"Connection {c.name}: {c.source} -> {c.target}, dense: "
                      f"{target} += the weights of the rows that spiked.", args, out, self.n(c.name, "grid"), "BLOCK")

    def weight_kernel(self, c: ConnectionPlan) -> Kernel:
        _, weight = c.linear
        indexed = {n: "syn" for n in c.state}
        used = names_in(weight)
        args = [Arg("const long long", "n_syn", f"np.int64({self.n(c.name, 'post')}.size)")]
        args += self._connection_scalars(c, used, {"syn"} | set(c.state), {})
        args += [self._pointer(self.n(c.name, "pre"), False), self._pointer(self.n(c.name, "post"), False)]
        args += [self._pointer(n, False) for n in c.state if n in used]
        args.append(self._pointer(self.n(c.name, "weight"), True))
        out = Lines()
        out(f"const long long N_post = {self.sizes[c.target]};")
        with out.block("for (long long syn = blockIdx.x * (long long)blockDim.x + threadIdx.x; syn < n_syn; "
                       "syn += (long long)blockDim.x * gridDim.x)"):
            out(f"atomicAdd(&d_{self.n(c.name, 'weight')}[d_{self.n(c.name, 'pre')}[syn] * N_post + d_{self.n(c.name, 'post')}[syn]], "
                f"(real)({self.c(weight, indexed, self._each_names(used))}));")
        return Kernel(self.n(c.name, "weight"), f"Connection {c.name}: the weight matrix (pre x post, zero where no synapse,\n"
                      "repeated pairs added), once a run.", args, out, f"grid_of({self.n(c.name, 'post')}.size)", "BLOCK")

    def linear_kernel(self, c: ConnectionPlan) -> Kernel:
        target, weight = c.linear
        indexed = self._indexed(c)
        stmt = EventStatement(side="target", target=target, index="post", op="+=", expr=weight)
        return self._event_kernel(c, self.n(c.name, "on_pre"), [stmt], "pre", "synapse", True, indexed,
                                  f"Connection {c.name}: {c.source} -> {c.target}, event-driven: "
                                  f"{target} += {weight} over the rows that spiked,\n"
                                  "for every delay group in one launch (the additions commute).", all_groups=True)

    def event_kernels(self, c: ConnectionPlan, statements: list[EventStatement], event: str) -> list[Kernel]:
        indexed = self._indexed(c)
        phases = self._phases(c, statements, event)
        kernels = []
        for k, (kind, stmts) in enumerate(phases):
            suffix = f"_{k + 1}" if len(phases) > 1 else ""
            what = "per spike" if kind == "spike" else "per synapse"
            kernels.append(self._event_kernel(
                c, f"{self.n(c.name, 'on_')}{event}{suffix}", stmts, event, kind, k == 0, indexed,
                f"Connection {c.name}: on_{event}, {what}" + (f" (part {k + 1} of {len(phases)})" if suffix else "")
                + "."))
        return kernels

    def _phases(self, c: ConnectionPlan, statements: list[EventStatement], event: str):
        """Statements in kernels: per-spike ones and per-synapse ones apart, in order; a new kernel
        also where a statement reads what an earlier scatter of the same kernel adds to."""
        phases: list[tuple[str, list[EventStatement]]] = []
        scattered: set[str] = set()  # what the scatters of the current kernel add to
        read: set[str] = set()  # what its statements read
        for st in statements:
            kind = "spike" if st.side == event else "synapse"
            if st.side not in (event, "synapse", "target"):
                raise EmitError(f"connection {c.name}: on_{event} statement of kind {st.side!r}")
            reads = names_in(st.expr)
            conflict = reads & scattered or (st.side == "target" and st.target in read)
            if not phases or phases[-1][0] != kind or conflict:  # threads would see each other's scatters
                phases.append((kind, []))
                scattered, read = set(), set()
            phases[-1][1].append(st)
            read |= reads
            if st.side == "target":
                scattered.add(st.target)
        return phases

    def _event_kernel(self, c: ConnectionPlan, name: str, stmts: list[EventStatement], event: str, kind: str,
                      count: bool, indexed: dict[str, str], doc: str, all_groups: bool = False) -> Kernel:
        other = "post" if event == "pre" else "pre"
        source = c.source if event == "pre" else c.target
        n_event = self.sizes[source]  # whole populations: the ring and the rows are by neuron
        writes = set()
        body = Lines()
        ij = {"i": "pre", "j": "post"}
        # refractory_post (_pre): an expression of the neuron's last spike, not an array
        refractory = self._refractory_reads(c, names_in(*(st.expr for st in stmts)), indexed)
        for st in stmts:
            if st.side == "target" and st.index == event:
                raise EmitError(f"connection {c.name}: a scatter to the spiking side in on_{event}")
            if kind == "spike":
                bad = {n for n in names_in(st.expr) if indexed.get(n) not in (None, event)}
                if bad:
                    raise EmitError(f"connection {c.name}: a per-spike statement of on_{event} reads "
                                    f"per-synapse values {sorted(bad)}")
        if refractory:
            ij = {**ij, **refractory}
            indexed = {n: ix for n, ix in indexed.items() if n not in refractory}
        each = self._each_names(names_in(*(st.expr for st in stmts)))
        if each and kind == "spike":
            raise EmitError(f"connection {c.name}: a per-spike statement of on_{event} reads {sorted(each)}, "
                            "which may be one value per synapse")
        ij = {**ij, **each}
        for st in stmts:
            if st.side == "target":
                if st.target in self._inputs() and event == "post":
                    body(f"// {st.target} {st.op} ...: an input variable of the presynaptic neuron, which "
                         "takes a new value next step (as on the NumPy target)")
                    continue
                sign = "-" if st.op == "-=" else ""
                body(f"atomicAdd(&d_{st.target}[{st.index}], (real)({sign}({self.c(st.expr, indexed, ij)})));")
            else:
                body(f"d_{st.target}[{st.index}] = {self.c(st.expr, indexed, ij)};")
            writes.add(st.target)
        used = names_in(*(st.expr for st in stmts))
        used -= set(refractory)
        for n in used:
            if n in self._inputs() and event == "post":
                raise EmitError(f"connection {c.name}: on_post reads the input variable {n!r}; the CuPy target "
                                "keeps input variables for the next step by then")
        local = {"pre", "post", "syn", "i", "j"}
        if all_groups:
            args = [Arg("const long long", "step", "n", True), Arg("const long long", "rows", f"np.int64({self.n(source, 'rows')})"),
                    Arg("const long long", "groups", f"np.int64(len({self.n(c.name, 'delays')}))"),
                    self._pointer(self.n(c.name, "group_delay"), False)] + self._ring_args(source)[1:]
        else:
            args = self._ring_args(source)
        rows = kind == "synapse" or count  # the kernel reads the synapses of the spiking neurons
        if event == "pre" and rows:
            if not all_groups:
                args.append(Arg("const long long", "group", "np.int64(g)", True))
            args.append(Arg("const long long* __restrict__", f"d_{self.n(c.name, 'group_ptr')}", self.n(c.name, "group_ptr")))
        elif rows:
            args.append(self._pointer(self.n(c.name, "post_ptr"), False))
            if kind == "synapse":
                args.append(self._pointer(self.n(c.name, "by_post"), False))
        sides = {indexed.get(n) for n in used} | {c.indexed[m] for m in refractory} | {st.index for st in stmts}
        needs_other = kind == "synapse" and (other in sides or {"i", "j"} & used)
        if needs_other:
            args.append(self._pointer(self.n(c.name, other), False))
        args += self._connection_scalars(c, used, local, indexed)
        args += self._arrays_of(c, [st.expr for st in stmts], writes, indexed)
        if refractory:
            args += self._refractory_args(c, refractory, args)
        if count:
            args.append(self._synops_arg())

        out = Lines()
        out(f"const long long N_{event} = {n_event};")
        if count:
            out("unsigned long long events = 0;")
        outer = out
        if all_groups:
            block = out.block("for (long long group = 0; group < groups; ++group)  // each delay group: "
                              "the spikes of its delay ago")
            block.__enter__()
            out("long long slot = (step - d_{0}_group_delay[group]) % rows;".format(c.name))
            out("if (slot < 0) slot += rows;  // before the first step: an empty row")
        out(f"const long long n = d_{self.n(source, 'ring_n')}[slot];")
        if kind == "synapse" or count:
            if event == "pre":
                out(f"const long long* ptr = d_{self.n(c.name, 'group_ptr')} + group * (N_pre + 1);  // the rows of this delay group")
            else:
                out(f"const long long* ptr = d_{self.n(c.name, 'post_ptr')};  // the columns, through by_post")
        if kind == "spike":
            with out.block("for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n; "
                           "k += (long long)blockDim.x * gridDim.x)"):
                out(f"const long long {event} = d_{self.n(source, 'ring')}[slot * N_{event} + k];")
                if count:
                    out(f"events += ptr[{event} + 1] - ptr[{event}];")
                for line in body.lines:
                    out(line)
        else:
            with out.block("for (long long k = blockIdx.x; k < n; k += gridDim.x)  // a block per spike"):
                out(f"const long long {event} = d_{self.n(source, 'ring')}[slot * N_{event} + k];")
                out(f"const long long lo = ptr[{event}], hi = ptr[{event} + 1];")
                if count:
                    out("if (threadIdx.x == 0) events += hi - lo;")
                with out.block("for (long long m = lo + threadIdx.x; m < hi; m += blockDim.x)  // its synapses"):
                    if event == "pre":
                        out("const long long syn = m;")
                    else:
                        out(f"const long long syn = d_{self.n(c.name, 'by_post')}[m];")
                    if needs_other:
                        out(f"const long long {other} = d_{self.n(c.name, other)}[syn];")
                    for line in body.lines:
                        out(line)
        if all_groups:
            block.__exit__(None, None, None)
        if count:
            outer("if (events) atomicAdd(d_synops, events);")
        grid = self.n(c.name, f"grid_{event}") if kind == "synapse" else self.n(c.name, f"grid_{event}_spikes")
        block = self.n(c.name, f"lanes_{event}") if kind == "synapse" else "BLOCK"
        return Kernel(name, doc, args, out, grid, block)

    def _refractory_reads(self, c: ConnectionPlan, used: set[str], indexed: dict[str, str]) -> dict[str, str]:
        """refractory_post (or _pre) read in on_pre: mask name -> the C condition, true where the neuron
        is refractory in this step (as the population kernel's ``active``, negated: its last spike was
        at most ref_steps steps ago). A delivery runs before the population's kernel of the step."""
        found = {}
        for mask, pop in getattr(c, "refractory_reads", {}).items():
            if mask in used:
                index = c.indexed[mask]
                # as brian2: refractory in the last step or spiked in it (Brian2's synapses after its threshold)
                late = " + 1" if self.plan_population(pop).refractory_convention == "brian2" else ""
                found[mask] = f"(step - d_{self.n(pop, 'spiked_at')}[{index}] <= {self.n(pop, 'ref_steps')}{late})"

        return found

    def plan_population(self, name: str):
        return next(p for p in self.plan.populations if p.name == name)

    def _refractory_args(self, c: ConnectionPlan, refractory: dict[str, str], args: list[Arg]) -> list[Arg]:
        """The step, and the ref_steps and last spike of each population whose refractoriness is read."""
        out = [] if any(a.name == "step" for a in args) else [Arg("const long long", "step", "n", True)]
        for pop in sorted({c.refractory_reads[m] for m in refractory}):
            ref_steps = self.n(pop, "ref_steps")
            out += [Arg("const long long", ref_steps, f"np.int64({ref_steps})"),
                    self._pointer(self.n(pop, "spiked_at"), False)]
        return out

    def _inputs(self) -> set[str]:
        return {a.name for p in self.plan.populations for a in p.inputs}

    def elementwise(self, name: str, c: ConnectionPlan, statements: list[Assign], kind: str) -> Kernel:
        """Per-element statements of a connection: trace decay (per neuron) or synaptic equations (per synapse)."""
        per_synapse = set(getattr(c, "per_synapse_traces", []))
        if kind == "trace":
            side_of = {n: ("syn" if n in per_synapse else side) for n, side in c.trace_side.items()}
            sides = {}
            for a in statements:  # a temporary takes the side of the traces it reads
                touched = {n for n in names_in(a.expr) | {a.target} if n in side_of or n in sides}
                found = {side_of.get(n) or sides.get(n) for n in touched}
                if len(found) != 1:
                    raise EmitError(f"connection {c.name}: a trace statement mixes pre and post traces")
                sides[a.target] = found.pop()
            size = {"pre": str(self.sizes[c.source]), "post": str(self.sizes[c.target]), "syn": "n_syn"}
            index = "k"
        else:
            index = "syn"
        arrays = set(c.state) | set(c.trace_side) | {n for n in c.indexed if n in self.arrays}
        temps = [a.target for a in statements if a.target not in arrays]
        used = names_in(*(a.expr for a in statements))
        writes = {a.target for a in statements if a.target in arrays}
        if kind == "trace":
            indexed = {n: "k" for n in arrays}
        else:
            indexed = {n: ("syn" if n in c.state else c.indexed.get(n, "syn")) for n in arrays}
            for n in used & self._inputs():
                raise EmitError(f"connection {c.name}: synaptic equations read the input variable {n!r}")
        args = []
        if kind == "syn" or (kind == "trace" and "syn" in sides.values()):
            args.append(Arg("const long long", "n_syn", f"np.int64({self.n(c.name, 'post')}.size)"))
        args += self._connection_scalars(c, used, set(temps) | {"syn", "k"}, indexed)
        pointer_names = [n for n in self.arrays if n in (used | writes) and n in arrays]
        sides_of = {indexed[n] for n in pointer_names if kind == "syn"} - {"syn"}
        for side in sorted(sides_of):
            args.append(self._pointer(self.n(c.name, side), False))
        args += [self._pointer(n, n in writes) for n in pointer_names]
        out = Lines()
        declared: set[str] = set()

        def emit(stmts):
            for a in stmts:
                value = self.c(a.expr, indexed)
                if a.target in arrays:
                    out(f"d_{a.target}[{index}] = {value};")
                elif a.target in declared:
                    out(f"{a.target} = {value};")
                else:
                    declared.add(a.target)
                    out(f"real {a.target} = {value};")

        if kind == "trace":
            N = max(self.sizes[c.source], self.sizes[c.target])
            bound, grid = str(N), f"grid_of({N})"
            if "syn" in sides.values():
                out(f"const long long K = n_syn > {N} ? n_syn : {N};")
                bound, grid = "K", f"grid_of(max({self.n(c.name, 'post')}.size, {N}))"
            with out.block(f"for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < {bound}; "
                           "k += (long long)blockDim.x * gridDim.x)"):
                for side in ("pre", "post", "syn"):
                    part = [a for a in statements if sides[a.target] == side]
                    what = {"pre": "presynaptic traces", "post": "postsynaptic traces",
                            "syn": "presynaptic traces kept per synapse"}[side]
                    if part:
                        with out.block(f"if (k < {size[side]})  // {what}"):
                            emit(part)
        else:
            with out.block("for (long long syn = blockIdx.x * (long long)blockDim.x + threadIdx.x; syn < n_syn; "
                           "syn += (long long)blockDim.x * gridDim.x)"):
                for side in sorted(sides_of):
                    out(f"const long long {side} = d_{self.n(c.name, side)}[syn];")
                emit(statements)
            grid = f"grid_of({self.n(c.name, 'post')}.size)"
        doc = (f"Connection {c.name}: traces decay by one step." if kind == "trace"
               else f"Connection {c.name}: the synaptic equations, one step.")
        return Kernel(name, doc, args, out, grid, "BLOCK")
