"""``data = tonic(...)``: neuromorphic data sets read from tonic's own files (written here, small;
nothing is downloaded), transformed, cached, located errors, and trained on.

Where tonic is installed, its readers and data set classes read the same files and must agree;
without it those comparisons are skipped and the rest runs on snnlang's own readers."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from snnlang.frontend import settings
from snnlang.training import datasets, synthetic
from snnlang.training.data import EventSet, bin_events

from helpers import SPECS, write_spec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("SNNLANG_CACHE", str(folder))
    return folder


@pytest.fixture
def no_tonic(monkeypatch):
    """tonic cannot be imported (as where it is not installed)."""
    for name in [m for m in sys.modules if m == "tonic" or m.startswith("tonic.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setitem(sys.modules, "tonic.datasets", None)


def args(name, root="data", **kw):
    return settings.form_arguments("data", "tonic", {"name": name, "root": str(root), **kw})


def random_samples(layout, count, seed=0, events=60, duration=0.2):
    """Samples of random events inside the layout's sensor (times in whole µs, sorted), and labels."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        n = int(rng.integers(1, events))
        t = np.sort(rng.integers(0, int(duration * 1e6), n)) / 1e6
        if layout.format == "gesture":
            t = np.sort(rng.integers(0, int(duration * 1e3), n)) / 1e3  # DVS Gesture keeps ms
        p = rng.integers(0, 2, n) if layout.polarities == 2 else np.ones(n, np.int64)
        samples.append((rng.integers(0, layout.width, n), rng.integers(0, layout.height, n), t, p))
    return samples, rng.integers(0, layout.classes, count)


# ---- the formats ------------------------------------------------------------------------------

def test_nmnist_bin_events_are_five_bytes_and_an_overflow_marker_shifts_later_times(tmp_path):
    path = tmp_path / "a.bin"
    # x=3, y=5, p=1, t=70000 = 0x011170; then an overflow marker (y = 240); then x=1, y=2, p=0, t=5
    path.write_bytes(bytes([3, 5, 0x80 | 0x01, 0x11, 0x70, 0, 240, 0, 0, 0, 1, 2, 0, 0, 5]))
    x, y, t, p = datasets.read_nmnist_bin(path)
    assert list(zip(x, y, t, p)) == [(3, 5, 70000, 1), (1, 2, 5 + 2**13, 0)]
    synthetic.write_nmnist_bin(tmp_path / "b.bin", [3, 1], [5, 2], [70000, 8197], [1, 0])
    assert (tmp_path / "b.bin").read_bytes() == bytes([3, 5, 0x81, 0x11, 0x70, 1, 2, 0, 0x20, 0x05])
    (tmp_path / "c.bin").write_bytes(b"\x00" * 7)
    with pytest.raises(datasets.DataError, match="7 bytes, not N-MNIST's events of 5 bytes"):
        datasets.read_nmnist_bin(tmp_path / "c.bin")


@pytest.mark.parametrize("name", list(datasets.LAYOUTS))
def test_each_data_set_reads_back_what_was_written_in_its_files(tmp_path, cache, no_tonic, name):
    layout = datasets.LAYOUTS[name]
    train, test = random_samples(layout, 12, 1), random_samples(layout, 5, 2)
    folder = synthetic.write(name, tmp_path / "data", train, test)
    assert folder == tmp_path / "data" / name
    X, y, X_test, y_test = datasets.load_tonic(args(name, align=False), tmp_path)
    assert (X.width, X.height, X.polarities) == (layout.width, layout.height, layout.polarities)
    for events, labels, (samples, expected) in ((X, y, train), (X_test, y_test, test)):
        # the order of tonic's walk: folders and files sorted by name (an h5 file: its order)
        names = {"nmnist": lambda k, lab: f"{lab}/{k:05d}", "poker": lambda k, lab: f"{datasets.POKER_CLASSES[lab]}/{k:04d}",
                 "hdf5": lambda k, lab: f"{k:05d}"}
        if layout.format == "gesture":
            users = {}
            keys = []
            for lab in expected:
                users[lab] = users.get(lab, 0) + 1
                keys.append(f"{users[lab]:02d}/{str(lab)}")
        else:
            keys = [names[layout.format](k, int(lab)) for k, lab in enumerate(expected)]
        order = sorted(range(len(keys)), key=lambda k: keys[k])
        np.testing.assert_array_equal(labels, np.asarray(expected)[order])
        for j, k in enumerate(order):
            x, yy, t, p = events.sample(j)
            ex, ey, et, ep = samples[k]
            np.testing.assert_array_equal(x, ex)
            np.testing.assert_array_equal(yy, ey)
            np.testing.assert_allclose(t, et, atol=1e-7)
            np.testing.assert_array_equal(p, ep)


