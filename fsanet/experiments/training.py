"""Training with the authors' recipe (SPEC §6): data, schedule, checkpoints, exact resume.

A run folder holds ``config.json`` (the resolved config), ``validation_split.json`` (how the
validation set was chosen: files, or the split's kind, seed, sizes and, by identity, the validation
identities), ``last.keras`` (model and optimizer after the last finished epoch), ``previous.keras``
(the same one epoch earlier), ``best.keras`` (best validation MAE), ``history.csv``, ``state.json``
and, when done, ``final.keras`` (the last epoch's model: what the authors released). Each file is
written atomically; ``state.json`` goes last, so it only ever points at complete checkpoints.

Resuming loads ``last.keras`` (weights and optimizer state) and continues at the next epoch; when
``last.keras`` is damaged it falls back to ``previous.keras`` and says so. A checkpoint's epoch is
read from its optimizer's step count, so a file is never taken for another epoch's. The data order
and augmentation depend only on (seed, epoch, sample), and TensorFlow runs with op determinism, so
a resumed run ends with the weights of an uninterrupted one.

Training stops with a ``TrainingError`` as soon as the loss or a weight is NaN or infinite; nothing
of that epoch is saved, so ``best``, ``last`` and ``final`` only ever hold finite models.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from fsanet.core.outputs import atomic_path, atomic_write, write_json
from fsanet.data.augment import steps_per_epoch, training_dataset
from fsanet.data.npz import load_landmarks, load_pose_sets, load_sample_names
from fsanet.data.splits import frame_split, identity_split
from fsanet.errors import DatasetError, ModelSpecError, OutputError, TrainingError
from fsanet.experiments.config import ExperimentConfig
from fsanet.experiments.runs import check_run, read_run_state
from fsanet.hub.model_spec import load_keras_model, resolve_model
from fsanet.model.health import non_finite_weights
from fsanet.model.models import build_variant
from fsanet.model.variants import get_variant


def training_data(config: ExperimentConfig, data_dir):
    """(x_train, y_train, x_val, y_val, split record, training landmarks): validation files, or a
    seeded split of the training set by frame (the authors') or by identity (``fsanet.data.splits``);
    the landmarks (``fsanet.data.npz.load_landmarks``) when masks are asked for (``augment.occlude``),
    else None."""
    data = config.data
    paths = [Path(data_dir) / f for f in data.train]
    x, y, _ = load_pose_sets(paths, data.angle_filter, "training")
    landmarks = load_landmarks(paths, data.angle_filter) if config.augment.occlude else None
    if data.validation:
        x_val, y_val, _ = load_pose_sets([Path(data_dir) / f for f in data.validation],
                                         data.angle_filter, "validation")
        return x, y, x_val, y_val, {"by": "files", "files": list(data.validation)}, landmarks
    if data.validation_split <= 0:
        raise DatasetError("no validation files and validation_split is 0")
    record = {"by": data.validation_split_by, "fraction": data.validation_split, "seed": config.training.seed}
    if data.validation_split_by == "identity":
        train, val, identities = identity_split(load_sample_names(paths, data.angle_filter),
                                                data.validation_split, config.training.seed)
        record["validation_identities"] = identities
    else:
        train, val = frame_split(len(x), data.validation_split, config.training.seed)
    record.update(train_samples=len(train), validation_samples=len(val))
    return x[train], y[train], x[val], y[val], record, None if landmarks is None else landmarks[train]


def learning_rate(training, epoch):
    """The step schedule: lr x factor at each decay epoch reached (epochs count from 0)."""
    decays = sum(epoch >= e for e in training.lr_decay_epochs)
    return training.learning_rate * training.lr_decay_factor ** decays


def initial_model(config: ExperimentConfig):
    """A fresh (seeded) model, or the one ``config.init`` names to fine-tune from: ``authors`` (the
    released checkpoint of this variant and protocol) or any model spec (``fsanet.hub.model_spec``)."""
    from fsanet.hub.pretrained import load_pretrained
    init = config.init
    if init is None:
        keras.utils.set_random_seed(config.training.seed)
        return build_variant(config.model, **config.head_options.model_kwargs(config.head))
    if config.head != "ssr":
        raise TrainingError(f"init: the {config.head} head is trained from scratch; init applies to the ssr head only")
    if init == "authors":
        return load_pretrained(config.model, config.protocol)
    model = resolve_model(init, config.protocol)
    found, expected = getattr(model, "variant_name", None), get_variant(config.model).name
    if found != expected:
        raise TrainingError(f"{init}: holds {found or 'an unknown model'}, not {expected}")
    return model


def compile_model(model, config):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.training.learning_rate),
                  loss="mean_absolute_error", metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
    return model


class StopOnNonFinite(keras.callbacks.Callback):
    """Raise ``TrainingError`` when the loss (after any batch) or a weight (after an epoch) is NaN or
    infinite, before the epoch's checkpoints are written."""

    async_safe = True  # it only reads the logs: Keras may keep dispatching batches asynchronously

    def __init__(self, run_dir: Path, learning_rate: float):
        super().__init__()
        self.run_dir, self.learning_rate, self.epoch = run_dir, learning_rate, 0

    def _stop(self, epoch, what):
        kept = f"last.keras holds epoch {epoch}" if epoch else "no checkpoint yet"
        raise TrainingError(f"{self.run_dir}: training diverged in epoch {epoch + 1}: {what}. Nothing of "
                            f"this epoch was saved ({kept}); try a learning rate below {self.learning_rate:g}")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._stop(self.epoch, f"the loss became {float(loss)} at batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        bad = [k for k, v in (logs or {}).items() if not math.isfinite(float(v))]
        if bad:
            self._stop(epoch, f"{', '.join(bad)} became NaN or infinite")
        broken = non_finite_weights(self.model)
        if broken:
            self._stop(epoch, f"{len(broken)} weight tensors hold NaN or infinity (first {broken[0]})")


class RunCheckpoint(keras.callbacks.Callback):
    """After every epoch: last.keras (the one before kept as previous.keras), best.keras (by
    validation MAE), history.csv, then state.json."""

    def __init__(self, run_dir: Path, state: dict):
        super().__init__()
        self.run_dir, self.state = run_dir, state

    def on_epoch_end(self, epoch, logs=None):
        lr = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        row = {k: float(v) for k, v in dict(logs or {}, learning_rate=float(lr)).items()}
        row["epoch"] = epoch + 1  # epochs are counted from 1 everywhere: printed, history.csv, state.json
        self.state["history"].append(row)
        save_model(self.model, self.run_dir / "last.keras", keep_previous=self.run_dir / "previous.keras")
        val = row.get("val_mae")
        if val is not None and (self.state["best_val_mae"] is None or val < self.state["best_val_mae"]):
            self.state.update(best_val_mae=val, best_epoch=epoch + 1)
            save_model(self.model, self.run_dir / "best.keras")
        write_history(self.run_dir / "history.csv", self.state["history"])
        self.state["epochs_done"] = epoch + 1
        write_json(self.run_dir / "state.json", self.state)


def save_model(model, path: Path, keep_previous: Path | None = None):
    """``model.save`` written whole or not at all (``fsanet.core.outputs.atomic_path``). With
    ``keep_previous``, the file it replaces is moved there first."""
    try:
        with atomic_path(path, keep_previous) as tmp:
            model.save(tmp)
    except OSError as e:  # a full disk, a folder gone read-only (Keras' own writes)
        raise OutputError(f"{path}: cannot be written ({e.strerror or e})") from None


def write_history(path, history):
    keys = sorted({k for row in history for k in row} - {"epoch"})
    text = io.StringIO()
    writer = csv.DictWriter(text, ["epoch"] + keys)
    writer.writeheader()
    writer.writerows(history)
    with atomic_write(path) as f:
        f.write(text.getvalue().encode())


def train(config: ExperimentConfig, run_dir, data_dir="data", resume=False, strategy=None, verbose=1):
    """Train one variant into ``run_dir``; returns the final state dict. Everything that can be
    checked (run folder, resume files, data files, initial model) is checked before training data
    is loaded."""
    run_dir = check_run(config, run_dir, data_dir, resume)
    state_path = run_dir / "state.json"
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.training.seed)
    strategy = strategy or tf.distribute.get_strategy()
    t = config.training
    if resume:
        state = read_run_state(run_dir, config)
        with strategy.scope():
            model, first_epoch = resume_checkpoint(run_dir, state, t.batch_size)
        print(f"resuming {run_dir} at epoch {first_epoch + 1} of {t.epochs} ({first_epoch} done)")
    else:
        with strategy.scope():
            model = compile_model(initial_model(config), config)
        broken = non_finite_weights(model)
        if broken:
            raise TrainingError(f"{config.init}: the initial model holds NaN or infinity "
                                f"({len(broken)} weight tensors, first {broken[0]})")
    x, y, x_val, y_val, split, landmarks = training_data(config, data_dir)
    if resume and len(x) != state["train_samples"]:
        raise TrainingError(f"{run_dir}: the training data changed since the run started "
                            f"({state['train_samples']} samples then, {len(x)} now)")
    if not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / "config.json", config.to_dict())
        write_json(run_dir / "validation_split.json", split)
        state = {"model": get_variant(config.model).name, "epochs_done": 0, "best_val_mae": None,
                 "best_epoch": None, "history": [], "train_samples": len(x), "validation_samples": len(x_val)}
        first_epoch = 0
    if first_epoch < t.epochs:
        dataset = training_dataset(x, y, t.batch_size, t.seed, first_epoch, t.augmentation, epochs=t.epochs,
                                   rotate=config.augment.rotate,
                                   rotate_probability=config.augment.rotate_probability,
                                   occlude_probability=config.augment.occlude, landmarks=landmarks)
        validation = tf.data.Dataset.from_tensor_slices((x_val.astype(np.float32), y_val)).batch(128)
        schedule = keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate(t, epoch))
        model.fit(dataset, epochs=t.epochs, initial_epoch=first_epoch,
                  steps_per_epoch=steps_per_epoch(len(x), t.batch_size), validation_data=validation,
                  shuffle=False, callbacks=[schedule, StopOnNonFinite(run_dir, t.learning_rate),
                                            RunCheckpoint(run_dir, state)], verbose=verbose)
    save_model(model, run_dir / "final.keras")
    state["finished"] = True
    write_json(state_path, state)
    return state


