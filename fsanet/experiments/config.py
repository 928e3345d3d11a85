"""Experiment configs: TOML files in ``configs/``, separate from code, read and checked in one place:
training configs (``ExperimentConfig``) and evaluation presets (``EvaluationPreset``), both typed,
unknown keys refused, each value checked against its kind and range, the file and key named.

A config may name a ``base`` file (relative to itself) whose values it overrides, so each recipe is
written once (``configs/protocol1/recipe.toml``) and each model file only says which model it trains.
Data paths are relative to a data folder chosen at run time (``--data-dir``). Command-line flags
override values with dotted keys (``training.epochs``).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

from fsanet.core.protocols import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol
from fsanet.data.splits import SPLITS
from fsanet.errors import ConfigError, UnknownProtocolError
from fsanet.model.variants import BEL_CODES, FUSIONS, HEADS, get_variant


MAX_EPOCHS, MAX_BATCH_SIZE, MAX_RATE = 100_000, 65_536, 10.0
"""Upper bounds of the training numbers: far above any real run (the paper: 90 epochs, batch 16,
rate 1e-3), low enough that a typo (10^30 epochs) is named here rather than failing inside tf.data."""
MAX_BASE_DEPTH = 32
"""How many ``base`` files a config may chain (a recipe uses one or two)."""


def _value(kind, default=dataclasses.MISSING, test=None, requirement="", default_factory=dataclasses.MISSING):
    """A config field of ``kind`` (a key of ``_KINDS``) whose value must also pass ``test``
    (``requirement`` says how, in words); without a default the key is required."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"kind": kind, "test": test, "requirement": requirement})


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


_KINDS = {  # kind: (check, what it is called in a message)
    "int": (_is_int, "an integer"),
    "number": (lambda v: (_is_int(v) or isinstance(v, float)) and math.isfinite(v), "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "text": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "optional text": (lambda v: v is None or (isinstance(v, str) and v != ""), "a non-empty string"),
    "files": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(f, str) and f for f in v),
              "a list of file names"),
    "names": (lambda v: isinstance(v, (list, tuple)) and all(isinstance(f, str) and f for f in v),
              "a list of names"),
    "table": (lambda v: isinstance(v, dict), "a table"),
    "figures": (lambda v: isinstance(v, list) and len(v) in (1, 4) and
                all((_is_int(f) or isinstance(f, float)) and math.isfinite(f) for f in v),
                "[MAE] or [yaw, pitch, roll, MAE] (finite numbers)"),
    "interval": (lambda v: isinstance(v, (list, tuple)) and len(v) in (0, 2) and
                 all((_is_int(f) or isinstance(f, float)) and math.isfinite(f) for f in v),
                 "[] or [lo, hi] (finite numbers)"),
    "ints": (lambda v: isinstance(v, (list, tuple)) and all(map(_is_int, v)), "a list of integers"),
    "protocol": (lambda v: _is_protocol(v), "a protocol: " + ", ".join(f"{p.name} or {p.number}"
                                                                    for p in PROTOCOLS.values())),
    "folders": (lambda v: isinstance(v, dict) and all(isinstance(f, str) and f for f in v.values()),
                "a table of folder names"),
    "published": (lambda v: isinstance(v, dict) and all(isinstance(rows, dict) for rows in v.values()),
                  "a table of tables (one per test set)"),
}


