"""Synthetic factorisation benchmarks with known factors (the AltBi chapter, after Selicato's
poster).

Each benchmark returns ``X = W H`` exactly (no noise, as in Del Buono et al. 2023) with the
true factors, in the source's orientation, which is also ours: X (n, m), W (n, r), H (r, m).

* ``"A"``: W (1000 x 4) and H (4 x 50) with independent uniform [0, 1) entries.
* ``"B"``: n = 1000, m = 50, r = 4. Each column of W is a half-wave rectified sinusoid
  ``max(0, sin(2 pi f t + phi))`` sampled at ``t = i / n``, with distinct integer frequencies
  f in 1..12 and uniform phases. H is a sparse uniform matrix of density ``alpha_H = 0.1``
  (the fraction of non-zero entries, the ``density`` of MATLAB's ``sprand``, which we read the
  source's "sparseness level" as), redrawn until it has full rank r.
* ``"C"``: as B with r = 5.
* ``"D-synthetic"``: a stand-in for the source's Benchmark D (USGS reflectance spectra, not
  available offline): n = 224 spectral bands, m = 3025 pixels (a 55 x 55 image), r = 5
  endmembers. Each spectrum (a column of W) is a smooth curve: a baseline plus three Gaussian
  absorption/reflection bumps of random centre, width and height. Each abundance map (a row
  of H) is a sum of Gaussian blobs on the image; the maps are normalised to sum to one at
  every pixel (the linear mixing model's abundance constraint) and entries below 0.05 are set
  to zero before renormalising (pure pixels and sparse mixtures).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_choice

BENCHMARKS = ("A", "B", "C", "D-synthetic")


def _sparse_full_rank(rng, r, m, density):
    for _ in range(1000):
        H = rng.uniform(size=(r, m)) * (rng.uniform(size=(r, m)) < density)
        if np.linalg.matrix_rank(H) == r:
            return H
    raise RuntimeError("could not draw a full-rank sparse H; raise the density.")


def _sinusoids(rng, n, r):
    t = np.arange(n) / n
    freqs = rng.choice(np.arange(1, 13), size=r, replace=False)
    phases = rng.uniform(0, 2 * np.pi, size=r)
    return np.maximum(0.0, np.sin(2 * np.pi * freqs[None, :] * t[:, None] + phases[None, :]))


def _spectra(rng, n_bands, r):
    x = np.linspace(0, 1, n_bands)[:, None]
    W = 0.1 + 0.2 * rng.uniform(size=(1, r))
    for _ in range(3):
        c, w, h = rng.uniform(0, 1, r), rng.uniform(0.03, 0.15, r), rng.uniform(0.2, 1.0, r)
        W = W + h * np.exp(-0.5 * ((x - c) / w) ** 2)
    return W


def _abundances(rng, side, r, n_blobs=4, floor=0.05):
    yy, xx = np.mgrid[0:side, 0:side] / side
    maps = np.zeros((r, side * side))
    for k in range(r):
        field = np.zeros((side, side))
        for _ in range(n_blobs):
            cy, cx = rng.uniform(0, 1, 2)
            s = rng.uniform(0.05, 0.2)
            field += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        maps[k] = field.ravel() + 1e-3
    maps /= maps.sum(axis=0, keepdims=True)
    maps[maps < floor] = 0.0
    return maps / maps.sum(axis=0, keepdims=True)


def make_benchmark(name, random_state=None):
    """``(X, W, H)`` of one benchmark (see the module docstring); X = W H exactly.

    Parameters
    ----------
    name : {"A", "B", "C", "D-synthetic"}
    random_state : int, RandomState or None
    """
    name = check_choice(name, BENCHMARKS, name="benchmark")
    rng = check_random_state(random_state)
    if name == "A":
        W, H = rng.uniform(size=(1000, 4)), rng.uniform(size=(4, 50))
    elif name in ("B", "C"):
        r = 4 if name == "B" else 5
        W, H = _sinusoids(rng, 1000, r), _sparse_full_rank(rng, r, 50, 0.1)
    else:
        W, H = _spectra(rng, 224, 5), _abundances(rng, 55, 5)
    return W @ H, W, H
