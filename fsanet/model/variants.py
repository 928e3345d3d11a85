"""The variant table: every FSA-Net variant the authors released, in one place.

A variant is named exactly like the authors' checkpoint folder
(``fsanet_<scoring><aggregation>_<num_capsule>_<dim_capsule>_<routings>_<num_primcaps>_<m_dim>``);
each also has a short alias (``capsule``, ``var_capsule``, ``noS_capsule``, ...). Fusions are plain
averages of member variants (the paper's FSA-Caps-Fusion is ``fusion``).
"""

from __future__ import annotations

import dataclasses

from fsanet.errors import ArgumentTypeError, ArgumentValueError, UnknownModelError

SCORINGS = ("conv", "variance", "uniform")
"""Scoring functions of paper §3.3: learned 1x1 conv, channel variance, none (uniform, "w/o")."""

AGGREGATIONS = ("capsule", "netvlad", "metric")
"""Feature aggregation of paper §3.5: capsule routing, NetVLAD, two learned projections."""

FAMILIES = ("fsanet", "ssrnet_md")
"""The two network families: FSA-Net and the paper's SSR-Net-MD baseline."""

IMAGE_SIZE = 64
"""Side of the square BGR face crop every network takes (SPEC §5)."""

_SCORING_PREFIX = {"conv": "", "variance": "var_", "uniform": "noS_"}


@dataclasses.dataclass(frozen=True)
class Variant:
    """Hyperparameters of one released model (SPEC §2); the defaults are the models' defaults."""

    name: str
    alias: str
    family: str  # one of FAMILIES
    scoring: str | None = None
    aggregation: str | None = None
    num_capsule: int = 3
    dim_capsule: int = 16
    routings: int = 2
    num_primcaps: int = 21
    m_dim: int = 5
    stage_num: tuple = (3, 3, 3)
    lambda_d: float = 1.0
    image_size: int = IMAGE_SIZE

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ArgumentValueError(f"unknown model family {self.family!r}; known: {', '.join(FAMILIES)}")
        if self.family == "fsanet" and (self.scoring not in SCORINGS or self.aggregation not in AGGREGATIONS):
            raise ArgumentValueError(f"an FSA-Net variant needs a scoring ({', '.join(SCORINGS)}) and an aggregation "
                                     f"({', '.join(AGGREGATIONS)}), got {self.scoring!r} and {self.aggregation!r}")

    def model_kwargs(self) -> dict:
        """Constructor arguments of the Keras model class that builds this variant."""
        common = {"stage_num": self.stage_num, "lambda_d": self.lambda_d,
                  "image_size": self.image_size}
        if self.family == "ssrnet_md":
            return common
        return dict(common, scoring=self.scoring, aggregation=self.aggregation,
                    num_capsule=self.num_capsule, dim_capsule=self.dim_capsule,
                    routings=self.routings, num_primcaps=self.num_primcaps, m_dim=self.m_dim)


def fsanet_variant_name(scoring: str, aggregation: str, num_capsule=3, dim_capsule=16,
                        routings=2, m_dim=5) -> str:
    """The authors' checkpoint name for a scoring x aggregation pair."""
    primcaps = 8 * 8 * 3 if scoring == "uniform" else 7 * 3
    return (f"fsanet_{_SCORING_PREFIX[scoring]}{aggregation}_"
            f"{num_capsule}_{dim_capsule}_{routings}_{primcaps}_{m_dim}")


def _table() -> dict:
    table = {}
    for aggregation in AGGREGATIONS:
        for scoring in SCORINGS:
            alias = _SCORING_PREFIX[scoring] + aggregation
            v = Variant(name=fsanet_variant_name(scoring, aggregation), alias=alias,
                        family="fsanet", scoring=scoring, aggregation=aggregation,
                        num_primcaps=192 if scoring == "uniform" else 21)
            table[v.name] = v
    v = Variant(name="ssrnet_mt", alias="ssrnet_md", family="ssrnet_md")
    table[v.name] = v
    return table


VARIANTS: dict = _table()
"""Every variant by its checkpoint name."""

ALIASES: dict = {v.alias: v.name for v in VARIANTS.values()}

FUSIONS: dict = {
    "fusion": ("capsule", "var_capsule", "noS_capsule"),
    "netvlad_fusion": ("netvlad", "var_netvlad", "noS_netvlad"),
    "metric_fusion": ("metric", "var_metric", "noS_metric"),
}
"""Fusions (plain averages) by name; ``fusion`` is the paper's FSA-Caps-Fusion."""
FUSIONS["capsule_fusion"] = FUSIONS["fusion"]


def get_variant(name: str) -> Variant:
    """Look a variant up by checkpoint name or alias."""
    if not isinstance(name, str):
        raise ArgumentTypeError(f"a variant is named by a string (checkpoint name or alias), got {type(name).__name__}")
    key = ALIASES.get(name, name)
    if key not in VARIANTS:
        known = ", ".join(sorted(ALIASES)) + "; fusions: " + ", ".join(sorted(FUSIONS))
        raise UnknownModelError(f"unknown FSA-Net variant {name!r}; known aliases: {known}")
    return VARIANTS[key]


def fusion_members(name: str) -> tuple:
    """Member variants of a fusion, as Variant records."""
    if not isinstance(name, str) or name not in FUSIONS:
        raise UnknownModelError(f"unknown fusion {name!r}; known: {', '.join(sorted(FUSIONS))}")
    return tuple(get_variant(m) for m in FUSIONS[name])


HEADS = ("ssr", "bel", "regression", "classification")
"""Output heads: ``ssr`` is the paper's (soft stagewise regression); the others are in this module."""
BEL_CODES = ("u", "j")
"""BEL codes: ``u`` unary (thermometer), ``j`` Johnson."""
