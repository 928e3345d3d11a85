"""Evaluate released or trained models on test sets in the authors' npz format; print the paper's table.

    python test.py --preset configs/protocol1/evaluate.toml --data-dir data        # Tables 1, 2, 4
    python test.py --preset configs/protocol2/evaluate.toml --data-dir data        # Tables 3, 5
    python test.py --models capsule fusion runs/capsule/final.keras --test data/AFLW2000.npz
    python test.py --models fusion:runs/a/final.keras,runs/b/final.keras,runs/c/final.keras ...

A model is a released model's name (with ``--protocol``: which training set's checkpoints), one of
our ``.keras`` files, an authors' ``.h5`` or ``fusion:`` followed by comma-separated files.
``--json`` writes per-model MAE, MAE by yaw bin and per-sample predictions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fsanet.config import PROTOCOLS, ConfigError
from fsanet.data import DatasetError
from fsanet.evaluation import evaluate, format_table, load_preset, load_test_set
from fsanet.model_spec import ModelSpecError, resolve_model
from fsanet.io import atomic_write
from fsanet.weights import WeightFileError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", type=Path, help="an evaluate.toml in configs/ (models, test sets, paper figures)")
    parser.add_argument("--models", nargs="+", help="models to evaluate (overrides the preset's)")
    parser.add_argument("--test", nargs="+", help="test npz files (overrides the preset's)")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="folder of the preset's npz files")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), help="checkpoints of released models")
    parser.add_argument("--no-angle-filter", dest="angle_filter", action="store_false", default=None,
                        help="keep test samples with an angle beyond ±99° (default: the preset's, else filter)")
    parser.add_argument("--json", type=Path, help="write results and predictions here")
    args = parser.parse_args(argv)
    try:
        preset = load_preset(args.preset) if args.preset else {}
        models = args.models or preset.get("models")
        tests = ([Path(t) for t in args.test] if args.test else
                 [args.data_dir / t for t in preset.get("test", [])])
        if not models or not tests:
            parser.error("give --preset, or --models and --test")
        protocol = args.protocol or preset.get("protocol", "300W_LP")
        angle_filter = preset.get("angle_filter", True) if args.angle_filter is None else args.angle_filter
        test_sets = {Path(t).stem: load_test_set(t, angle_filter) for t in tests}
        loaded = {m: resolve_model(m, protocol) for m in models}
        results = evaluate(loaded, test_sets)
    except (ConfigError, DatasetError, ModelSpecError, WeightFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"protocol {protocol}: {PROTOCOLS[protocol].description}")
    print(format_table(results, test_sets, preset.get("published")))
    if args.json:
        report = {"protocol": protocol, "angle_filter": angle_filter,
                  "test_sets": {name: {"samples": len(poses), "labels": poses.tolist()}
                                for name, (_, poses) in test_sets.items()},
                  "models": results}
        with atomic_write(args.json) as f:
            f.write(json.dumps(report).encode())
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
