"""A small event-camera (DVS) emulator: digits moving across the field of view become event streams.

No event data set can be downloaded here, so the classifier of the product brief
trains on emulated ones. The emulator follows the DVS pixel model (Lichtsteiner
et al. 2008; the idea of v2e and ESIM without their noise models):

* the scene is a dark background with one of scikit-learn's 8x8 digits on it,
  moving at constant speed from left to right across a ``width`` x ``height``
  field of view during ``duration`` seconds, rendered every ``duration / frames``
  with bilinear interpolation (so it moves by fractions of a pixel);
* each pixel holds the log intensity L = log(I + eps) at its last event; when
  the current log intensity differs from it by the contrast ``threshold`` C or
  more, the pixel emits floor(|dL| / C) events of polarity sign(dL) (1 brighter,
  0 darker), timestamped by linear interpolation within the frame interval,
  and its reference moves by as many steps of C;
* optionally, ``noise`` background events per pixel and second, at uniform
  random times with random polarity (shot noise).

Each sample draws a vertical offset (``jitter`` pixels around the centre) and a
horizontal start offset (``jitter`` pixels) from its own random generator, so
the data set is a fixed function of its seed.
"""
from __future__ import annotations

import numpy as np

from ..frontend.settings import form_arguments
from .data import EventSet, split

#: the emulator's settings: the arguments of ``data = dvs_digits(...)`` but the split's
CAMERA = ("width", "height", "duration", "frames", "threshold", "jitter", "noise", "travel")


def render(image: np.ndarray, width: int, height: int, x0, y0: float, background: float = 0.05) -> np.ndarray:
    """Frames (len(x0), height, width): ``image`` (h, w) placed at the sub-pixel offsets (x0[k], y0)."""
    h, w = image.shape
    x0 = np.atleast_1d(np.asarray(x0, dtype=float))[:, None, None]
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    u, v = xs[None] - x0, np.broadcast_to(ys[None] - y0, (len(x0), height, width))
    iu, iv = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - iu, v - iv
    padded = np.zeros((h + 2, w + 2))
    padded[1:-1, 1:-1] = image

    def pixel(a, b):  # image value at integer (a, b), zero outside
        return padded[np.clip(b + 1, 0, h + 1), np.clip(a + 1, 0, w + 1)]

    value = ((1 - fu) * (1 - fv) * pixel(iu, iv) + fu * (1 - fv) * pixel(iu + 1, iv)
             + (1 - fu) * fv * pixel(iu, iv + 1) + fu * fv * pixel(iu + 1, iv + 1))
    return np.maximum(background, value)


def events_of(frames: np.ndarray, times: np.ndarray, threshold: float = 0.25, eps: float = 0.05,
              noise: float = 0.0, rng: np.random.Generator | None = None):
    """DVS events (x, y, t, p) of a frame sequence (frames, height, width) at ``times``."""
    log = np.log(frames + eps)
    ref = log[0].copy()
    xs, ys, ts, ps = [], [], [], []
    for k in range(1, len(frames)):
        diff = log[k] - ref
        count = np.floor(np.abs(diff) / threshold).astype(np.int64)
        yy, xx = np.nonzero(count)
        if len(yy):
            n = count[yy, xx]
            d = diff[yy, xx]
            prev = log[k - 1, yy, xx] - ref[yy, xx]
            # the crossings of ref + j C (j = 1..n) on the straight line between the two frames
            first = np.repeat(np.cumsum(n) - n, n)
            j = np.arange(n.sum()) - first + 1
            sign = np.repeat(np.sign(d), n)
            dd, pp = np.repeat(d, n), np.repeat(prev, n)
            level = j * threshold * sign
            span = np.where(dd != pp, dd - pp, 1.0)
            frac = np.clip(np.where(dd != pp, (level - pp) / span, 1.0), 0, 1)
            ts.append(times[k - 1] + frac * (times[k] - times[k - 1]))
            xs.append(np.repeat(xx, n))
            ys.append(np.repeat(yy, n))
            ps.append((sign > 0).astype(np.int64))
        ref += np.sign(diff) * count * threshold
    H, W = frames.shape[1:]
    if noise > 0 and rng is not None:
        duration = times[-1] - times[0]
        n = rng.poisson(noise * duration * H * W)
        xs.append(rng.integers(0, W, n))
        ys.append(rng.integers(0, H, n))
        ts.append(times[0] + rng.random(n) * duration)
        ps.append(rng.integers(0, 2, n))
    if not xs:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) + (np.zeros(0, np.int64),)
    x, y, t, p = (np.concatenate(a) for a in (xs, ys, ts, ps))
    order = np.argsort(t, kind="stable")
    return x[order].astype(np.int64), y[order].astype(np.int64), t[order], p[order].astype(np.int64)


def digit_events(image: np.ndarray, rng: np.random.Generator, **settings):
    """Events of one 8x8 digit (values in [0, 1]) moving left to right across the field of view.

    ``settings``: those of :data:`CAMERA`; the others at the defaults of ``dvs_digits(...)``."""
    a = form_arguments("data", "dvs_digits", settings)
    width, height, duration, frames = a["width"], a["height"], a["duration"], a["frames"]
    threshold, jitter, noise, travel = a["threshold"], a["jitter"], a["noise"], a["travel"]
    h, w = image.shape
    travel = float(width - w) if travel is None else travel
    start = (width - w - travel) / 2 + rng.uniform(-jitter, jitter)
    y0 = (height - h) / 2 + rng.uniform(-jitter, jitter)
    times = np.linspace(0.0, duration, frames + 1)
    scenes = render(image, width, height, start + travel * np.arange(frames + 1) / frames, y0)
    return events_of(scenes, times, threshold=threshold, noise=noise, rng=rng)


def dvs_digits(**settings):
    """scikit-learn's digits through the emulated camera: (events_train, y_train, events_test, y_test).

    ``settings``: the arguments of ``data = dvs_digits(...)``, the others at their defaults
    (snnlang.frontend.settings). The split is the digits' own (stratified, ``test_fraction``,
    ``seed``); ``limit`` keeps only the first samples of each part (for quick tests).
    """
    a = form_arguments("data", "dvs_digits", settings)
    test_fraction, seed, limit = a["test_fraction"], a["seed"], a["limit"]
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images / 16.0
    index = np.arange(len(images))
    train, y_train, test, y_test = split(index, d.target, float(test_fraction), int(seed))
    if limit is not None:
        train, y_train = train[:int(limit)], y_train[:int(limit)]
        test, y_test = test[:int(limit)], y_test[:int(limit)]
    settings = {k: a[k] for k in CAMERA}
    return (make_set(images, train, int(seed), settings), y_train, make_set(images, test, int(seed), settings), y_test)


def make_set(images: np.ndarray, index: np.ndarray, seed: int, settings: dict) -> EventSet:
    """The events of the digits ``index``; sample k draws from the generator (seed, index[k])."""
    streams = [digit_events(images[k], np.random.default_rng([seed, int(k), 7]), **settings) for k in index]
    sizes = np.array([len(s[0]) for s in streams], dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def cat(j, dtype):
        return np.concatenate([s[j] for s in streams]).astype(dtype) if streams else np.zeros(0, dtype)

    return EventSet(cat(0, np.int64), cat(1, np.int64), cat(2, float), cat(3, np.int64), ptr,
                    settings["width"], settings["height"])
