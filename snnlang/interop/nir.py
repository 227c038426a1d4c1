"""NIR (the Neuromorphic Intermediate Representation, the ``nir`` package) in and out.

:func:`export`: the simulated network of a spec (and the weights of a trained run) as a NIR
graph. :func:`import_graph`: a NIR graph as a readable spec and an ``.npz`` of its weights.
The mapping, its conventions and what has no NIR form are in docs/interop.md.

Discrete-time neurons (``update { v = a * v + c * I + k }``) map as snnTorch's exporter maps
its ``Leaky``: a NIR LIF is forward Euler at the step ``dt``,
``v += dt / tau * (v_leak - v + r * I)``, so ``tau = dt / (1 - a)``, ``r = c / (1 - a)``
(``tau / dt`` when ``c = 1``) and ``v_leak = k / (1 - a)``; ``a = 1`` is a NIR IF
(``v += r * I``). Continuous-time neurons of linear equations map onto LIF, LI, IF, I and
(a current that decays and drives v) CubaLIF, CubaLI; a connection's delay is a Delay node
after its Linear (docs/interop.md has the tables). NIR's edges take no time, snnlang's connections one step at least: an
imported population that is ``d`` edges from the inputs runs ``d`` steps later than in a
zero-delay simulator, the same spikes shifted (the importer adds delays where paths of
different lengths meet, so the shift holds).
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__

NEED_NIR = "NIR support needs the nir package: pip install 'snnlang[nir]'"


def _nir():
    try:
        import nir
    except ImportError:
        raise ImportError(NEED_NIR) from None
    return nir


# ---- export --------------------------------------------------------------------------------

@dataclass
class _Neuron:
    """A population's NIR form: the node, the input variable its synapses add to."""

    node: object
    input: str


def export(spec: str | Path, out: Optional[str | Path] = None, weights: Optional[str | Path] = None):
    """The NIR graph of a spec's simulated network, with its weights: the spec's own (drawn
    with its seed) or those of ``weights`` (``weights.npz`` of ``snnlang train``). Written to
    ``out`` when given. Returns (graph, the text of the located warnings, or '').
    Raises SpecError, every refusal located in the spec, for what NIR cannot hold."""
    nir = _nir()
    from ..frontend.diagnostics import Diagnostics, SpecError
    from ..driver import load, package
    from ..run import load_weights

    spec = Path(spec)
    model = load(spec)
    module, _ = package(spec, "numpy", model=model)
    network = model.networks[module.NETWORK]
    net = module.Network()
    if weights is not None:
        load_weights(net, Path(weights))
    dt = float(module.DT)
    diags = Diagnostics(sources=_sources(model))

    populations: dict[str, _Neuron] = {}
    for pop in network.populations:
        neuron = model.neurons[pop.neuron]
        found = _neuron_node(nir, neuron, pop, network, model, net.params, dt, diags)
        if found is not None:
            populations[pop.name] = found

    nodes: dict[str, object] = {}
    edges: list[tuple[str, str]] = []
    for source in network.inputs:
        nodes[source.name] = nir.Input(input_type={"input": np.array([source.size])},
                                       metadata={"snnlang_kind": source.kind})
    nodes.update((name, n.node) for name, n in populations.items())
    biased: set[str] = set()
    has_outgoing: set[str] = set()
    sizes = module.SIZES
    for conn in network.connections:
        if conn.target not in populations:
            continue
        matrix = _weights(conn, model, net, sizes, populations[conn.target].input, diags)
        steps = _delay_steps(conn, dt, diags)
        if matrix is None or steps is None:
            continue
        name = conn.name if conn.name not in nodes else f"{conn.name}_weights"
        bias = _bias(net, conn.target, populations[conn.target].input, sizes[conn.target], model, network)
        if bias is not None and conn.target not in biased:
            nodes[name] = nir.Affine(weight=matrix, bias=bias)
            biased.add(conn.target)
        else:
            nodes[name] = nir.Linear(weight=matrix)
        if steps > 1:  # the edge's own step, and a Delay node for the rest
            delay = name + "_delay" if name + "_delay" not in nodes else name + "_delay_"
            nodes[delay] = nir.Delay(delay=np.full(sizes[conn.target], (steps - 1) * dt))
            edges += [(conn.source, name), (name, delay), (delay, conn.target)]
        else:
            edges += [(conn.source, name), (name, conn.target)]
        if conn.source != conn.target:
            has_outgoing.add(conn.source)
    for name in populations:
        if _bias(net, name, populations[name].input, sizes[name], model, network) is not None and name not in biased:
            pop = next(p for p in network.populations if p.name == name)
            diags.error(pop.loc, f"'{name}' has a bias but no incoming connection: NIR holds a bias in an Affine node")
    if diags.errors:
        raise SpecError(diags)
    outputs = [p for p in populations if p not in has_outgoing]
    for name in outputs:
        out_name = f"{name}_output" if f"{name}_output" not in nodes else f"{name}_output_"
        nodes[out_name] = nir.Output(output_type={"output": np.array([sizes[name]])})
        edges.append((name, out_name))
    metadata = {"generator": f"snnlang {__version__}", "spec": str(spec), "network": network.name, "dt": dt,
                "time_step": "each edge takes one step of dt in snnlang (its shortest delay)"}
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    if out is not None:
        _write_graph(nir, graph, Path(out))
    warnings = Diagnostics(items=list(diags.warnings), sources=diags.sources)
    return graph, warnings.render()