def test_the_readers_agree_with_tonics(tmp_path, cache):
    """tonic's own readers and data set classes on the same files (skipped without tonic)."""
    pytest.importorskip("tonic")
    import tonic.datasets
    import tonic.io

    layout = datasets.LAYOUTS["NMNIST"]
    synthetic.write("NMNIST", tmp_path / "data", random_samples(layout, 6, 3), random_samples(layout, 2, 4))
    for path in sorted((tmp_path / "data" / "NMNIST").rglob("*.bin")):
        ev = tonic.io.read_mnist_file(str(path), dtype=tonic.datasets.NMNIST.dtype)
        for mine, field in zip(datasets.read_nmnist_bin(path), "xytp"):
            np.testing.assert_array_equal(mine, ev[field])
    # classes that check no more than the archive's name and a number of files read these folders
    for name, count in [("SHD", 7), ("SSC", 7), ("DVSGesture", 100), ("POKERDVS", 20)]:
        layout = datasets.LAYOUTS[name]
        synthetic.write(name, tmp_path / "data", random_samples(layout, count, 5), random_samples(layout, 3, 6),
                        archives=True)
        cls = getattr(tonic.datasets, name)
        ds = cls(save_to=str(tmp_path / "data"), **({"split": "train"} if name == "SSC" else {"train": True}))
        part = datasets.read_part(layout, tmp_path / "data", 0)
        assert len(ds) == len(part.labels) == count
        theirs = []
        for k in range(len(ds)):
            ev, label = ds[k]
            y = ev["y"] if "y" in ev.dtype.names else np.zeros(len(ev), np.int64)
            theirs.append((int(label), ev["x"].tolist(), y.tolist(), (ev["t"] * 1e-6).tolist(), ev["p"].astype(int).tolist()))
        mine = [(int(label), x.tolist(), y.tolist(), t.tolist(), p.tolist())
                for label, (x, y, t, p) in zip(part.labels, part.events)]
        if layout.format != "hdf5":  # tonic lists these folders in the file system's order, snnlang sorted by name
            theirs, mine = sorted(theirs, key=repr), sorted(mine, key=repr)
        for a, b in zip(theirs, mine):
            assert a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[4] == b[4]
            np.testing.assert_allclose(a[3], b[3], atol=1e-6)  # tonic's µs are whole


# ---- transforms ---------------------------------------------------------------------------------

def denoise_reference(x, y, t, ptr, width, height, filter_time):
    """The rule, one event at a time: keep it if a neighbour pixel's latest earlier event is < filter_time before."""
    keep = np.zeros(len(x), bool)
    for s in range(len(ptr) - 1):
        last = {}
        for k in range(ptr[s], ptr[s + 1]):
            for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                n = (x[k] + dx, y[k] + dy)
                if 0 <= n[0] < width and 0 <= n[1] < height and n in last and t[k] - last[n] < filter_time:
                    keep[k] = True
            last[(x[k], y[k])] = t[k]
    return keep


def test_denoise_keeps_events_with_a_recent_neighbour():
    rng = np.random.default_rng(0)
    sizes = [0, 300, 1, 250, 400]
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    n = ptr[-1]
    x, y = rng.integers(0, 7, n), rng.integers(0, 5, n)
    t = np.concatenate([np.sort(rng.random(s) * 0.2) for s in sizes])
    expected = denoise_reference(x, y, t, ptr, 7, 5, 0.01)
    assert 0.1 < expected.mean() < 0.9  # both kinds occur
    np.testing.assert_array_equal(datasets.denoise(x, y, t, ptr, 7, 5, 0.01), expected)
    np.testing.assert_array_equal(datasets.denoise(x, y, t, ptr, 7, 5, 0.01, chunk=64), expected)  # chunked the same
    # a neighbour in another sample does not count, the same pixel does not count
    one = datasets.denoise(np.array([3, 4, 3, 3]), np.zeros(4, int), np.array([0.0, 0.001, 0.0, 0.001]),
                           np.array([0, 1, 2, 4]), 8, 1, 0.01)
    assert list(one) == [False, False, False, False]


