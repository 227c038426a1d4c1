"""Online learning from a stream of sensor events (the product brief's event-driven system).

specs/online_events.snn is a recurrent network of the brief's discrete LIF neurons whose
input, recurrent and output synapses learn with the brief's STDP rule. This program
builds it once, then plays the part of a sensor driver: it hands the generated Network
one event at a time (``feed_events``) and runs the simulator up to the next event
(``run``), so learning happens as the events arrive. The events are a bar sweeping over
16 sensors, again and again, with a few random events in between.

    python examples/online_learning.py                 # prints how the weights change
    python examples/online_learning.py --plot out.png  # and draws them before / after
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

from snnlang.build import build

SPEC = Path(__file__).resolve().parent.parent / "specs" / "online_events.snn"


def load_network(folder: Path):
    """Build the spec into ``folder/online`` and import the generated package."""
    build(SPEC, folder / "online")
    spec = importlib.util.spec_from_file_location("online", folder / "online" / "__init__.py",
                                                  submodule_search_locations=[str(folder / "online")])
    module = importlib.util.module_from_spec(spec)
    sys.modules["online"] = module
    spec.loader.exec_module(module)
    return module


def sensor_events(sweeps: int, seed: int = 0):
    """(sensor, time in s) of a bar sweeping over 16 sensors every 50 ms (2 ms per sensor), plus noise."""
    rng = np.random.default_rng(seed)
    events = []
    for k in range(sweeps):
        start = 0.010 + 0.050 * k
        events += [(s, start + 0.002 * s) for s in range(16)]
        events += [(int(rng.integers(16)), start + float(rng.uniform(0, 0.05))) for _ in range(2)]
    return sorted(events, key=lambda e: e[1])


def weights(net, connection: str) -> np.ndarray:
    """A connection's weights as a (pre, post) matrix."""
    s = net.state
    pre, post = s[f"{connection}_pre"], s[f"{connection}_post"]
    W = np.full((pre.max() + 1, post.max() + 1), np.nan)
    W[pre, post] = s[f"{connection}_w"]
    return W


def learn_online(folder: Path, sweeps: int, report=print):
    """Stream the events into a freshly built network, one at a time; the weights before and after."""
    package = load_network(folder)
    net = package.Network(seed=0)
    before = {c: weights(net, c) for c in ("sensors_hidden", "hidden_hidden", "hidden_out")}
    report(f"{'time':>8} {'events':>7} {'hidden spikes':>14} {'mean input w':>13} {'mean recurrent w':>17}")
    events = sensor_events(sweeps)
    for n, (sensor, t) in enumerate(events, 1):
        # one event from the driver: sensor s, polarity 1 (input neuron 16 + s), at time t
        net.feed_events("sensors", x=[sensor], y=[0], t=[t], polarity=[1])
        following = events[n][1] if n < len(events) else t + 0.020
        net.run(steps=max(0, int(round(following / net.dt)) - net.step))  # up to the next event
        if n % 144 == 0 or n == len(events):
            spikes = len(net.spikes("hidden")[0])
            report(f"{net.step * net.dt:7.3f}s {n:7d} {spikes:14d} {net.state['sensors_hidden_w'].mean():13.4f} "
                   f"{net.state['hidden_hidden_w'].mean():17.4f}")
    after = {c: weights(net, c) for c in before}
    return before, after, net


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", type=int, default=40)
    parser.add_argument("--plot", type=Path, help="save the input weights before and after as an image")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        before, after, _ = learn_online(Path(tmp), args.sweeps)

    print()
    for c in before:
        change = np.nan_to_num(after[c] - before[c])
        moved = (np.abs(change) > 1e-12).mean()
        print(f"{c:15s} |dW| = {np.linalg.norm(change):7.4f}, {moved:6.1%} of the synapses changed, "
              f"mean w {np.nanmean(before[c]):.4f} -> {np.nanmean(after[c]):.4f}")
    W0, W1 = before["sensors_hidden"], after["sensors_hidden"]
    active, silent = slice(16, 32), slice(0, 16)  # polarity-1 inputs fired, polarity-0 inputs never did
    print(f"input weights of the active sensors: {np.nanmean(W0[active]):.4f} -> {np.nanmean(W1[active]):.4f}; "
          f"of the silent ones: {np.nanmean(W0[silent]):.4f} -> {np.nanmean(W1[silent]):.4f} (unchanged)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
        for ax, W, title in zip(axes, (W0[16:].T, W1[16:].T), ("before", "after")):
            image = ax.imshow(W, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title(f"sensor -> hidden weights, {title}")
            ax.set_xlabel("sensor")
        axes[0].set_ylabel("hidden neuron")
        fig.colorbar(image, ax=axes)
        fig.savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