def _write_graph(nir, graph, out: Path) -> None:
    """Write ``graph`` to ``out`` through a temporary name (a failed write keeps what was
    there), replacing only a file that snnlang export wrote."""
    import os
    import tempfile

    if out.exists() or out.is_symlink():
        try:
            ours = out.is_file() and str(nir.read(str(out)).metadata.get("generator", "")).startswith("snnlang ")
        except Exception:  # noqa: BLE001 - not a NIR file (h5py and nir raise many kinds)
            ours = False
        if not ours:
            raise ValueError(f"-o {out}: it exists and snnlang export did not write it; choose another name")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sources(model) -> dict[str, str]:
    """file -> text of the spec's files, for diagnostics with their source line."""
    sources = {}
    for item in [*model.neurons.values(), *model.synapses.values(), *model.networks.values()]:
        path = item.loc.file
        if path not in sources:
            try:
                sources[path] = Path(path).read_text(encoding="utf-8")
            except OSError:
                pass
    return sources


def _value(expr, values: dict) -> Optional[float]:
    """The number an expression of known names is (units in SI), or None when a name is unknown."""
    from ..frontend.dims import BaseUnit

    subs = {s: 1 if isinstance(s, BaseUnit) else values[s.name] for s in expr.free_symbols
            if isinstance(s, BaseUnit) or s.name in values}
    if len(subs) != len(expr.free_symbols):
        return None
    try:
        return float(expr.subs(subs))
    except (TypeError, ValueError):
        return None


def _neuron_node(nir, neuron, pop, network, model, params, dt, diags) -> Optional[_Neuron]:
    """The NIR node of a population (None, with the refusal located in ``diags``, where it has none)."""
    where = f"population '{pop.name}' ({neuron.name})"
    values = {"dt": dt}
    for p in neuron.parameters:
        value = params.get(f"{pop.name}.{p.name}")
        if value is None:
            diags.error(pop.loc, f"{where}: '{p.name}' differs from neuron to neuron; export needs one value a population")
            return None
        values[p.name] = float(value)
    if neuron.refractory is not None:
        t_ref = _value(neuron.refractory.value, values)
        if t_ref is None:
            diags.error(neuron.refractory.loc, f"{where}: the refractory period must be a constant")
            return None
        if neuron.refractory_in_steps:
            t_ref *= dt
        if t_ref > 0:
            diags.error(neuron.refractory.loc, f"{where}: NIR neurons have no refractory period (this one is "
                                               f"{t_ref:g} s; a period of 0 exports)")
            return None
    metadata: dict = {}
    overridden = {o.name: o for o in pop.overrides}
    input_names = [v.name for v in neuron.inputs]
    for name in input_names:
        if name in overridden:
            diags.error(overridden[name].loc, f"{where}: an input override ('{name}' = ...) has no NIR form; "
                                              "a constant input is a bias of an Affine node (a trained bias)")
            return None
    states = [v.name for v in neuron.state]
    targets = {_post_target(model, c) for c in network.connections if c.target == pop.name}
    targets.discard(None)
    allowed = input_names if neuron.update else input_names + states
    if len(targets) > 1 or (targets and next(iter(targets)) not in allowed):
        conn = next(c for c in network.connections if c.target == pop.name)
        diags.error(conn.loc, f"{where}: its synapses must all add to one variable "
                              f"({', '.join(allowed) or 'it has none'}), the NIR neuron's input")
        return None
    input_name = next(iter(targets)) if targets else (input_names[0] if len(input_names) == 1 else None)
    # other inputs than the synapses' are at their default value
    for var in neuron.inputs:
        if var.name != input_name:
            default = _value(var.value.value, values)
            values[var.name] = 0.0 if default is None else default
    if neuron.update:
        found = _discrete(nir, neuron, where, input_name, values, metadata, pop.size, diags)
    else:
        found = _continuous(nir, neuron, where, input_name, values, metadata, pop.size, dt, diags)
    return None if found is None else _Neuron(found, input_name or "")