def test_denoise_agrees_with_tonics_after_its_first_filter_time():
    """tonic's Denoise also keeps every event of the first filter time; after it, the same events."""
    pytest.importorskip("tonic")
    from tonic.functional import denoise_numpy

    rng = np.random.default_rng(1)
    n = 2000
    ev = np.zeros(n, dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 12, n), rng.integers(0, 9, n), rng.integers(0, 2, n)
    ev["t"] = np.sort(rng.integers(10_000, 300_000, n))
    mine = datasets.denoise(ev["x"], ev["y"], ev["t"] * 1e-6, np.array([0, n]), 12, 9, 0.01)
    expected = denoise_numpy(ev, filter_time=10_000)
    assert 0 < len(expected) < n
    np.testing.assert_array_equal(ev[mine], expected)


def test_downsample_align_and_denoise_transform_the_samples(tmp_path, cache, no_tonic):
    layout = datasets.LAYOUTS["POKERDVS"]
    samples, labels = random_samples(layout, 8, 7, events=200)
    samples = [(x, y, t + 0.05 * k, p) for k, (x, y, t, p) in enumerate(samples)]  # later starts
    synthetic.write("POKERDVS", tmp_path / "data", (samples, labels), random_samples(layout, 2, 8))
    raw = datasets.load_tonic(args("POKERDVS", align=False), tmp_path)[0]
    aligned = datasets.load_tonic(args("POKERDVS"), tmp_path)[0]
    small = datasets.load_tonic(args("POKERDVS", downsample=4), tmp_path)[0]
    clean = datasets.load_tonic(args("POKERDVS", denoise=0.002, align=False), tmp_path)[0]
    assert (small.width, small.height) == (9, 9)  # ceil(35 / 4)
    np.testing.assert_array_equal(small.x, aligned.x // 4)
    np.testing.assert_array_equal(small.y, aligned.y // 4)
    for k in range(len(raw)):
        t = raw.sample(k)[2]
        np.testing.assert_allclose(aligned.sample(k)[2], t - t.min())
        assert aligned.sample(k)[2].min() == 0
    keep = datasets.denoise(raw.x, raw.y, raw.t, raw.ptr, 35, 35, 0.002)
    np.testing.assert_array_equal(clean.x, raw.x[keep])
    np.testing.assert_array_equal(np.diff(clean.ptr), [keep[a:b].sum() for a, b in zip(raw.ptr[:-1], raw.ptr[1:])])


def test_limit_draws_that_many_samples_of_each_part_by_seed(tmp_path, cache, no_tonic):
    layout = datasets.LAYOUTS["SHD"]
    synthetic.write("SHD", tmp_path / "data", random_samples(layout, 30, 1), random_samples(layout, 10, 2))
    full = datasets.load_tonic(args("SHD"), tmp_path)
    a = datasets.load_tonic(args("SHD", limit=6, seed=3), tmp_path)
    b = datasets.load_tonic(args("SHD", limit=6, seed=4), tmp_path)
    assert len(a[0]) == len(a[1]) == 6 and len(a[2]) == 6
    index = datasets.choose(30, 6, 3, 0)
    np.testing.assert_array_equal(a[1], full[1][index])
    np.testing.assert_array_equal(a[0].x, full[0][index].x)
    assert not np.array_equal(datasets.choose(30, 6, 4, 0), index) and len(b[0]) == 6


def test_channels_feed_an_input_of_one_neuron_per_channel_or_an_events_input_as_polarity_one():
    # SHD-like: 2 samples on 5 channels; channel 3 at 0 ms and 12 ms, channel 0 at 6 ms
    events = EventSet(np.array([3, 0, 3, 4]), np.zeros(4, int), np.array([0.0, 0.006, 0.012, 0.001]),
                      np.ones(4, int), np.array([0, 3, 4]), 5, 1, polarities=1)
    spikes = bin_events(events, 3, 0.03)  # steps of 10 ms: round(t / 10 ms)
    assert spikes.shape == (3, 2, 5)
    assert [tuple(int(v) for v in s) for s in np.argwhere(spikes)] == [(0, 0, 3), (0, 1, 4), (1, 0, 0), (1, 0, 3)]
    both = bin_events(events, 3, 0.03, n_in=10)  # an events(width = 5, height = 1) input: polarity 1 is 5 + c
    np.testing.assert_array_equal(both[:, :, 5:], spikes)
    assert not both[:, :, :5].any()
    with pytest.raises(ValueError, match="the events are 5 channels: an input of 10 neurons .* or 5"):
        bin_events(events, 3, 0.03, n_in=7)


# ---- the cache ---------------------------------------------------------------------------------

def test_a_second_read_takes_the_cache_beside_the_data_and_touches_neither_files_nor_tonic(
        tmp_path, cache, monkeypatch):
    layout = datasets.LAYOUTS["NMNIST"]
    synthetic.write("NMNIST", tmp_path / "data", random_samples(layout, 6, 1), random_samples(layout, 3, 2))
    first = datasets.load_tonic(args("NMNIST", denoise=0.005), tmp_path)
    cached = list((tmp_path / "data" / "snnlang-cache").glob("NMNIST-*.npz"))
    assert len(cached) == 1 and not (cache / "data").exists()
    for path in (tmp_path / "data" / "NMNIST").rglob("*.bin"):
        path.unlink()

    def refuse(*a, **k):
        raise AssertionError("the files were read again")

    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setattr(datasets, "read_part", refuse)
    again = datasets.load_tonic(args("NMNIST", denoise=0.005), tmp_path)
    for a, b in zip(first, again):
        if isinstance(a, EventSet):
            for k in ("x", "y", "t", "p", "ptr", "width", "height", "polarities"):
                np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        else:
            np.testing.assert_array_equal(a, b)
    with pytest.raises(AssertionError, match="read again"):  # other settings: another cache, read from the files
        datasets.load_tonic(args("NMNIST", denoise=0.006), tmp_path)


def test_the_cache_goes_to_snnlangs_cache_folder_where_the_data_folder_cannot_take_it(tmp_path, cache, no_tonic):
    layout = datasets.LAYOUTS["SHD"]
    synthetic.write("SHD", tmp_path / "data", random_samples(layout, 4, 1), random_samples(layout, 2, 2))
    (tmp_path / "data" / "snnlang-cache").write_text("a file where the folder would be")
    datasets.load_tonic(args("SHD"), tmp_path)
    assert len(list((cache / "data").glob("tonic-SHD-*.npz"))) == 1


# ---- tonic downloads what is not there ------------------------------------------------------------

def fake_tonic(monkeypatch, cls):
    module = types.ModuleType("tonic")
    module.datasets = types.ModuleType("tonic.datasets")
    setattr(module.datasets, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "tonic", module)
    monkeypatch.setitem(sys.modules, "tonic.datasets", module.datasets)


def test_without_the_files_tonic_downloads_them_and_they_are_read(tmp_path, cache, monkeypatch):
    layout = datasets.LAYOUTS["SHD"]
    parts = [random_samples(layout, 5, 1), random_samples(layout, 3, 2)]
    calls = []

    class SHD:  # as tonic's: the constructor downloads and extracts into save_to/SHD
        def __init__(self, save_to, train=True):
            calls.append((save_to, train))
            synthetic.write("SHD", save_to, *parts)

    fake_tonic(monkeypatch, SHD)
    X, y, X_test, y_test = datasets.load_tonic(args("SHD"), tmp_path)
    assert calls[0] == (str(tmp_path / "data"), True) and len(y) == 5 and len(y_test) == 3
    np.testing.assert_array_equal(X.x[:len(parts[0][0][0][0])], parts[0][0][0][0])


def test_samples_tonic_keeps_elsewhere_are_taken_from_its_data_set(tmp_path, cache, monkeypatch):
    dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])

    class NMNIST:  # files somewhere else: only the data set object has them
        def __init__(self, save_to, train=True):
            self.n = 4 if train else 2

        def __len__(self):
            return self.n

        def __getitem__(self, k):
            ev = np.zeros(3, dtype)
            ev["x"], ev["y"], ev["t"], ev["p"] = [k, 1, 2], [0, 33, 5], [100 + k, 2000, 5000], [1, 0, 1]
            return ev, k

    fake_tonic(monkeypatch, NMNIST)
    X, y, X_test, y_test = datasets.load_tonic(args("NMNIST"), tmp_path)
    assert list(y) == [0, 1, 2, 3] and list(y_test) == [0, 1]
    x, yy, t, p = X.sample(2)
    assert list(x) == [2, 1, 2] and list(yy) == [0, 33, 5] and list(p) == [1, 0, 1]
    np.testing.assert_allclose(t, np.array([0, 2000 - 102, 5000 - 102]) * 1e-6)  # from the first event, in seconds


