"""CPU thread pools for small-batch inference."""

from __future__ import annotations

from fsanet.errors import ArgumentTypeError, ThreadConfigError


def configure_cpu_threads(intra_op=1, inter_op=2):
    """Thread pools for small-batch CPU inference; call before any model is built.

    FSA-Net's ops are tiny: on a 2-core CPU one thread per op with two ops in flight is about
    2.5x faster at batch 1 than TensorFlow's default of sharing every op across all cores
    (see benchmarks/inference.py). Training on many cores wants the defaults instead.
    """
    for name, value in (("intra_op", intra_op), ("inter_op", inter_op)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ArgumentTypeError(f"{name} must be a thread count (an int, 0 for TensorFlow's default), got {value!r}")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as e:
        raise ThreadConfigError("configure_cpu_threads() must run before TensorFlow executes anything "
                                f"(build models after it): {e}") from None