def _discrete(nir, neuron, where, input_name, values, metadata, n, diags):
    """A discrete-time neuron (``update { v = a * v + c * I + k }``) as snnTorch exports ``Leaky``."""
    import sympy

    states = [v.name for v in neuron.state]
    if neuron.odes or len(neuron.update) != 1 or len(states) != 1 or neuron.update[0].target != states[0]:
        diags.error(neuron.update[0].loc,
                    f"{where}: export maps one update of one state variable (v = a * v + c * I + k) so far")
        return None
    stmt = neuron.update[0]
    v_sym = next((s for s in stmt.value.value.free_symbols if s.name == stmt.target), sympy.Symbol(stmt.target))
    rhs = {"=": stmt.value.value, "+=": v_sym + stmt.value.value, "-=": v_sym - stmt.value.value,
           "*=": v_sym * stmt.value.value}.get(stmt.op)
    if rhs is None:
        diags.error(stmt.loc, f"{where}: '{stmt.op}' in the update has no NIR form")
        return None
    i_sym = next((s for s in rhs.free_symbols if s.name == input_name), sympy.Symbol(input_name or "_none"))
    a, c, k = _linear(rhs, v_sym, i_sym, values)
    if a is None:
        diags.error(stmt.value.loc, f"{where}: the update is not of the form v = a * v + c * I + k "
                                    "with constants a, c, k (NIR's LIF, IF, LI and I)")
        return None
    spiking = _threshold_reset(neuron, stmt.target, values, metadata, where, diags)
    if spiking is None:
        return None
    full = lambda x: np.full(n, float(x))  # noqa: E731
    threshold, reset = spiking
    if a == 1.0:
        if k != 0.0:
            diags.error(stmt.value.loc, f"{where}: an integrator (a = 1) with a constant term has no NIR form")
            return None
        return (nir.IF(r=full(c), v_threshold=full(threshold), v_reset=full(reset), metadata=metadata)
                if threshold is not None else nir.I(r=full(c)))
    tau = values["dt"] / (1.0 - a)
    r, v_leak = c / (1.0 - a), k / (1.0 - a)
    return (nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(threshold),
                    v_reset=full(reset), metadata=metadata)
            if threshold is not None else nir.LI(tau=full(tau), r=full(r), v_leak=full(v_leak), metadata=metadata))


def _continuous(nir, neuron, where, input_name, values, metadata, n, dt, diags):
    """A neuron of linear equations as NIR's continuous-time nodes.

    One state ``dv/dt = a v + b I + c``: LIF (``tau = -1/a``, ``v_leak = -c/a``), LI without
    spikes, IF (``a = 0``, ``c = 0``). Two, a current that decays on its own and drives v
    (``dI_syn/dt = -I_syn / tau_syn``, ``dv/dt = a v + b I_syn + c``): CubaLIF, CubaLI
    (``tau_mem = -1/a``, ``r = b tau_mem``). NIR's input is the weighted spikes of a step held
    for the step (how snnTorch and Norse step NIR): a synapse that adds ``w`` to a state
    variable at once is a weight ``w`` with ``r = tau / dt`` (``w_in = tau_syn / dt`` for
    CubaLIF's current); one that adds to an ``inputs`` variable is a weight ``w`` and ``r`` the
    equation's coefficient times ``tau``."""
    import sympy

    odes = {o.var: o for o in neuron.odes}
    states = [v.name for v in neuron.state]
    loc = neuron.odes[0].loc if neuron.odes else neuron.loc
    if set(odes) != set(states) or not 1 <= len(states) <= 2:
        diags.error(loc, f"{where}: export maps one or two state variables, each with its equation "
                         "(NIR's LIF, LI, IF, CubaLIF and CubaLI)")
        return None
    aliases = {a.name: a.value.value for a in neuron.aliases}
    symbols: dict[str, sympy.Symbol] = {}

    def rhs_of(name):
        expr = odes[name].rhs.value
        for _ in range(len(aliases) + 1):  # aliases may use aliases
            subs = {s: aliases[s.name] for s in expr.free_symbols if s.name in aliases}
            if not subs:
                break
            expr = expr.subs(subs)
        for s in expr.free_symbols:
            symbols.setdefault(s.name, s)
        return expr

    rhs = {name: rhs_of(name) for name in states}
    sym = lambda name: symbols.get(name, sympy.Symbol(name))  # noqa: E731
    current = None
    if len(states) == 2:  # which one decays on its own: the synaptic current
        for cand in states:
            other = next(s for s in states if s != cand)
            if sym(other) not in rhs[cand].free_symbols and sym(cand) in rhs[other].free_symbols:
                current = cand
        if current is None:
            diags.error(loc, f"{where}: of two state variables one must decay on its own and drive the other "
                             "(NIR's CubaLIF: dI_syn/dt = -I_syn / tau_syn, dv/dt = (v_leak - v + r I_syn) / tau_mem)")
            return None
    v = next(s for s in states if s != current)
    drive = current or (input_name if input_name not in states else None)  # None: synapses kick v
    a, b, c = _linear(rhs[v], sym(v), sym(drive or "_none"), values)
    if a is None or a > 0 or (a == 0 and c != 0):
        diags.error(odes[v].rhs.loc, f"{where}: NIR's neurons need dv/dt = (v_leak - v + r I) / tau with "
                                     "constants (tau > 0), or dv/dt = r I (IF)")
        return None
    spiking = _threshold_reset(neuron, v, values, metadata, where, diags)
    if spiking is None:
        return None
    threshold, reset = spiking
    full = lambda x: np.full(n, float(x))  # noqa: E731
    if current is not None:
        d, e, f = _linear(rhs[current], sym(current), sym("_none"), values)
        if d is None or not d < 0 or f != 0:
            diags.error(odes[current].rhs.loc, f"{where}: NIR's synaptic current decays on its own: "
                                               f"d{current}/dt = -{current} / tau_syn")
            return None
        if input_name not in (None, current):
            diags.error(loc, f"{where}: NIR's CubaLIF receives its spikes in the current '{current}'")
            return None
        tau_syn, tau_mem = -1.0 / d, -1.0 / a
        args = dict(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(b * tau_mem), v_leak=full(-c / a),
                    w_in=full(tau_syn / dt), metadata=metadata)
        return (nir.CubaLIF(v_threshold=full(threshold), v_reset=full(reset), **args)
                if threshold is not None else nir.CubaLI(**args))
    delta = input_name in states  # the synapses add to v itself
    if a == 0:
        r = 1.0 / dt if delta else b  # NIR IF: dv/dt = r I
        return (nir.IF(r=full(r), v_threshold=full(threshold), v_reset=full(reset), metadata=metadata)
                if threshold is not None else nir.I(r=full(r)))
    tau = -1.0 / a
    r = tau / dt if delta else b * tau
    args = dict(tau=full(tau), r=full(r), v_leak=full(-c / a), metadata=metadata)
    return nir.LIF(v_threshold=full(threshold), v_reset=full(reset), **args) if threshold is not None \
        else nir.LI(**args)