def test_a_failed_download_and_a_missing_tonic_say_what_to_do(tmp_path, cache, monkeypatch):
    class DVSGesture:
        def __init__(self, save_to, train=True):
            raise OSError("no route to host")

    fake_tonic(monkeypatch, DVSGesture)
    with pytest.raises(datasets.DataError, match="tonic could not get DVSGesture into .*: OSError: no route to host"):
        datasets.load_tonic(args("DVSGesture"), tmp_path)
    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setitem(sys.modules, "tonic.datasets", None)
    with pytest.raises(datasets.DataError) as e:
        datasets.load_tonic(args("DVSGesture"), tmp_path)
    assert "no DVSGesture files in" in str(e.value) and "pip install 'snnlang[tonic]'" in str(e.value)
    assert e.value.argument == "root"


# ---- the spec: located errors -------------------------------------------------------------------

STEP = (ROOT / "tests" / "test_settings.py").read_text().split('STEP = """')[1].split('"""')[0]


def train_block(body: str, method: str = "bptt") -> str:
    """As tests/test_settings.py: the train block's settings start on line 22."""
    return STEP + "simulate mlp { dt = 1 ms; steps = 6; seed = 0 }\n\ntrain t {\n" \
        f"    network = mlp\n    method = {method}\n{body}\n}}\n"


