"""Validation splits of a training set that has no validation files.

- ``frame`` (the authors', the faithful default): a seeded 20% of the samples, drawn over frames.
  On 300W-LP this puts other synthesized views of the same face, and its mirrored ``_Flip`` copy,
  on both sides, so the validation MAE is optimistic and best-epoch picking is biased.
- ``identity``: a seeded 20% of the identities, each with all its samples on one side. 300W-LP names
  a sample ``<source image>_<view>`` (``AFW_134212_1_0``: AFW image 134212, face 1, view 0;
  ``LFPW_image_train_0737_13``: view 13), and a ``_Flip`` folder reuses the names of its twin, so the
  identity is the name without its trailing view number: every view of a 300W face and their flips.
  Needs the sample names (the ``name`` key that preparation writes into the npz).
"""

from __future__ import annotations

import re

import numpy as np

from fsanet.errors import DatasetError

SPLITS = ("frame", "identity")

_VIEW = re.compile(r"_\d+$")


def identity(name: str) -> str:
    """The identity of a 300W-LP sample name: the name without its trailing ``_<view>``."""
    return _VIEW.sub("", name)


def frame_split(count, fraction, seed):
    """(train indices, validation indices): a seeded permutation cut at 1 - fraction."""
    order = np.random.default_rng(seed).permutation(count)
    n_train = int(count * (1 - fraction))
    if n_train < 1 or n_train == count:
        raise DatasetError(f"{count} training samples cannot be split {fraction:g} for validation")
    return order[:n_train], order[n_train:]


def identity_split(names, fraction, seed):
    """(train indices, validation indices, validation identities): a seeded ``fraction`` of the
    identities (rounded, at least one each side) goes to validation with all of its samples."""
    identities = np.array([identity(str(n)) for n in names])
    unique = np.unique(identities)
    n_val = int(round(len(unique) * fraction))
    if not 0 < n_val < len(unique):
        raise DatasetError(f"{len(unique)} identities cannot be split {fraction:g} for validation")
    chosen = np.sort(unique[np.random.default_rng(seed).permutation(len(unique))[:n_val]])
    in_val = np.isin(identities, chosen)
    return np.flatnonzero(~in_val), np.flatnonzero(in_val), chosen.tolist()