def _linear(rhs, x, u, values):
    """(a, b, c) with rhs = a x + b u + c, all numbers given ``values``; (None, None, None) if not."""
    import sympy

    a, b = sympy.diff(rhs, x), sympy.diff(rhs, u)
    c = sympy.expand(rhs - a * x - b * u)
    found = tuple(_value(term, values) for term in (a, b, c))
    return (None, None, None) if None in found else found


def _threshold_reset(neuron, v: str, values, metadata, where, diags):
    """(v_threshold, v_reset) of ``spike when v > v_th`` and ``reset { v = v_reset }`` ((None,
    None) without spikes), the reset by subtraction written as metadata; None if refused."""
    import sympy

    if neuron.threshold is None:
        return None, None
    cond = neuron.threshold.value
    v_sym = next((s for s in cond.free_symbols if s.name == v), sympy.Symbol(v))
    ok = isinstance(cond, (sympy.GreaterThan, sympy.StrictGreaterThan)) and cond.lhs == v_sym
    ok = ok or (isinstance(cond, (sympy.LessThan, sympy.StrictLessThan)) and cond.rhs == v_sym)
    bound = cond.rhs if ok and cond.lhs == v_sym else (cond.lhs if ok else None)
    threshold = _value(bound, values) if bound is not None else None
    if threshold is None:
        diags.error(neuron.threshold.loc, f"{where}: NIR's spike condition is v > v_threshold, a constant")
        return None
    if len(neuron.reset) != 1 or neuron.reset[0].target != v:
        diags.error(neuron.reset[0].loc if neuron.reset else neuron.threshold.loc,
                    f"{where}: NIR's reset is one statement, v = v_reset")
        return None
    r = neuron.reset[0]
    amount = _value(r.value.value, values)
    if r.op == "=" and amount is not None:
        return threshold, amount
    if r.op == "-=" and amount is not None and amount == threshold:
        metadata["reset"] = "subtract"
        diags.warning(r.loc, f"{where}: NIR resets to v_reset; reset by subtraction is written as the node's "
                             "metadata reset = 'subtract' (snnlang import reads it; other tools reset to 0)")
        return threshold, 0.0
    diags.error(r.loc, f"{where}: NIR's reset sets v to a constant v_reset (or, as metadata, subtracts "
                       "the threshold)")
    return None


def _post_target(model, conn) -> Optional[str]:
    """The variable of the target neuron that a connection's on_pre adds to (``I`` of ``I_post``)."""
    syn = model.synapses.get(conn.synapse)
    if syn is None or len(syn.on_pre) != 1 or not syn.on_pre[0].target.endswith("_post"):
        return None
    return syn.on_pre[0].target[: -len("_post")]


def _weights(conn, model, net, sizes, input_name, diags) -> Optional[np.ndarray]:
    """The weight matrix (post x pre, NIR's layout) of a static connection."""
    syn = model.synapses[conn.synapse]
    where = f"connection '{conn.name}'"
    plastic = [*syn.on_post, *syn.odes, *syn.pre_odes, *syn.post_odes, *syn.pre, *syn.post]
    if plastic or len(syn.on_pre) != 1:
        loc = (syn.on_post[0].loc if syn.on_post else syn.on_pre[1].loc if len(syn.on_pre) > 1
               else getattr(plastic[0], "loc", conn.loc) if plastic else conn.loc)
        diags.error(loc, f"{where}: plasticity (traces, on_post, more than one on_pre statement) has no NIR form")
        return None
    stmt = syn.on_pre[0]
    if stmt.op != "+=" or stmt.target != f"{input_name}_post":
        diags.error(stmt.loc, f"{where}: NIR's synapse adds its weight to the neuron's input "
                              f"({input_name}_post += w)")
        return None
    if conn.source_range is not None or conn.target_range is not None:
        diags.error(conn.source_loc if conn.source_range is not None else conn.target_loc,
                    f"{where}: a slice of a population has no NIR form in snnlang's export yet")
        return None
    names = [s.name for s in stmt.value.value.free_symbols]
    state = [v.name for v in syn.state if v.name in names]
    values = {p.name: _value(p.value.value, {}) for p in syn.parameters}
    values.update({o.name: _value(o.value.value, {}) for o in conn.overrides if o.name in values})
    key = f"{conn.name}_{state[0]}" if len(state) == 1 else None
    scale = None
    if key is not None and key in net.state:
        import sympy

        w = next(s for s in stmt.value.value.free_symbols if s.name == state[0])
        scale = _value(sympy.simplify(stmt.value.value / w), {k: v for k, v in values.items() if v is not None})
    if scale is None:
        diags.error(stmt.value.loc, f"{where}: NIR's weight is one number a synapse times a constant (w * k)")
        return None
    pre, post = net.state[f"{conn.name}_pre"], net.state[f"{conn.name}_post"]
    matrix = np.zeros((sizes[conn.target], sizes[conn.source]))
    np.add.at(matrix, (post, pre), scale * np.asarray(net.state[key], dtype=float))
    return matrix