@pytest.mark.parametrize("body, expected", [
    ('    data = tonic(name = "NMIST", root = "d")\n    encode = events(steps = 6)',
     """spec.snn:22:25: unknown tonic data set 'NMIST'; choose "NMNIST", "DVSGesture", "POKERDVS", "SHD" or "SSC" """
     "(did you mean 'NMNIST'?)"),
    ('    data = tonic(name = NMNIST, root = "d")\n    encode = events(steps = 6)',
     'spec.snn:22:25: name of tonic() must be a string in quotes, such as "NMNIST"'),
    ('    data = tonic(name = "SHD")\n    encode = events(steps = 6)', "spec.snn:22:12: tonic() needs root = ..."),
    ('    data = tonic(name = "SHD", root = "d", downsample = 0)\n    encode = events(steps = 6)',
     "spec.snn:22:57: downsample of tonic() must be a whole number from 1 to 2147483647"),
    ('    data = tonic(name = "SHD", root = "d", denoise = 5)\n    encode = events(steps = 6)',
     "spec.snn:22:54: dimension mismatch: denoise of tonic() is in s but the value is in 1 (dimensionless)"),
    ('    data = tonic(name = "SHD", root = "d", filter = 5 ms)\n    encode = events(steps = 6)',
     "spec.snn:22:53: tonic() has no parameter 'filter'; it takes name, root, downsample, denoise, align, limit, seed"),
    ('    data = tonic(name = "SHD", root = "d")\n    encode = poisson(steps = 6)',
     "spec.snn:23:14: tonic(...) data are event streams: use encode = events(steps = ..., duration = ...), "
     "not poisson(...)"),
    ('    data = tonic(name = "SHD", root = "d")', "spec.snn:22:12: tonic(...) data are event streams: use "
                                                    "encode = events(steps = ..., duration = ...)"),
])
def test_bad_tonic_settings_are_located(specs, body, expected):
    assert specs.analyse(train_block(body)).errors == [expected]


def test_stdp_refuses_tonic_data(specs):
    errors = specs.analyse(train_block('    data = tonic(name = "SHD", root = "d")\n    readout = out', "stdp")).errors
    assert "spec.snn:22:12: tonic(...) data are event streams; method = stdp trains on images" in errors[0]


def test_data_that_cannot_be_had_is_an_error_at_root_and_nothing_is_downloaded(tmp_path, cache, no_tonic, capsys):
    from snnlang.cli import main

    for name in ("nmnist_bptt.snn", "shd_bptt.snn"):
        spec = tmp_path / name
        spec.write_text((SPECS / name).read_text())
        assert main(["check", str(spec)]) == 0  # check reads no data: CI's `snnlang check specs/*.snn`
        code = main(["train", str(spec), "-o", str(tmp_path / "run")])
        err = capsys.readouterr().err
        line = next(k for k, text in enumerate(spec.read_text().splitlines(), 1) if "tonic(" in text)
        column = spec.read_text().splitlines()[line - 1].index('"data"') + 1
        assert code != 0 and f"{name}:{line}:{column}: error: no " in err and "pip install 'snnlang[tonic]'" in err, err


def test_the_settings_and_the_reader_name_the_same_data_sets():
    assert settings.TONIC_DATASETS == tuple(datasets.LAYOUTS)


# ---- training on them ---------------------------------------------------------------------------

def small_spec(folder: Path, name: str, replacements) -> Path:
    text = (SPECS / name).read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return write_spec(text, folder, name[:-4])


