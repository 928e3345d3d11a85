"""Experiment configs: TOML files in ``configs/``, separate from code.

A config may name a ``base`` file (relative to itself) whose values it overrides, so each recipe is
written once (``configs/protocol1/recipe.toml``) and each model file only says which model it trains.
Data paths are relative to a data folder chosen at run time (``--data-dir``). Command-line flags
override values with dotted keys (``training.epochs``).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from fsanet.errors import FSANetError
from fsanet.protocols import PROTOCOLS
from fsanet.splits import SPLITS
from fsanet.variants import FUSIONS, get_variant



class ConfigError(FSANetError, ValueError):
    """A config that cannot be used; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    train: tuple = ()
    validation: tuple = ()  # files; when empty, ``validation_split`` of the training data
    validation_split: float = 0.2
    validation_split_by: str = "frame"  # or "identity" (fsanet.splits)
    test: tuple = ()
    angle_filter: bool = True  # keep only samples with every angle in [-99, 99]


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 90
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_decay_epochs: tuple = (30, 60)
    lr_decay_factor: float = 0.1
    augmentation: bool = True
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    model: str  # a variant alias / checkpoint name, or a fusion (its members are trained in turn)
    protocol: str = "300W_LP"  # the training set, as the authors name their checkpoint folders
    init: str | None = None  # "authors", an authors' .h5, or one of our .keras files
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()

    @property
    def members(self) -> tuple:
        """The variants this config trains: the fusion's members, or the model itself."""
        return FUSIONS.get(self.model, (self.model,))

    def for_member(self, member):
        return dataclasses.replace(self, model=member)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(path: Path, seen=()) -> dict:
    if path in seen:
        raise ConfigError(f"{path}: 'base' files form a cycle")
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    base = values.pop("base", None)
    if base is None:
        return values
    return _merge(_read((path.parent / base).resolve(), seen + (path,)), values)


def _section(cls, values, path, name):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} in [{name}]; known: {sorted(fields)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def from_dict(values: dict, path="<config>") -> ExperimentConfig:
    values = dict(values)
    data = _section(DataConfig, values.pop("data", {}), path, "data")
    training = _section(TrainingConfig, values.pop("training", {}), path, "training")
    config = _section(ExperimentConfig, dict(values, data=data, training=training), path, "top level")
    if config.protocol not in PROTOCOLS:
        raise ConfigError(f"{path}: protocol must be one of {sorted(PROTOCOLS)}, got {config.protocol!r}")
    try:
        for member in config.members:
            get_variant(member)
    except KeyError as e:
        raise ConfigError(f"{path}: {e.args[0]}") from None
    t = config.training
    if t.epochs < 1 or t.batch_size < 1 or t.learning_rate <= 0:
        raise ConfigError(f"{path}: epochs, batch_size and learning_rate must be positive")
    if not 0 <= config.data.validation_split < 1:
        raise ConfigError(f"{path}: validation_split must be in [0, 1)")
    if config.data.validation_split_by not in SPLITS:
        raise ConfigError(f"{path}: validation_split_by must be one of {list(SPLITS)}, "
                          f"got {config.data.validation_split_by!r}")
    return config


def load_config(path, overrides=None) -> ExperimentConfig:
    """Read a config (following ``base``), apply ``{"training.epochs": 5, ...}`` and check it."""
    path = Path(path).resolve()
    values = _read(path)
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, key = dotted.split(".")
        target = values
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = value
    return from_dict(values, path)