def _delay_steps(conn, dt: float, diags) -> Optional[int]:
    """A connection's delay in steps (1 without one); None, refused, where synapses differ."""
    if conn.delay is None:
        return 1
    seconds = _value(conn.delay.value, {"dt": dt})
    if seconds is None:
        diags.error(conn.delay.loc, f"connection '{conn.name}': a delay of its own for each synapse has no NIR "
                                    "form (a Delay node delays each neuron's input alike)")
        return None
    return max(1, int(round(seconds / dt)))


def _bias(net, population, input_name, size, model, network) -> Optional[np.ndarray]:
    """A constant outside value of the population's input (a trained bias), or None."""
    value = net.inputs.get(f"{population}.{input_name}")
    if value is None or callable(value):
        return None
    bias = np.broadcast_to(np.asarray(value, dtype=float), (size,)).copy()
    return bias if np.any(bias) else None


# ---- import --------------------------------------------------------------------------------

_NEURONS = ("LIF", "IF", "LI", "I", "CubaLIF", "CubaLI")
_WEIGHTS = ("Linear", "Affine", "Scale")
_RESERVED = {"input", "output", "population", "connect", "monitor", "network", "neuron", "synapse", "simulate",
             "train", "import", "using", "of", "every", "t", "dt", "i", "j", "N", "N_pre", "N_post", "pi"}


@dataclass
class _Pop:
    name: str
    nir_name: str
    kind: str
    size: int
    params: dict
    reset: str = "value"
    bias: Optional[np.ndarray] = None
    depth: int = 0


@dataclass
class Imported:
    """What :func:`import_graph` made: the spec's text, its arrays (for the .npz), notes."""

    text: str
    arrays: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)


def _flatten(nir, graph, prefix=""):
    """(nodes, edges) with nested graphs inlined: their Input and Output nodes become
    pass-through nodes named ``<graph>.<node>``."""
    nodes, edges = {}, []
    inner_in, inner_out = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(nir, node, full + ".")
            nodes.update(sub_nodes)
            edges += sub_edges
            inner_in[full] = [k for k, n in node.nodes.items() if isinstance(n, nir.Input)]
            inner_out[full] = [k for k, n in node.nodes.items() if isinstance(n, nir.Output)]
            for k in inner_in[full] + inner_out[full]:
                nodes[f"{full}.{k}"] = ("pass", sub_nodes[f"{full}.{k}"])
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        sources = [f"{a}.{k}" for k in inner_out.get(a, [])] or [a]
        targets = [f"{b}.{k}" for k in inner_in.get(b, [])] or [b]
        edges += [(s, t) for s in sources for t in targets]
    return nodes, edges


def _uniform(values: np.ndarray, what: str) -> float:
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0 or not np.all(values == values[0]):
        raise ValueError(f"{what} differs from neuron to neuron; snnlang import needs one value a population")
    return float(values[0])


def _name(text: str, taken: set) -> str:
    name = re.sub(r"\W", "_", text, flags=re.ASCII).strip("_") or "node"
    if name[0].isdigit():
        name = "n_" + name
    if keyword.iskeyword(name) or name in _RESERVED or name.startswith("__"):
        name += "_"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _number(x: float) -> str:
    return repr(float(x))


def _time(seconds: float) -> str:
    """A time in ms when that spelling is exact, else in s."""
    ms = repr(float(seconds) * 1e3)
    if "e" not in ms and float(Fraction(ms) / 1000) == float(seconds):
        return f"{ms[:-2] if ms.endswith('.0') else ms} ms"
    return f"{repr(float(seconds))} s"