def test_an_nmnist_like_set_trains_and_the_simulator_fed_its_events_agrees(tmp_path, cache, no_tonic):
    from snnlang.run import built_package, load_weights
    from snnlang.training import train
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    synthetic.write("NMNIST", tmp_path / "data", synthetic.nmnist_like(120, 0, 0), synthetic.nmnist_like(60, 0, 1))
    spec = small_spec(tmp_path, "nmnist_bptt.snn", [("BetaLIF(128)", "BetaLIF(32)"), ("epochs    = 10", "epochs    = 6"),
                                                     ("batch     = 64", "batch     = 16")])
    metrics = train(spec, tmp_path / "run")
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    trainer.net.load_arrays(tmp_path / "run" / "weights.npz")
    x = trainer.encode(trainer.X_test[:4], None)
    z = trainer.net.forward(x)["Z"]
    module, _ = built_package(spec)
    events = trainer.X_test.events
    for b in range(4):
        net = module.Network()
        load_weights(net, tmp_path / "run" / "weights.npz")
        ex, ey, et, ep = events.sample(b)
        net.feed_events("cam", x=ex, y=ey, t=et, polarity=ep)  # the cached events, binned by the simulator
        net.run(steps=30)
        np.testing.assert_array_equal(np.bincount(net.spikes("out")[1], minlength=10), z["out"][:, b].sum(0))
    assert z["out"][:, :4].sum() > 0


def test_an_shd_like_set_trains_on_700_channels_and_the_simulator_fed_them_as_rates_agrees(tmp_path, cache, no_tonic):
    from snnlang.run import built_package, load_weights
    from snnlang.training import train
    from snnlang.training.bptt import Trainer
    from snnlang.training.package import load_block

    synthetic.write("SHD", tmp_path / "data", synthetic.shd_like(160, 0, 0, classes=4),
                    synthetic.shd_like(60, 0, 1, classes=4))
    spec = small_spec(tmp_path, "shd_bptt.snn", [("BetaLIF(128)", "BetaLIF(24)"), ("BetaLIF(20)", "BetaLIF(4)"),
                                                 ("steps = 100, duration = 1 s", "steps = 40, duration = 800 ms"),
                                                 ("steps = 100;", "steps = 40;"),
                                                 ("dt = 10 ms", "dt = 20 ms"),
                                                 ("epochs    = 10", "epochs    = 6"), ("batch     = 64", "batch     = 16")])
    metrics = train(spec, tmp_path / "run")
    assert metrics["test_accuracy"] > 0.5  # four classes: chance is 0.25
    model, block = load_block(spec)
    trainer = Trainer(spec, model, block)
    trainer.net.load_arrays(tmp_path / "run" / "weights.npz")
    x = trainer.encode(trainer.X_test[:4], None)
    assert x.shape == (40, 4, 700)
    z = trainer.net.forward(x)["Z"]
    module, _ = built_package(spec)
    for b in range(4):
        net = module.Network()
        load_weights(net, tmp_path / "run" / "weights.npz")
        net.set_input("mic.rate", x[:, b] * (2.0 / net.dt))  # a spike every step where the table says
        net.run(steps=40)
        np.testing.assert_array_equal(np.bincount(net.spikes("out")[1], minlength=4), z["out"][:, b].sum(0))
    assert z["out"][:, :4].sum() > 0


def test_events_outside_the_sensor_and_labels_beyond_the_classes_are_refused(tmp_path, cache, no_tonic):
    layout = datasets.LAYOUTS["POKERDVS"]
    (x, y, t, p), = random_samples(layout, 1, 1)[0]
    x = x.copy()
    x[0] = 35  # POKER-DVS is 35 x 35
    synthetic.write("POKERDVS", tmp_path / "data", ([(x, y, t, p)], [1]), random_samples(layout, 1, 2))
    with pytest.raises(datasets.DataError, match=r"he0000.npy: an event at \(35, .*\) is outside POKERDVS's 35 x 35 pixels"):
        datasets.load_tonic(args("POKERDVS"), tmp_path)
    synthetic.write("SHD", tmp_path / "data", ([random_samples(datasets.LAYOUTS["SHD"], 1, 3)[0][0]], [20]),
                    random_samples(datasets.LAYOUTS["SHD"], 1, 4))
    with pytest.raises(datasets.DataError, match=r"shd_train.h5\[0\]: label 20, but SHD has 20 classes"):
        datasets.load_tonic(args("SHD"), tmp_path)
