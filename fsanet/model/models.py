"""FSA-Net and SSR-Net-MD as Keras 3 models, plus the fusion and the factory (SPEC §3).

Each model class builds its graph in ``__init__`` from its hyperparameters (the keras-hub backbone
pattern), names every layer after its role, and round-trips through ``get_config``. Build any
released variant with ``build_model("var_capsule")`` and any fusion with ``build_model("fusion")``.
"""

from __future__ import annotations

import keras

from fsanet.errors import ArgumentTypeError, ArgumentValueError
from fsanet.model import heads as fh
from fsanet.model import layers as fl
from fsanet.model.variants import (AGGREGATIONS, FUSIONS, SCORINGS, Variant, fsanet_variant_name, fusion_members,
                                   get_variant)

_register = keras.saving.register_keras_serializable(package="fsanet")

_STREAMS = (("x", "relu", keras.layers.AveragePooling2D), ("s", "tanh", keras.layers.MaxPooling2D))
_WIDTHS = ((16,), (32, 32), (64, 64), (128, 128))
STAGE_CHANNELS = 64


def block_name(stream, block, part):
    """The layer-name scheme of the backbone: ``{stream}_block{block}_{part}``, stream ``x`` or ``s``,
    block 1..7, part ``sepconv``, ``bn`` or the activation (the weight loader maps onto these)."""
    return f"{stream}_block{block}_{part}"


def stage_name(stage, part):
    """The layer-name scheme of everything per stage (k = 1, 2, 3): ``stage{k}_{part}``."""
    return f"stage{stage}_{part}"


FIRST_CONVS = {block_name(stream, 1, "sepconv"): block_name(stream, 1, "conv") for stream, _, _ in _STREAMS}
"""Block 1's separable conv -> its dense 3x3 conv in the inference form (``two_streams``)."""


def backbone_blocks():
    """(separable conv name, BatchNorm name) of every backbone block, both streams."""
    blocks = sum(len(widths) for widths in _WIDTHS)
    return [(block_name(stream, b, "sepconv"), block_name(stream, b, "bn"))
            for stream, _, _ in _STREAMS for b in range(1, blocks + 1)]


def two_streams(image, batch_norm=True):
    """The two backbone streams shared by FSA-Net and SSR-Net-MD.

    Stream x: ReLU blocks with average pooling; stream s: tanh blocks with max pooling. A block is
    SeparableConv2D 3x3 -> BatchNorm -> activation; blocks are numbered 1..7 as in the authors' files.
    Returns ``{stream: [pool1, pool2, pool3, last]}``.

    ``batch_norm=False`` builds the inference form (``fsanet.model.inference_form.fold_batch_norm`` gives it
    its weights), which computes the same function with less work: no BatchNorm (folded into the
    convolutions); block 1 as one 3x3 convolution (``FIRST_CONVS``: its depthwise and pointwise
    kernels composed, 432 multiply-adds per pixel in one dense op instead of 27 on three channels,
    which vectorise badly, plus 48); in stream s, max pooling before tanh (tanh is increasing, so
    max then tanh equals tanh then max, on a quarter of the values).
    """
    taps = {}
    for stream, activation, pooling in _STREAMS:
        h, outputs, block = image, [], 0
        pool_first = not batch_norm and activation == "tanh"
        for group, widths in enumerate(_WIDTHS):
            for i, width in enumerate(widths):
                block += 1
                if block == 1 and not batch_norm:
                    h = keras.layers.Conv2D(width, 3, padding="same",
                                            name=FIRST_CONVS[block_name(stream, 1, "sepconv")])(h)
                else:
                    h = keras.layers.SeparableConv2D(width, 3, padding="same",
                                                     name=block_name(stream, block, "sepconv"))(h)
                if batch_norm:
                    h = keras.layers.BatchNormalization(name=block_name(stream, block, "bn"))(h)
                pooled = i == len(widths) - 1 and group < len(_WIDTHS) - 1
                if pooled and pool_first:
                    h = pooling(2, name=f"{stream}_pool{group + 1}")(h)
                h = keras.layers.Activation(activation, name=block_name(stream, block, activation))(h)
                if pooled and not pool_first:
                    h = pooling(2, name=f"{stream}_pool{group + 1}")(h)
            outputs.append(h)
        taps[stream] = outputs
    return taps


