"""What a training run needs before it starts, checked without TensorFlow: ``fsanet train`` answers a
wrong folder, a missing resume state or a missing dataset file before TensorFlow loads."""

from __future__ import annotations

from pathlib import Path

from fsanet.core.outputs import check_output
from fsanet.errors import DatasetError, TrainingError
from fsanet.experiments.config import ExperimentConfig
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
    files = [Path(data_dir) / f for f in config.data.train + config.data.validation]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"{missing[0]}: dataset file not found")
    if config.init not in (None, "authors") and not resume:
        check_spec(config.init)
    return run_dir
