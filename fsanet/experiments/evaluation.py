"""Evaluation as the paper reports it: per-angle MAE and their mean, per model and test set, plus
MAE by yaw bin and the rotation-aware errors of ``fsanet.experiments.metrics``; the paper-layout table.

Inputs are fed as the authors' test script feeds them: the 64x64 crops as stored, no normalisation.
"""

from __future__ import annotations

import numpy as np

from fsanet.core.progress import progress_bar
from fsanet.data.npz import load_pose_sets
from fsanet.errors import NonFiniteModelError
from fsanet.experiments.metrics import pose_errors
from fsanet.model.health import non_finite_weights

YAW_BINS = ((0, 30), (30, 60), (60, 99))
"""|yaw| bins (degrees, upper bound inclusive for the last) for the MAE-by-yaw breakdown."""

TABLE_METRICS = {"geodesic": "geodesic", "maev": "MAEV"}
"""Optional table columns (JSON always has them): result key -> column title."""


def size_mb(model) -> float:
    """Weights as float32, in MB (10^6 bytes): the size column of the paper's tables; for an
    exported file (``fsanet.deploy.backends.ExportedModel``), its size on disk."""
    if hasattr(model, "count_params"):
        return model.count_params() * 4 / 1e6
    return model.size_bytes / 1e6


def load_test_set(path, angle_filter=True):
    images, poses, _ = load_pose_sets([path], angle_filter, "test")
    return images, poses


def yaw_bin_masks(poses):
    """{"lo-hi": mask of samples whose |yaw| lies in the bin} for the bins of ``YAW_BINS``."""
    yaw = np.abs(np.asarray(poses)[:, 0])
    return {f"{lo}-{hi}": (yaw >= lo) & ((yaw < hi) if hi != YAW_BINS[-1][1] else (yaw <= hi))
            for lo, hi in YAW_BINS}


def score(predictions, poses) -> dict:
    """Per-angle MAE, their mean, geodesic and vector errors, and MAE (mean of the three angles)
    by |yaw| bin."""
    predictions, poses = np.asarray(predictions), np.asarray(poses)
    bins = {name: {"count": int(inside.sum()),
                   "mae": float(np.abs(predictions[inside] - poses[inside]).mean()) if inside.any() else None}
            for name, inside in yaw_bin_masks(poses).items()}
    return dict(pose_errors(predictions, poses), yaw_bins=bins)


def evaluate(models: dict, test_sets: dict, batch_size=256, backend=None, progress=False, flip_average=False) -> dict:
    """{model label: {"size_mb", "backend", test set name: score + "predictions"}} for every pair, each Keras
    model run by ``PosePredictor`` on ``backend`` (default: the fastest that matches Keras), each
    exported file (``fsanet.deploy.backends.ExportedModel``) under its own runtime. ``progress``: a bar
    over the batches (``fsanet.core.progress``; None: when stderr is a terminal). ``flip_average``:
    ``PosePredictor``'s option (not the paper's protocol)."""
    from fsanet.deploy.predictor import PosePredictor
    from fsanet.deploy.runners import ExportedModel
    results = {}
    for label, model in models.items():
        broken = [] if isinstance(model, ExportedModel) else non_finite_weights(model)
        if broken:
            raise NonFiniteModelError(f"{label}: {len(broken)} weight tensors hold NaN or infinity (first "
                                 f"{broken[0]}); its weights are damaged or diverged, refusing to score it")
        predictor = PosePredictor(model, backend=None if isinstance(model, ExportedModel) else backend,
                                  flip_average=flip_average)
        results[label] = {"size_mb": size_mb(model), "backend": predictor.backend}
        for name, (images, poses) in test_sets.items():
            batches = progress_bar(range(0, len(images), batch_size), progress, desc=f"{label} on {name}",
                                   unit="batch", leave=False)
            predictions = np.concatenate([predictor.predict_prepared(images[i:i + batch_size].astype(np.float32))
                                          for i in batches])
            if not np.isfinite(predictions).all():
                raise NonFiniteModelError(f"{label}: gives NaN or infinite angles on {name}; its weights are "
                                     "damaged or diverged, refusing to score it")
            results[label][name] = dict(score(predictions, poses), predictions=predictions.tolist())
    return results


def _cells(values, width=8):
    return "".join(f"{v:>{width}.2f}" if v is not None else f"{'':>{width}}" for v in values)


def format_table(results: dict, test_sets, published=None, metrics=(), not_run=None) -> str:
    """The paper's layout: one block per test set; method, size (MB), yaw, pitch, roll, MAE, the
    ``metrics`` asked for (keys of ``TABLE_METRICS``), and the published figures where known.

    ``not_run`` ({label: why}) lists methods to show with the paper's figures only.
    """
    published, not_run = published or {}, not_run or {}
    width = max([28, *(len(label) + 2 for label in [*results, *not_run])])  # a long path keeps its row
    lines = []
    for name in test_sets:
        paper = published.get(name, {})
        header = (f"{'method':<{width}}{'size (MB)':>10}{'yaw':>8}{'pitch':>8}{'roll':>8}{'MAE':>8}"
                  + "".join(f"{TABLE_METRICS[m]:>10}" for m in metrics))
        if paper:
            header += f"   |{'paper:':>8}{'yaw':>7}{'pitch':>8}{'roll':>8}{'MAE':>8}"
        lines += [f"\n{name}", header, "-" * len(header)]
        notes = []
        for label, result in results.items():
            if name not in result:
                continue
            r = result[name]
            row = (f"{label:<{width}}{result['size_mb']:>10.2f}"
                   + _cells([r["yaw"], r["pitch"], r["roll"], r["mae"]])
                   + _cells([r[m] for m in metrics], 10))
            lines.append(row + _paper_cells(paper.get(label)) if paper else row)
            if "faces_not_found" in r:
                notes.append(f"{label}: no face found in {r['faces_not_found']} of "
                             f"{r['faces_not_found'] + r['scored']} images (scored on the {r['scored']} found)")
        for label, why in not_run.items():
            if label in paper:
                lines.append(f"{label:<{width}}{'not run':>10}{'':>{32 + 10 * len(metrics)}}"
                             + _paper_cells(paper[label]))
                notes.append(f"{label}: not run ({why})")
        lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def _paper_cells(figures):
    """Published [yaw, pitch, roll, MAE] or [MAE] as table cells (blank when not published)."""
    if figures is None:
        return ""
    figures = list(figures)
    figures = [None] * (4 - len(figures)) + figures
    return f"   |{'':>8}" + _cells(figures[:1], 7) + _cells(figures[1:])