def stage_inputs(taps):
    """Per stage (1, 2, 3), the (x, s) backbone tensors it is computed from (SPEC §3)."""
    return [(taps["x"][3], taps["s"][3]), (taps["x"][2], taps["s"][2]), (taps["x"][1], taps["s"][1])]


def stage_product(x, s, stage, pool_streams=False):
    """relu(1x1 conv on x) * tanh(1x1 conv on s); SSR-Net-MD pools each stream before the product."""
    s = keras.layers.Conv2D(STAGE_CHANNELS, 1, activation="tanh", name=stage_name(stage, "s_conv"))(s)
    x = keras.layers.Conv2D(STAGE_CHANNELS, 1, activation="relu", name=stage_name(stage, "x_conv"))(x)
    if pool_streams:
        s = keras.layers.MaxPooling2D(2, name=stage_name(stage, "s_pool"))(s)
        x = keras.layers.AveragePooling2D(2, name=stage_name(stage, "x_pool"))(x)
    return keras.layers.Multiply(name=stage_name(stage, "product"))([s, x])


def _check_counts(stage_num, **counts):
    """Hyperparameters that are counts, refused here with our error rather than deep inside Keras."""
    if not isinstance(stage_num, (list, tuple)) or not stage_num:
        raise ArgumentTypeError(f"stage_num must be a list of bin counts, got {stage_num!r}")
    for name, value in [*counts.items(), *(("stage_num", n) for n in stage_num)]:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArgumentTypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ArgumentValueError(f"{name} must be positive, got {value}")


def _serialisable(config):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}