def import_graph(path: str | Path, dt: float = 1e-3, name: Optional[str] = None,
                 npz_name: Optional[str] = None, steps: int = 100) -> Imported:
    """A NIR graph (a ``.nir`` file) as a spec: one population a neuron node (LIF, IF, LI, I,
    CubaLIF, CubaLI), one connection a path of weight nodes (Linear, Affine, Scale) between
    two of them, one input a graph Input (a ``poisson`` source of rate 0 Hz to drive from
    outside), a monitor a graph Output. The weights (and biases) are returned as arrays for
    ``npz_name`` (loaded by ``snnlang run --weights``). Raises ValueError for a node or a
    parameter that has no snnlang form, naming it."""
    nir = _nir()
    path = Path(path)
    try:
        graph = nir.read(str(path))
    except Exception as e:  # h5py and nir raise many kinds for a file that is not NIR
        raise ValueError(f"{path}: cannot read it as a NIR graph ({type(e).__name__}: {e})") from None
    nodes, edges = _flatten(nir, graph)
    notes: list[str] = []
    taken: set[str] = set()
    pops: dict[str, _Pop] = {}
    sources: dict[str, tuple[str, int]] = {}
    outputs: list[str] = []
    for key, node in nodes.items():
        kind = type(node).__name__ if not isinstance(node, tuple) else "pass"
        if isinstance(node, nir.Input):
            shape = np.asarray(node.input_type["input"]).ravel()
            sources[key] = (_name(key, taken), int(np.prod(shape)) if shape.size else 1)
        elif isinstance(node, nir.Output):
            outputs.append(key)
        elif kind in _NEURONS:
            pops[key] = _population(node, kind, key, _name(key, taken), dt)
        elif kind in _WEIGHTS or kind in ("pass", "Flatten", "Delay"):
            continue
        else:
            raise ValueError(f"{path}: node '{key}' is a NIR {kind}, which snnlang import does not map "
                             f"(it maps {', '.join(_NEURONS + _WEIGHTS)}, Delay, Input, Output)")
    following: dict[str, list[str]] = {}
    for a, b in edges:
        following.setdefault(a, []).append(b)

    # connections: from each source or population, through weight nodes, to populations
    conns: dict[tuple[str, str], np.ndarray] = {}
    delays: dict[tuple[str, str], float] = {}  # seconds of Delay nodes on the path of a connection
    monitored: list[str] = []
    for start in [*sources, *pops]:
        n_in = sources[start][1] if start in sources else pops[start].size
        stack = [(b, np.eye(n_in), np.zeros(n_in), 0, 0.0) for b in following.get(start, [])]
        while stack:
            key, M, b, hops, late = stack.pop()
            if hops > len(nodes):
                raise ValueError(f"{path}: a cycle of weight nodes through '{key}' (no neuron in it)")
            node = nodes[key]
            if key in pops:
                pop = pops[key]
                if M.shape[0] != pop.size:
                    raise ValueError(f"{path}: '{key}' has {pop.size} neurons but receives {M.shape[0]} values")
                if delays.setdefault((start, key), late) != late:
                    raise ValueError(f"{path}: paths of different delays lead from '{start}' to '{key}'; "
                                     "snnlang import gives a connection one delay")
                conns[(start, key)] = conns.get((start, key), 0) + M
                if np.any(b):
                    pop.bias = (pop.bias if pop.bias is not None else 0) + b
                continue
            if isinstance(node, nir.Output):
                if start in pops and start not in monitored:
                    monitored.append(start)
                continue
            if isinstance(node, (nir.Linear, nir.Affine)):
                W = np.asarray(node.weight, dtype=float)
                if W.ndim != 2:
                    raise ValueError(f"{path}: '{key}' has a weight of shape {W.shape}; snnlang import maps 2-D weights")
                M, b = W @ M, W @ b
                if isinstance(node, nir.Affine):
                    b = b + np.asarray(node.bias, dtype=float).ravel()
            elif isinstance(node, nir.Scale):
                s = np.asarray(node.scale, dtype=float).ravel()
                M, b = s[:, None] * M, s * b
            elif isinstance(node, nir.Delay):
                late += _uniform(node.delay, f"node '{key}' (Delay): delay")
            stack += [(c, M, b, hops + 1, late) for c in following.get(key, [])]
    if not pops:
        raise ValueError(f"{path}: the graph has no neuron node ({', '.join(_NEURONS)})")

    extra = {}
    for edge, seconds in delays.items():
        k = seconds / dt
        if seconds < 0 or abs(k - round(k)) > 1e-6 * max(1.0, k):
            raise ValueError(f"{path}: the delay from '{edge[0]}' to '{edge[1]}' is {seconds:g} s, not a whole "
                             f"number of steps of dt = {dt:g} s; import with a --dt that divides it")
        extra[edge] = int(round(k))
    back = _depths(pops, sources, conns, notes)
    return _write(path, pops, sources, conns, back, monitored, dt, steps, name, npz_name, notes, extra)


def _population(node, kind: str, key: str, name: str, dt: float) -> _Pop:
    what = f"node '{key}' ({kind})"
    u = lambda attr: _uniform(getattr(node, attr), f"{what}: {attr}")  # noqa: E731
    size = int(np.asarray(node.output_type["output"]).prod())
    meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (node.metadata or {}).items()}
    params: dict = {}
    if kind in ("LIF", "LI"):
        params = {"tau": u("tau"), "r": u("r"), "v_leak": u("v_leak")}
    elif kind in ("CubaLIF", "CubaLI"):
        params = {"tau_syn": u("tau_syn"), "tau_mem": u("tau_mem"), "r": u("r"), "v_leak": u("v_leak"),
                  "w_in": u("w_in")}
    elif kind in ("IF", "I"):
        params = {"r": u("r")}
    if kind in ("LIF", "IF", "CubaLIF"):
        params["v_threshold"] = u("v_threshold")
        params["v_reset"] = u("v_reset")
    for t in ("tau", "tau_syn", "tau_mem"):
        if t in params and not params[t] > 0:
            raise ValueError(f"{what}: {t} = {params[t]!r}; a time constant must be positive")
        if t in params and params[t] < dt:
            raise ValueError(f"{what}: {t} = {params[t]:g} s is shorter than dt = {dt:g} s: forward Euler at "
                             "this step is unstable; import with a smaller --dt")
    return _Pop(name, key, kind, size, params, reset="subtract" if meta.get("reset") == "subtract" else "value")


