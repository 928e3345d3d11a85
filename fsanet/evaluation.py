"""Evaluation as the paper reports it: per-angle MAE and their mean, per model and test set, plus
MAE by yaw bin; models named by registry name, ``.keras`` / ``.h5`` path, or a fusion of files.

Inputs are fed as the authors' test script feeds them: the 64x64 crops as stored, no normalisation.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from fsanet.config import ConfigError
from fsanet.data import load_pose_sets
from fsanet.inference import PosePredictor
from fsanet.model_spec import ModelSpecError
from fsanet.pose import ANGLES, mean_absolute_error

YAW_BINS = ((0, 30), (30, 60), (60, 99))
"""|yaw| bins (degrees, upper bound inclusive for the last) for the MAE-by-yaw breakdown."""


def size_mb(model) -> float:
    """Weights as float32, in MB (10^6 bytes): the size column of the paper's tables."""
    return model.count_params() * 4 / 1e6


def load_test_set(path, angle_filter=True):
    images, poses, _ = load_pose_sets([path], angle_filter, "test")
    return images, poses


def score(predictions, poses) -> dict:
    """Per-angle MAE, their mean, and MAE (mean of the three angles) by |yaw| bin."""
    errors = mean_absolute_error(predictions, poses)
    result = dict(zip(ANGLES + ("mae",), map(float, errors)))
    yaw = np.abs(poses[:, 0])
    bins = {}
    for lo, hi in YAW_BINS:
        inside = (yaw >= lo) & ((yaw < hi) if hi != YAW_BINS[-1][1] else (yaw <= hi))
        bins[f"{lo}-{hi}"] = {"count": int(inside.sum()),
                              "mae": float(np.abs(predictions[inside] - poses[inside]).mean())
                              if inside.any() else None}
    result["yaw_bins"] = bins
    return result


def evaluate(models: dict, test_sets: dict, batch_size=256) -> dict:
    """{model label: {"size_mb", test set name: score + "predictions"}} for every pair."""
    results = {}
    for label, model in models.items():
        predictor = PosePredictor(model)
        results[label] = {"size_mb": size_mb(model)}
        for name, (images, poses) in test_sets.items():
            predictions = np.concatenate([predictor.predict_prepared(images[i:i + batch_size].astype(np.float32))
                                          for i in range(0, len(images), batch_size)])
            if not np.isfinite(predictions).all():
                raise ModelSpecError(f"{label}: gives NaN or infinite angles on {name}; its weights are "
                                     "damaged or diverged, refusing to score it")
            results[label][name] = dict(score(predictions, poses), predictions=predictions.tolist())
    return results


def format_table(results: dict, test_sets, published=None) -> str:
    """The paper's layout: one block per test set; method, size (MB), yaw, pitch, roll, MAE."""
    published = published or {}
    lines = []
    for name in test_sets:
        paper = published.get(name, {})
        lines.append(f"\n{name}")
        header = f"{'method':<28}{'size (MB)':>10}{'yaw':>8}{'pitch':>8}{'roll':>8}{'MAE':>8}"
        lines.append(header + ("   paper MAE" if paper else ""))
        lines.append("-" * (len(header) + (12 if paper else 0)))
        for label, result in results.items():
            r = result[name]
            row = (f"{label:<28}{result['size_mb']:>10.2f}{r['yaw']:>8.2f}{r['pitch']:>8.2f}"
                   f"{r['roll']:>8.2f}{r['mae']:>8.2f}")
            if label in paper:
                row += f"{paper[label][-1]:>12.2f}"
            lines.append(row)
    return "\n".join(lines)


def load_preset(path) -> dict:
    """An evaluation preset (``configs/protocol*/evaluate.toml``): models, test sets, paper figures."""
    path = Path(path)
    try:
        preset = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: preset file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    missing = {"protocol", "models", "test"} - set(preset)
    if missing:
        raise ConfigError(f"{path}: missing key(s) {sorted(missing)}")
    return preset
