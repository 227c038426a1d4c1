"""Input variables whose value depends on the neuron index or on time."""
import numpy as np

from helpers import build_package, write_spec

SPEC = """
import "lif.snn"
network ramp {
    population cells = LIF(6) { I_ext = 3 nA * i / N * (t >= 20 ms) }
    monitor spikes of cells
}
simulate ramp { dt = 0.1 ms; duration = 300 ms }
"""


def test_input_of_the_neuron_index_and_time(tmp_path):
    pkg = build_package(write_spec(SPEC, tmp_path), tmp_path / "out")
    net = pkg.Network()
    net.run()
    times, neurons = net.spikes("cells")
    counts = np.bincount(neurons, minlength=6)
    assert counts[0] == 0 and np.all(np.diff(counts[counts > 0]) >= 0) and counts[-1] > counts[-2] > 0
    assert times.min() >= 0.02  # no drive before 20 ms