def _depths(pops, sources, conns, notes) -> set:
    """Each population's depth: the most edges on a path from the inputs (back edges of cycles
    aside), so that every connection can take depth[target] - depth[source] steps. Returns the
    back edges (a recurrent connection, which takes one step more)."""
    preds: dict[str, list[str]] = {}
    for a, b in conns:
        preds.setdefault(b, []).append(a)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()

    def visit(k):  # depth-first over predecessors: an edge to a node on the stack is a back edge
        state[k] = 1
        for p in preds.get(k, []):
            if p in sources:
                continue
            if state.get(p) == 1:
                back.add((p, k))
            elif p not in state:
                visit(p)
        state[k] = 2

    for k in pops:
        if k not in state:
            visit(k)
    order, seen = [], set()

    def topo(k):
        seen.add(k)
        for p in preds.get(k, []):
            if p in pops and p not in seen and (p, k) not in back:
                topo(p)
        order.append(k)

    for k in pops:
        if k not in seen:
            topo(k)
    for k in order:
        ds = [0 if p in sources else pops[p].depth for p in preds.get(k, []) if (p, k) not in back]
        pops[k].depth = 1 + max(ds, default=0)
    for a, b in back:
        if pops[b].depth - pops[a].depth + 1 < 1:
            notes.append(f"the recurrent edge '{a}' -> '{b}' takes one step here: later than in a zero-delay "
                         "simulator by " f"{pops[a].depth - pops[b].depth} steps")
    return back


def _delay(pops, sources, back, a, b) -> int:
    da = 0 if a in sources else pops[a].depth
    if (a, b) in back:
        return max(1, pops[b].depth - da + 1)
    return pops[b].depth - da


_NEURON_TEXT = {
    "LIF": ("NIR LIF: tau dv/dt = v_leak - v + r I, a spike when v > v_threshold, then v = v_reset",
            "parameters { tau = 10 ms; r = 1; v_leak = 0; v_threshold = 1; v_reset = 0{onset} }",
            "state {{ v = v_leak{bias} }}", "update {{ v = v + dt / tau * (v_leak - v + r * {I}) }}"),
    "LI": ("NIR LI: tau dv/dt = v_leak - v + r I (no spikes)",
           "parameters { tau = 10 ms; r = 1; v_leak = 0{onset} }", "state {{ v = v_leak{bias} }}",
           "update {{ v = v + dt / tau * (v_leak - v + r * {I}) }}"),
    "IF": ("NIR IF: v += r I each step, a spike when v > v_threshold, then v = v_reset",
           "parameters { r = 1; v_threshold = 1; v_reset = 0{onset} }", "state {{ v = 0{bias} }}",
           "update {{ v = v + r * {I} }}"),
    "I": ("NIR I: v += r I each step (no spikes)", "parameters { r = 1{onset} }", "state {{ v = 0{bias} }}",
          "update {{ v = v + r * {I} }}"),
    "CubaLIF": ("NIR CubaLIF: tau_syn dI_syn/dt = w_in I - I_syn, tau_mem dv/dt = v_leak - v + r I_syn, "
                "a spike when v > v_threshold, then v = v_reset",
                "parameters { tau_syn = 5 ms; tau_mem = 10 ms; r = 1; v_leak = 0; w_in = 1; v_threshold = 1; "
                "v_reset = 0{onset} }",
                "state {{ I_syn = 0; v = v_leak{bias} }}",
                "update {{ I_syn = I_syn + dt / tau_syn * (w_in * {I} - I_syn); "
                "v = v + dt / tau_mem * (v_leak - v + r * I_syn) }}"),
    "CubaLI": ("NIR CubaLI: tau_syn dI_syn/dt = w_in I - I_syn, tau_mem dv/dt = v_leak - v + r I_syn (no spikes)",
               "parameters { tau_syn = 5 ms; tau_mem = 10 ms; r = 1; v_leak = 0; w_in = 1{onset} }",
               "state {{ I_syn = 0; v = v_leak{bias} }}",
               "update {{ I_syn = I_syn + dt / tau_syn * (w_in * {I} - I_syn); "
               "v = v + dt / tau_mem * (v_leak - v + r * I_syn) }}"),
}