@_register
class FSANet(keras.Model):
    """FSA-Net (Yang et al., CVPR 2019): (B, 64, 64, 3) BGR 0..255 -> (B, 3) [yaw, pitch, roll] degrees.

    Args:
        scoring: "conv" (learned 1x1 conv), "variance" or "uniform" (no fine-grained mapping, "noS").
        aggregation: "capsule", "netvlad" or "metric".
        num_capsule, dim_capsule, routings: the aggregated representation, one capsule per stage.
        num_primcaps: primary capsules, 3n for the fine-grained mapping (n per stage) or all
            3 * 8 * 8 stage-map pixels for "uniform".
        m_dim: inner dimension of the mapping M_k and combination C.
        stage_num, lambda_d: soft stagewise regression settings.
        batch_norm: False builds the inference form (``two_streams``) that
            ``fsanet.model.inference_form.fold_batch_norm`` fills: the same function with less work.
        head: the output head on the aggregated features (``fsanet.model.heads.HEADS``): "ssr", the
            paper's, or "bel" (``bel_code``, ``bel_bits``), "regression", "classification"
            (``num_bins``). Every head outputs the pose in degrees; ``compute_loss`` trains each
            with its own loss.
    """

    def __init__(self, scoring="conv", aggregation="capsule", num_capsule=Variant.num_capsule,
                 dim_capsule=Variant.dim_capsule, routings=Variant.routings,
                 num_primcaps=Variant.num_primcaps, m_dim=Variant.m_dim, stage_num=Variant.stage_num,
                 lambda_d=Variant.lambda_d, image_size=Variant.image_size, batch_norm=True,
                 head="ssr", bel_code="u", bel_bits=200, num_bins=66, **kwargs):
        _check_counts(stage_num, num_capsule=num_capsule, dim_capsule=dim_capsule, routings=routings,
                      num_primcaps=num_primcaps, m_dim=m_dim, image_size=image_size)
        if scoring not in SCORINGS:
            raise ArgumentValueError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
        if aggregation not in AGGREGATIONS:
            raise ArgumentValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if len(stage_num) != num_capsule:
            raise ArgumentValueError("one capsule feeds each stage: len(stage_num) must equal num_capsule")
        if head not in fh.HEADS:
            raise ArgumentValueError(f"head must be one of {fh.HEADS}, got {head!r}")
        if head != "ssr":
            _check_counts(stage_num, bel_bits=bel_bits, num_bins=num_bins)

        image = keras.Input((image_size, image_size, 3), name="image")
        taps = two_streams(image, batch_norm)
        maps = []
        for stage, (x, s) in enumerate(stage_inputs(taps), start=1):
            u = stage_product(x, s, stage)
            if u.shape[1] != taps["x"][3].shape[1]:
                u = keras.layers.AveragePooling2D(2, name=stage_name(stage, "pool"))(u)
            maps.append(u)
        _, h, w, c = maps[0].shape
        num_pixels = len(maps) * h * w

        if scoring == "uniform":
            if num_primcaps != num_pixels:
                raise ArgumentValueError(f"without fine-grained mapping every pixel is a capsule: "
                                 f"num_primcaps must be {num_pixels}, got {num_primcaps}")
            primcaps = keras.layers.Concatenate(axis=1, name="primary_capsules")(
                [keras.layers.Reshape((h * w, c), name=stage_name(k, "pixels"))(u)
                 for k, u in enumerate(maps, start=1)])
        else:
            if num_primcaps % len(maps):
                raise ArgumentValueError(f"num_primcaps must be a multiple of {len(maps)}, got {num_primcaps}")
            if scoring == "conv":
                conv = keras.layers.Conv2D(1, 1, activation="sigmoid", name="scoring")
                scores = [keras.layers.Reshape((h * w,), name=stage_name(k, "scores"))(conv(u))
                          for k, u in enumerate(maps, start=1)]
            else:
                scores = [fl.VarianceScoring(name=stage_name(k, "scores"))(u)
                          for k, u in enumerate(maps, start=1)]
            mapping = keras.layers.Dense(m_dim * num_pixels, activation="sigmoid",
                                         name="fine_grained_mapping")
            mappings = [mapping(a) for a in scores]
            combination = keras.layers.Dense(num_primcaps // len(maps) * m_dim, activation="sigmoid",
                                             name="fine_grained_combination")(
                keras.layers.Concatenate(name="all_scores")(scores))
            primcaps = fl.FineGrainedStructure(m_dim=m_dim, name="fine_grained_structure")(
                maps + mappings + [combination])

        if aggregation == "capsule":
            aggregated = fl.CapsuleRouting(num_capsule, dim_capsule, routings, name="capsule")(primcaps)
        elif aggregation == "netvlad":
            vlad = fl.NetVLADAggregation(cluster_size=num_capsule,
                                         output_dim=num_capsule * dim_capsule, name="netvlad")(primcaps)
            aggregated = keras.layers.Reshape((num_capsule, dim_capsule), name="aggregated")(vlad)
        else:
            aggregated = fl.MetricAggregation(num_capsule, dim_capsule, name="metric")(primcaps)

        if head == "ssr":
            heads = [fl.StageHead(k, num_bins=stage_num[k], name=stage_name(k + 1, "head"))(aggregated)
                     for k in range(len(stage_num))]
            deltas, shifts, probs = zip(*heads)
            pose = fl.SoftStagewiseRegression(stage_num, lambda_d, name="ssr")(
                list(probs) + list(deltas) + list(shifts))
        else:
            pose = fh.build_head(head, bel_code, bel_bits, num_bins)(aggregated)
        kwargs.setdefault("name", fsanet_variant_name(scoring, aggregation, num_capsule, dim_capsule,
                                                      routings, m_dim))
        super().__init__(inputs=image, outputs=pose, **kwargs)
        self._hyperparameters = _serialisable(dict(
            scoring=scoring, aggregation=aggregation, num_capsule=num_capsule,
            dim_capsule=dim_capsule, routings=routings, num_primcaps=num_primcaps, m_dim=m_dim,
            stage_num=stage_num, lambda_d=lambda_d, image_size=image_size, batch_norm=batch_norm))
        if head != "ssr":  # an SSR model's config stays the authors' hyperparameters only
            self._hyperparameters.update(dict(head=head, bel_code=bel_code, bel_bits=bel_bits, num_bins=num_bins))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss for SSR; another head's own loss (``training_loss``) on the logits of
        this step's forward pass."""
        if self._hyperparameters.get("head", "ssr") == "ssr":
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        return self.get_layer("pose_head").training_loss(keras.ops.cast(y, y_pred.dtype), y_pred)

    @property
    def variant_name(self):
        """The authors' checkpoint name for these hyperparameters."""
        p = self._hyperparameters
        return fsanet_variant_name(p["scoring"], p["aggregation"], p["num_capsule"],
                                   p["dim_capsule"], p["routings"], p["m_dim"])

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._hyperparameters}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@_register
class SSRNetMD(keras.Model):
    """SSR-Net-MD (``ssrnet_mt``), the paper's baseline: the same two streams, then per stage
    1x1 convs, 2x2 pooling, product, and dense SSR heads (SPEC §3). ``batch_norm`` as in FSANet."""

    def __init__(self, stage_num=Variant.stage_num, lambda_d=Variant.lambda_d,
                 image_size=Variant.image_size, num_classes=3, batch_norm=True, **kwargs):
        _check_counts(stage_num, image_size=image_size, num_classes=num_classes)
        image = keras.Input((image_size, image_size, 3), name="image")
        taps = two_streams(image, batch_norm)
        deltas, shifts, probs = [], [], []
        for k, (x, s) in enumerate(stage_inputs(taps), start=1):
            feature = keras.layers.Flatten(name=stage_name(k, "flatten"))(
                stage_product(x, s, k, pool_streams=True))
            for role, out in (("delta", deltas), ("shift", shifts)):
                hidden = keras.layers.Dense(2 * num_classes, activation="tanh",
                                            name=stage_name(k, f"{role}_hidden"))(feature)
                out.append(keras.layers.Dense(num_classes, activation="tanh",
                                              name=stage_name(k, role))(hidden))
            p = keras.layers.Dense(stage_num[k - 1] * num_classes, activation="relu",
                                   name=stage_name(k, "probs"))(feature)
            probs.append(keras.layers.Reshape((num_classes, stage_num[k - 1]),
                                              name=stage_name(k, "bins"))(p))
        pose = fl.SoftStagewiseRegression(stage_num, lambda_d, name="ssr")(probs + deltas + shifts)
        kwargs.setdefault("name", "ssrnet_mt")
        super().__init__(inputs=image, outputs=pose, **kwargs)
        self._hyperparameters = _serialisable(dict(stage_num=stage_num, lambda_d=lambda_d,
                                                   image_size=image_size, num_classes=num_classes,
                                                   batch_norm=batch_norm))

    variant_name = "ssrnet_mt"

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._hyperparameters}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def build_variant(variant, **head) -> keras.Model:
    """A freshly initialised model for one variant (a ``Variant`` record, name or alias); ``head``
    (``head="bel", bel_code="j", ...``, see ``FSANet``) replaces an FSA-Net variant's SSR head."""
    variant = get_variant(variant) if not isinstance(variant, Variant) else variant
    if variant.family == "ssrnet_md":
        if head.get("head", "ssr") != "ssr":
            raise ArgumentValueError(f"{variant.alias}: only FSA-Net variants take another head than ssr")
        return SSRNetMD(name=variant.alias, **variant.model_kwargs())
    return FSANet(name=variant.alias, **variant.model_kwargs(), **head)


def build_fusion(members, name="fusion") -> keras.Model:
    """One Keras model averaging its members' predictions: one call, one graph."""
    members = list(members) if isinstance(members, (list, tuple)) else None
    if not members or not all(isinstance(m, keras.Model) for m in members):
        raise ArgumentTypeError("build_fusion takes a list of Keras models (for model specs use "
                                "fsanet.resolve_model('fusion:a,b,c'))")
    image_size = members[0].input_shape[1]
    image = keras.Input((image_size, image_size, 3), name="image")
    pose = keras.layers.Average(name="average")([m(image) for m in members])
    return keras.Model(image, pose, name=name)


def build_model(name: str) -> keras.Model:
    """Factory: a variant (checkpoint name or alias) or a fusion name, freshly initialised."""
    if isinstance(name, str) and name in FUSIONS:
        return build_fusion([build_variant(v) for v in fusion_members(name)], name=name)
    return build_variant(name)
