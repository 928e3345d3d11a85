"""Evaluation plots (``test --plot DIR``): error per |yaw| bin per model, and predicted against true
angles per model. PNGs drawn with matplotlib's Agg renderer (no display needed, no global pyplot
state) and written atomically.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np

from fsanet.core.outputs import atomic_write
from fsanet.core.pose import ANGLES, VALUE_RANGE
from fsanet.experiments.evaluation import YAW_BINS


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    with atomic_write(path) as f:
        f.write(buffer.getvalue())
    return Path(path)


def file_stem(label) -> str:
    """A model label as a file name: kept when already safe, else cleaned and tagged with a hash."""
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("._")[:60]
    if clean == label:
        return label
    return f"{clean}_{hashlib.sha1(label.encode()).hexdigest()[:8]}"


def plot_yaw_bins(results: dict, test_set: str, path):
    """Grouped bars: MAE (mean of the three angles) of each model in each |yaw| bin of one test set."""
    labels = [label for label, result in results.items() if test_set in result]
    bins = [f"{lo}-{hi}" for lo, hi in YAW_BINS]
    figure = _figure(2 + 1.2 * len(bins) + 0.3 * len(labels) * len(bins), 4.5)
    axes = figure.subplots()
    width = 0.8 / max(len(labels), 1)
    for i, label in enumerate(labels):
        yaw_bins = results[label][test_set]["yaw_bins"]
        heights = [np.nan if yaw_bins[b]["mae"] is None else yaw_bins[b]["mae"] for b in bins]
        bars = axes.bar(np.arange(len(bins)) + (i - (len(labels) - 1) / 2) * width, heights, width, label=label)
        axes.bar_label(bars, [f"n={yaw_bins[b]['count']}" for b in bins], fontsize=7)
    axes.set_xticks(range(len(bins)), [f"|yaw| {b}°" for b in bins])
    axes.set_ylabel("MAE (degrees)")
    axes.set_title(f"{test_set}: error by |yaw|")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return _save(figure, path)


def plot_scatter(predictions, labels, title, path):
    """Predicted against true yaw, pitch and roll (one panel each; missing predictions skipped)."""
    found = [i for i, p in enumerate(predictions) if p is not None]
    predicted = np.array([predictions[i] for i in found]).reshape(-1, 3)
    true = np.asarray(labels)[found].reshape(-1, 3)
    figure = _figure(13, 4.5)
    limit = max(VALUE_RANGE, float(np.abs(true).max(initial=0)), float(np.abs(predicted).max(initial=0)))
    for i, (axes, angle) in enumerate(zip(figure.subplots(1, 3), ANGLES)):
        axes.plot([-limit, limit], [-limit, limit], color="grey", linewidth=1)
        axes.scatter(true[:, i], predicted[:, i], s=4, alpha=0.5)
        axes.set_xlim(-limit, limit)
        axes.set_ylim(-limit, limit)
        axes.set_aspect("equal")
        axes.set_xlabel(f"true {angle} (degrees)")
        axes.set_ylabel(f"predicted {angle} (degrees)")
        mae = float(np.abs(predicted[:, i] - true[:, i]).mean()) if len(found) else float("nan")
        axes.set_title(f"{angle}: MAE {mae:.2f}")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def write_plots(results: dict, labels: dict, raw_labels=None, directory="plots") -> list:
    """Every plot for every test set; ``labels`` ({name: true poses}) are the npz sets' labels the
    networks were scored on, ``raw_labels`` those of the raw folders the baselines read (a set may
    have both under one name). Returns the paths written."""
    directory, raw_labels = Path(directory), raw_labels or {}
    paths = []
    for test_set in dict.fromkeys([*labels, *raw_labels]):
        paths.append(plot_yaw_bins(results, test_set, directory / f"{test_set}_mae_by_yaw.png"))
        for label, result in results.items():
            if test_set in result:
                r = result[test_set]
                truth = raw_labels[test_set] if "missed" in r else labels[test_set]
                paths.append(plot_scatter(r["predictions"], truth, f"{label} on {test_set}",
                                          directory / f"{test_set}_{file_stem(label)}_scatter.png"))
    return paths