def _neuron_text(kind: str, reset: str, biased: bool) -> tuple[str, str]:
    """(model name, text of the neuron model) for a NIR neuron kind, its reset and a bias."""
    doc, params, state, update = _NEURON_TEXT[kind]
    model = "Nir" + kind + ("Sub" if reset == "subtract" else "") + ("Bias" if biased else "")
    inp = "(I + bias * (t >= onset))" if biased else "I"
    lines = [f"# {doc}" + ("; reset by subtraction (the node's metadata)" if reset == "subtract" else ""),
             "# (forward Euler at dt, as snnTorch and Norse step it)" if "tau" in params else "",
             f"neuron {model} {{",
             "    " + params.replace("{onset}", "; onset = 0 ms" if biased else ""),
             "    # bias: per neuron, from the .npz (an Affine's bias); onset: when the first input can arrive"
             if biased else "",
             "    " + state.format(bias="; bias = 0" if biased else ""),
             "    inputs { I = 0 }",
             "    " + update.format(I=inp)]
    if kind in ("LIF", "IF", "CubaLIF"):
        lines.append("    spike when v > v_threshold")
        lines.append("    reset { v -= v_threshold }" if reset == "subtract" else "    reset { v = v_reset }")
    lines.append("}")
    return model, "\n".join(line for line in lines if line) + "\n"


def _write(path, pops, sources, conns, back, monitored, dt, steps, name, npz_name, notes, extra) -> Imported:
    net_name = _name(name or path.stem, set())
    npz_name = npz_name or path.with_suffix(".npz").name
    models: dict[tuple, str] = {}
    blocks: list[str] = []

    arrays: dict[str, np.ndarray] = {}
    lines = []
    for key, (src, size) in sources.items():
        lines.append(f"    input {src} = poisson({size}, rate = 0 Hz)   # NIR Input '{key}': drive it with "
                     f"set_input(\"{src}.rate\", spikes / dt)")
    for key, pop in pops.items():
        biased = pop.bias is not None
        sig = (pop.kind, pop.reset, biased)
        if sig not in models:
            models[sig], text = _neuron_text(*sig)
            blocks.append(text)
        defaults = {"tau": 0.01, "r": 1.0, "v_leak": 0.0, "v_threshold": 1.0, "v_reset": 0.0, "tau_syn": 0.005,
                    "tau_mem": 0.01, "w_in": 1.0}
        items = [f"{k} = {_time(v) if k.startswith('tau') else _number(v)}" for k, v in pop.params.items()
                 if v != defaults.get(k)]
        if biased:
            items.append(f"onset = {_time((pop.depth - 0.5) * dt)}")
            arrays[f"{pop.name}_bias"] = np.asarray(pop.bias, dtype=float)
        override = f" {{ {'; '.join(items)} }}" if items else ""
        lines.append(f"    population {pop.name} = {models[sig]}({pop.size}){override}   # NIR {pop.kind} '{key}'")
    for (a, b), M in conns.items():
        src = sources[a][0] if a in sources else pops[a].name
        dst = pops[b].name
        delay = _delay(pops, sources, back, a, b) + extra.get((a, b), 0)
        items = ["w = 0"] + ([f"delay = {_time(delay * dt)}"] if delay > 1 else []) + ["on_pre: I_post += w"]
        lines.append(f"    connect {src} -> {dst} {{ {'; '.join(items)} }}")
        arrays[f"{src}_{dst}_w"] = np.ascontiguousarray(np.asarray(M, dtype=float).T).ravel()  # pre-major
    # every population is monitored (NIR's outputs first): spikes, or v where it has none
    for key in [*monitored, *(k for k in pops if k not in monitored)]:
        pop = pops[key]
        lines.append(f"    monitor spikes of {pop.name}" if pop.kind in ("LIF", "IF", "CubaLIF")
                     else f"    monitor v of {pop.name}")
    header = [f"# Imported by snnlang {__version__} from {path.name} (NIR) at dt = {_time(dt)}.",
              f"# The weights (and biases) are in {npz_name}: snnlang run THIS.snn --weights {npz_name}",
              "# (in Python: snnlang.load_weights(net, ...)); here every weight starts at 0.",
              "# NIR's edges take no time; each connection here takes one step (snnlang's shortest delay),",
              "# so a population d edges from the inputs spikes d steps later than in a zero-delay simulator."]
    header += [f"# Note: {n}" for n in notes]
    text = "\n".join(header) + "\n\n" + "\n".join(blocks) + f"\nnetwork {net_name} {{\n" + "\n".join(lines) + \
        f"\n}}\n\nsimulate {net_name} {{ dt = {_time(dt)}; steps = {steps} }}\n"
    return Imported(text, arrays, notes)


def write_import(path: str | Path, out: str | Path, dt: float = 1e-3, steps: int = 100) -> Imported:
    """:func:`import_graph`, written: ``out`` (the spec) and ``out`` with ``.npz`` (its arrays)."""
    out = Path(out)
    npz = out.with_suffix(".npz")
    if out.exists():  # replace only a spec this function wrote (and its .npz)
        try:
            ours = out.is_file() and out.read_text(encoding="utf-8").startswith("# Imported by snnlang")
        except (OSError, UnicodeDecodeError):
            ours = False
        if not ours:
            raise ValueError(f"-o {out}: it exists and snnlang import did not write it; choose another name")
    elif npz.exists():
        raise ValueError(f"-o {out}: {npz} exists and would be replaced; choose another name")
    from ..output import OutputError, write_npz, write_text

    result = import_graph(path, dt=dt, name=out.stem, npz_name=npz.name, steps=steps)
    try:  # each through a temporary name: a failed write keeps the earlier file
        write_npz(npz, result.arrays)
        write_text(out, result.text)
    except OutputError as e:
        raise ValueError(str(e)) from None
    return result