def _is_protocol(value):
    try:
        get_protocol(value)
    except UnknownProtocolError:
        return False
    return not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    train: tuple = _value("files", ())
    validation: tuple = _value("files", ())  # files; when empty, ``validation_split`` of the training data
    validation_split: float = _value("number", 0.2, lambda v: 0 <= v < 1, "in [0, 1)")
    validation_split_by: str = _value("text", "frame", lambda v: v in SPLITS, f"one of {list(SPLITS)}")  # fsanet.data.splits
    test: tuple = _value("files", ())
    angle_filter: bool = _value("bool", True)  # keep only samples with every angle in [-99, 99]


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    epochs: int = _value("int", 90, lambda v: 1 <= v <= MAX_EPOCHS, f"in [1, {MAX_EPOCHS}]")
    batch_size: int = _value("int", 16, lambda v: 1 <= v <= MAX_BATCH_SIZE, f"in [1, {MAX_BATCH_SIZE}]")
    learning_rate: float = _value("number", 1e-3, lambda v: 0 < v <= MAX_RATE, f"in (0, {MAX_RATE}]")
    lr_decay_epochs: tuple = _value("ints", (30, 60), lambda v: all(0 <= e <= MAX_EPOCHS for e in v),
                                    f"epochs in [0, {MAX_EPOCHS}]")
    lr_decay_factor: float = _value("number", 0.1, lambda v: 0 < v <= MAX_RATE, f"in (0, {MAX_RATE}]")
    augmentation: bool = _value("bool", True)
    seed: int = _value("int", 0, lambda v: 0 <= v < 2**32, "in [0, 2^32)")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation beyond the authors' (``fsanet.data.augment``): in-plane rotation by a uniform angle
    in ``rotate`` degrees ([] = none), with ``rotate_probability`` per image, the label turned to match;
    a surgical-mask-like occlusion of the lower face with probability ``occlude`` (0 = none; needs
    the training files' ``landmarks``, which ``fsanet prepare-type1`` stores)."""

    rotate: tuple = _value("interval", (), lambda v: not v or -180 <= v[0] <= v[1] <= 180,
                           "[lo, hi] with -180 <= lo <= hi <= 180")
    rotate_probability: float = _value("number", 0.5, lambda v: 0 <= v <= 1, "in [0, 1]")
    occlude: float = _value("number", 0.0, lambda v: 0 <= v <= 1, "in [0, 1]")


@dataclasses.dataclass(frozen=True)
class HeadOptions:
    """Options of the non-SSR heads (``fsanet.model.heads``): BEL's code and bits per angle (BEL's
    runs: 200 quantisation levels for protocol 1, 150 for protocol 2, that is 200 / 150 unary bits
    or 100 / 75 Johnson bits), the classification head's bins."""

    code: str = _value("text", "u", lambda v: v in BEL_CODES, f"one of {list(BEL_CODES)}")
    bits: int = _value("int", 200, lambda v: 2 <= v <= 4096, "in [2, 4096]")
    bins: int = _value("int", 66, lambda v: 2 <= v <= 4096, "in [2, 4096]")

    def model_kwargs(self, head) -> dict:
        """``FSANet`` arguments for ``head`` with these options."""
        if head == "ssr":
            return {}
        return {"head": head, "bel_code": self.code, "bel_bits": self.bits, "num_bins": self.bins}


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    model: str = _value("text")  # a variant alias / checkpoint name, or a fusion (its members are trained in turn)
    protocol: str = _value("protocol", DEFAULT_PROTOCOL)
    init: str | None = _value("optional text", None)  # "authors", an authors' .h5, or one of our .keras files
    head: str = _value("text", "ssr", lambda v: v in HEADS, f"one of {list(HEADS)}")  # fsanet.model.heads
    head_options: HeadOptions = HeadOptions()
    augment: AugmentConfig = AugmentConfig()
    data: DataConfig = DataConfig()
    training: TrainingConfig = TrainingConfig()

    @property
    def members(self) -> tuple:
        """The variants this config trains: the fusion's members, or the model itself."""
        return FUSIONS.get(self.model, (self.model,))

    def for_member(self, member):
        return dataclasses.replace(self, model=member)

    def __post_init__(self):
        object.__setattr__(self, "protocol", get_protocol(self.protocol).name)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class EvaluationPreset:
    """A table of the paper (``configs/protocol*/evaluate.toml``, ``ablation.toml``): the models and
    baselines, the npz test sets, the raw folders baselines read (``[raw_test]``, name -> folder under
    ``--raw-dir``) and the published figures (``[published.<test set>]``, method -> [MAE] or
    [yaw, pitch, roll, MAE])."""

    protocol: str = _value("protocol")
    models: tuple = _value("names")
    test: tuple = _value("files")
    baselines: tuple = _value("names", ())
    angle_filter: bool = _value("bool", True)
    raw_test: dict = _value("folders", default_factory=dict)
    published: dict = _value("published", default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "protocol", get_protocol(self.protocol).name)


def _merge(base: dict, update: dict) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read(path: Path, seen=(), what="config") -> dict:
    if path in seen:
        raise ConfigError(f"{path}: 'base' files form a cycle")
    if len(seen) >= MAX_BASE_DEPTH:
        raise ConfigError(f"{seen[0]}: base: a chain of more than {MAX_BASE_DEPTH} base files (reached {path})")
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    base = values.pop("base", None)
    if base is None:
        return values
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base must be the file name of another config, got {base!r}")
    return _merge(_read((path.parent / base).resolve(), seen + (path,)), values)


def check_value(value, kind, where, test=None, requirement=""):
    """Raise ``ConfigError`` ("<where> must be ...") unless ``value`` is of ``kind`` (a key of
    ``_KINDS``) and passes ``test``."""
    is_kind, called = _KINDS[kind]
    if not is_kind(value):
        raise ConfigError(f"{where} must be {called}, got {value!r}")
    if test is not None and not test(value):
        raise ConfigError(f"{where} must be {requirement}, got {value!r}")


def _section(cls, values, path, name):
    """``cls`` from a TOML table; every key known and every value of its kind and range."""
    where = f"[{name}] " if name != "top level" else ""
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{name}] must be a table of keys, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} in [{name}]; known: {sorted(fields)}")
    for key, value in values.items():
        meta = fields[key].metadata
        if "kind" in meta:
            check_value(value, meta["kind"], f"{path}: {where}{key}", meta["test"], meta["requirement"])
    missing = [k for k, f in fields.items()
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and k not in values]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {missing} in [{name}]")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def from_dict(values: dict, path="<config>") -> ExperimentConfig:
    values = dict(values)
    data = _section(DataConfig, values.pop("data", {}), path, "data")
    training = _section(TrainingConfig, values.pop("training", {}), path, "training")
    head_options = _section(HeadOptions, values.pop("head_options", {}), path, "head_options")
    augment = _section(AugmentConfig, values.pop("augment", {}), path, "augment")
    config = _section(ExperimentConfig, dict(values, data=data, training=training, head_options=head_options,
                                             augment=augment), path, "top level")
    try:
        for member in config.members:
            get_variant(member)
    except KeyError as e:
        raise ConfigError(f"{path}: model: {e.args[0]}") from None
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


NO_PRESET = EvaluationPreset(protocol=DEFAULT_PROTOCOL, models=(), test=())
"""What ``fsanet test`` uses when no ``--preset`` is given: its flags say everything."""


def load_preset(path) -> EvaluationPreset:
    """Read and check an evaluation preset (see ``EvaluationPreset``)."""
    path = Path(path)
    preset = _section(EvaluationPreset, _read(path.resolve(), what="preset"), path, "top level")
    for test_set, rows in preset.published.items():
        for method, figures in rows.items():
            check_value(figures, "figures", f"{path}: published.{test_set}.{method}")
    return preset
