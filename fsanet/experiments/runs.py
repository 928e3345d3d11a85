"""What a training run needs before it starts, checked without TensorFlow: ``fsanet train`` answers a
wrong folder, a missing, damaged or changed resume state or a missing dataset file before TensorFlow
loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from fsanet.core.outputs import check_output
from fsanet.errors import DatasetError, TrainingError
from fsanet.experiments.config import AugmentConfig, ExperimentConfig, HeadOptions
from fsanet.hub.specs import check_spec


def check_run(config: ExperimentConfig, run_dir, data_dir="data", resume=False) -> Path:
    """The run folder, checked: one variant, a folder free for a new run (or holding one to resume),
    every training and validation file present, the model to start from (``init``) named rightly."""
    if config.model not in config.members or len(config.members) != 1:
        raise TrainingError(f"{config.model} is a fusion: train its members {config.members} one by one")
    run_dir = check_output(run_dir, folder=True)
    state_path = run_dir / "state.json"
    if state_path.exists() and not resume:
        raise TrainingError(f"{run_dir}: holds a run already; pass --resume to continue it "
                            "or choose another output folder")
    if resume and not state_path.exists():
        raise TrainingError(f"{run_dir}: nothing to resume (no state.json)")
    if resume:
        read_run_state(run_dir, config)
    files = [Path(data_dir) / f for f in config.data.train + config.data.validation]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: dataset file not found")
    if config.init not in (None, "authors") and not resume:
        check_spec(config.init)
    return run_dir


_STATE_KEYS = {"epochs_done": int, "history": list, "train_samples": int}


def read_run_state(run_dir: Path, config: ExperimentConfig) -> dict:
    """The interrupted run's state, after checking that its files are whole and its config is
    this one (only ``training.epochs`` may change)."""
    state_path, config_path = run_dir / "state.json", run_dir / "config.json"
    state = _read_json(state_path, "the run's progress")
    wrong = [k for k, kind in _STATE_KEYS.items() if not isinstance(state, dict) or not isinstance(state.get(k), kind)]
    if wrong:
        raise TrainingError(f"{state_path}: damaged (missing or wrong {wrong}); the run cannot be resumed")
    saved = _read_json(config_path, "the run's config, needed to check it is the same")
    try:
        same = _comparable(saved) == _comparable(config.to_dict())
    except (KeyError, TypeError, AttributeError):
        raise TrainingError(f"{config_path}: damaged (not a config written by fsanet train)") from None
    if not same:
        raise TrainingError(f"{run_dir}: the config differs from the interrupted run's "
                            "(only training.epochs may change on resume)")
    if config.training.epochs < state["epochs_done"]:
        raise TrainingError(f"--epochs {config.training.epochs}: {run_dir} has trained {state['epochs_done']} "
                            "epochs already; a resume may keep or extend the run, not shorten it")
    return state


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise TrainingError(f"{path}: missing ({what}); the run cannot be resumed")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrainingError(f"{path}: damaged, not valid JSON ({e}); the run cannot be resumed") from None


def _comparable(config_dict):
    """A config as JSON would round-trip it, without ``training.epochs`` (a resume may extend a run)."""
    config_dict = dict(config_dict)
    config_dict.setdefault("head", "ssr")  # runs started before heads, rotation and masks were options
    config_dict.setdefault("head_options", dataclasses.asdict(HeadOptions()))
    config_dict["augment"] = {**dataclasses.asdict(AugmentConfig()), **config_dict.get("augment", {})}
    config_dict = json.loads(json.dumps(config_dict))
    config_dict["training"].pop("epochs")
    return config_dict