def resume_checkpoint(run_dir: Path, state: dict, batch_size: int):
    """(model, epochs it has trained) from last.keras, else previous.keras (with a warning and the
    state rolled back to that epoch). A checkpoint's epoch is its optimizer steps / steps per epoch."""
    steps = steps_per_epoch(state["train_samples"], batch_size)
    done, problems = state["epochs_done"], []
    for name in ("last.keras", "previous.keras"):
        try:
            model = load_keras_model(run_dir / name)
        except ModelSpecError as e:
            problems.append(str(e))
            continue
        epochs = int(keras.ops.convert_to_numpy(model.optimizer.iterations)) // steps
        broken = non_finite_weights(model)
        if broken:
            problems.append(f"{run_dir / name}: holds NaN or infinity ({broken[0]})")
        elif not 1 <= epochs <= min(done, len(state["history"])):
            problems.append(f"{run_dir / name}: holds epoch {epochs}, state.json says {done} are done")
        else:
            if epochs < done:
                print(f"warning: {'; '.join(problems)}; resuming from {run_dir / name} (epoch {epochs}) "
                      f"instead, epochs {epochs + 1}-{done} will be trained again", file=sys.stderr)
                del state["history"][epochs:]
                state["epochs_done"] = epochs
            return model, epochs
    raise TrainingError(f"{run_dir}: no usable checkpoint to resume from: {'; '.join(problems)}")
