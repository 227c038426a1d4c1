"""snnlang.plot: figures people read (units, a colour and legend per population, population
rates, subsampling of large populations, labelled traces), and runs without matplotlib."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from snnlang.cli import main

from helpers import write_spec

matplotlib = pytest.importorskip("matplotlib")

from snnlang import plot  # noqa: E402


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SNNLANG_CACHE", str(tmp_path / "cache"))
    return tmp_path


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_raster_axes_units_colours_and_integer_ticks():
    rng = np.random.default_rng(0)
    spikes = {"exc": (np.sort(rng.uniform(0, 0.5, 300)), rng.integers(0, 40, 300)),
              "inh": (np.sort(rng.uniform(0, 0.5, 100)), rng.integers(0, 10, 100))}
    fig = plot.raster(spikes, sizes={"exc": 40, "inh": 10}, duration=0.5, dt=1e-3)
    exc, inh, rates = fig.axes
    assert exc.get_xlabel() == "" and rates.get_xlabel() == "time (ms)"
    assert exc.get_ylabel() == inh.get_ylabel() == "neuron index"
    assert rates.get_ylabel().startswith("rate (Hz)")
    assert exc.get_title(loc="left") == "exc: 40 neurons" and inh.get_title(loc="left") == "inh: 10 neurons"
    assert exc.lines[0].get_color() != inh.lines[0].get_color()  # a colour per population
    assert [t.get_text() for t in rates.get_legend().get_texts()] == ["exc", "inh"]
    assert rates.lines[0].get_color() == exc.lines[0].get_color()
    assert np.allclose(exc.lines[0].get_xdata(), spikes["exc"][0] * 1e3)  # time in ms
    assert rates.get_xlim() == pytest.approx((0, 500))
    ticks = inh.get_yticks()
    assert np.allclose(ticks, np.round(ticks))  # whole neuron indices


def test_rate_panel_against_a_hand_count():
    # 4 neurons over 100 ms at dt = 1 ms, bins of 10 ms
    t = np.array([0, 1, 5, 9, 10, 15, 42, 42, 99]) * 1e-3
    i = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0])
    fig = plot.raster({"pop_t": t, "pop_i": i}, sizes={"pop": 4}, duration=0.1, dt=1e-3, bin=0.01)
    line = fig.axes[-1].lines[0]
    hand = np.zeros(10)
    hand[0], hand[1], hand[4], hand[9] = 4, 2, 2, 1  # spikes per bin, counted above
    assert np.allclose(line.get_ydata(), hand / (4 * 0.01))
    assert np.allclose(line.get_xdata(), np.arange(5, 100, 10))  # bin centres, ms
    starts, hz = plot.population_rate(t, 4, 0.1, 0.01, dt=1e-3)
    assert np.allclose(hz, hand / 0.04) and np.allclose(starts, np.arange(10) * 0.01)
    # without dt: the same bins by time; a last bin that is shorter counts by its own width
    starts, hz = plot.population_rate(t, 4, 0.095, 0.01)
    assert len(hz) == 10 and hz[-1] == 0 and np.isclose(hz[0], 4 / 0.04)


def test_default_bin_is_a_round_number_of_steps():
    assert plot.default_bin(1.0, 1e-4) == pytest.approx(0.01)
    assert plot.default_bin(0.1, 1e-4) == pytest.approx(0.001)
    assert plot.default_bin(0.25, 1e-4) == pytest.approx(0.005)
    assert plot.default_bin(0.01, 1e-3) == pytest.approx(1e-3)  # never below one step


def test_a_large_population_is_subsampled_and_says_so():
    n = 10_000
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 1, 200_000)
    i = rng.integers(0, n, t.size)
    fig = plot.raster({"big": (t, i)}, sizes={"big": n}, duration=1.0, dt=1e-4)
    ax = fig.axes[0]
    shown = np.unique(ax.lines[0].get_ydata())
    assert 900 <= shown.size <= plot.MAX_NEURONS
    assert shown.min() >= 0 and shown.max() <= n - 1 and shown.max() > 9900  # spread over the whole range
    assert ax.get_title(loc="left") == f"big: {plot.MAX_NEURONS} of {n} neurons shown"
    # the rate panel counts every neuron: 200000 spikes of 10000 neurons in 1 s is 20 Hz
    assert np.mean(fig.axes[-1].lines[0].get_ydata()) == pytest.approx(20, rel=0.01)
    chosen = plot.subsample(np.arange(n), 250)
    assert chosen.size == 250 and chosen[0] == 0 and chosen[-1] == n - 1
    assert plot.subsample([3, 1, 2], 10).tolist() == [1, 2, 3]


def test_traces_in_units_with_neuron_labels():
    t = np.arange(100) * 1e-4
    state = {"cells_v": np.stack([-0.065 + 0.01 * np.sin(t * k) for k in range(3)], axis=1), "cells_t": t,
             "cells_v_neurons": np.array([4, 7, 9]),
             "cells_I_syn": np.full((100, 1), 2e-10), "cells_I_syn_neurons": np.array([4])}
    fig = plot.traces(state, units={"cells_v": "V", "cells_I_syn": "A"})
    v, current = fig.axes
    assert v.get_ylabel() == "v (mV)" and current.get_ylabel() == "I_syn (pA)"
    assert current.get_xlabel() == "time (ms)"
    assert np.allclose(v.lines[0].get_xdata(), t * 1e3)
    assert np.allclose(v.lines[0].get_ydata(), state["cells_v"][:, 0] * 1e3)  # in mV
    assert [x.get_text() for x in v.get_legend().get_texts()] == ["cells[4]", "cells[7]", "cells[9]"]
    assert current.get_title(loc="left") == "cells[4]"
    assert current.lines[0].get_ydata()[0] == pytest.approx(200.0)
    few = plot.traces(state, units={"cells_v": "V"}, max_lines=2, variables=["cells_v"])
    assert len(few.axes) == 1 and len(few.axes[0].lines) == 2
    assert few.axes[0].get_title(loc="left") == "cells: v, 2 of 3 neurons shown"


def test_display_units():
    assert plot.display_unit("V", [-0.065, -0.05]) == (pytest.approx(1e3), "mV")
    assert plot.display_unit("A", [1e-9, 3e-9]) == (pytest.approx(1e9), "nA")
    assert plot.display_unit("V/s", [1.0]) == (1.0, "V/s")
    assert plot.display_unit("1", [0.5]) == (1.0, "")
    assert plot.display_unit("S", [0.0]) == (1.0, "S")


SPEC = """
    import "lif.snn"
    network cells {
        population cells = LIF(20) { I_ext = 1.6 nA + 0.1 nA * i }
        monitor spikes of cells
        monitor v of cells[0:3]
    }
    simulate cells { dt = 0.1 ms; duration = 100 ms }
"""


def test_run_folder_plots_and_helpers(work, capsys):
    spec = write_spec(SPEC, work, "cells")
    code, _, err = cli(capsys, "run", spec, "-o", "run")
    assert code == 0 and "note" not in err, err
    summary = json.loads(Path("run/summary.json").read_text())
    assert summary["plots"] == "raster.png, traces.png"
    assert summary["units"] == {"cells_v": "V"}
    assert summary["spike_neurons"] == {"cells": {"start": 0, "stop": 20, "step": 1}}
    for name in ("raster.png", "traces.png"):
        assert Path("run", name).stat().st_size > 0
    fig = plot.raster("run")
    assert fig._suptitle.get_text() == "cells: spikes" and fig.axes[0].get_title(loc="left") == "cells: 20 neurons"
    with np.load("run/spikes.npz") as data:
        expected = np.histogram(data["cells_t"], np.arange(0, 0.1 + 1e-9, 0.001))[0] / (20 * 0.001)
    assert np.allclose(fig.axes[-1].lines[0].get_ydata(), expected)  # 1 ms bins for 100 ms
    assert plot.traces("run").axes[0].get_ylabel() == "v (mV)"
    assert plot.rates("run").axes[0].get_ylabel().startswith("rate (Hz)")


def test_no_plots_and_no_matplotlib(work, capsys, monkeypatch):
    spec = write_spec(SPEC, work, "cells")
    code, _, err = cli(capsys, "run", spec, "-o", "a", "--no-plots")
    assert code == 0 and err == ""
    assert not Path("a/raster.png").exists() and json.loads(Path("a/summary.json").read_text())["plots"].startswith("off")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    code, out, err = cli(capsys, "run", spec, "-o", "b")
    assert code == 0
    assert err.strip() == "snnlang run: note: plots skipped: matplotlib is not installed: pip install 'snnlang[plots]'"
    assert Path("b/plots-skipped.txt").exists() and Path("b/spikes.npz").exists()
    with pytest.raises(ImportError, match="snnlang\\[plots\\]"):
        plot.raster("b")
