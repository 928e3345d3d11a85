"""Where the fusion's batch-64 time goes under LiteRT: each kind of backbone layer alone, at its size in
the network, on one thread, in chunks of 8 images (PosePredictor's way), as microseconds per image and
GFLOP/s (2 x multiply-adds; one per value for pooling and activations).

The pointwise convolutions run near one core's share of the machine's GEMM rate; the depthwise
convolutions, pooling and standalone activations are memory-bound and run at a fraction of it. That is
the ceiling on graph-level speed-ups (README, Speed). Random weights: speed does not depend on them.

    .venv/bin/python benchmarks/layer_rates.py
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from fsanet.core.quiet import native_stderr_captured, quiet_tensorflow

quiet_tensorflow()
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

CHUNK, IMAGES, ROUNDS = 8, 64, 9


def litert(layer, shape):
    """A callable running ``layer`` on IMAGES random inputs of ``shape`` in chunks of CHUNK."""
    inputs = keras.Input(shape)
    network = keras.Model(inputs, layer(inputs))
    archive = keras.export.ExportArchive()
    archive.track(network)
    archive.add_endpoint("serve", lambda x: network(x),
                         input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
    with tempfile.TemporaryDirectory() as folder, native_stderr_captured():
        archive.write_out(folder, verbose=False)
        flatbuffer = tf.lite.TFLiteConverter.from_saved_model(folder).convert()
        interpreter = Interpreter(model_content=flatbuffer, num_threads=1,
                                  experimental_default_delegate_latest_features=True)
        (details,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(details["index"], (CHUNK, *shape))
        interpreter.allocate_tensors()
    batch = np.random.default_rng(0).uniform(-1, 1, (CHUNK, *shape)).astype(np.float32)

    def run():
        for _ in range(IMAGES // CHUNK):
            interpreter.set_tensor(details["index"], batch)
            interpreter.invoke()
    return run


def cases():
    """(name, layer, input shape, operations per image) for the backbone's layer kinds."""
    L = keras.layers
    found = [("block 1: dense 3x3 conv 3->16, ReLU, 64x64", L.Conv2D(16, 3, padding="same", activation="relu"),
              (64, 64, 3), 2 * 64 * 64 * 27 * 16)]
    for size, channels in ((32, 32), (16, 64), (8, 128)):
        values = size * size * channels
        found += [
            (f"depthwise 3x3, {size}x{size}x{channels}", L.DepthwiseConv2D(3, padding="same"),
             (size, size, channels), 2 * values * 9),
            (f"pointwise {channels}->{channels}, ReLU, {size}x{size}", L.Conv2D(channels, 1, activation="relu"),
             (size, size, channels), 2 * values * channels),
            (f"pointwise {channels}->{channels}, tanh, {size}x{size}", L.Conv2D(channels, 1, activation="tanh"),
             (size, size, channels), 2 * values * channels)]
    for size, channels in ((64, 16), (32, 32)):
        values = size * size * channels
        found += [(f"average pooling 2x2, {size}x{size}x{channels}", L.AveragePooling2D(2),
                   (size, size, channels), values),
                  (f"max pooling 2x2, {size}x{size}x{channels}", L.MaxPooling2D(2), (size, size, channels), values),
                  (f"tanh alone, {size}x{size}x{channels}", L.Activation("tanh"), (size, size, channels), values)]
    return found


def main():
    runs = [(name, litert(layer, shape), ops) for name, layer, shape, ops in cases()]
    times = {name: [] for name, _, _ in runs}
    for _, run, _ in runs:
        run()
    for _ in range(ROUNDS):  # interleaved, so that load from other processes falls on all alike
        for name, run, _ in runs:
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    print(f"| layer (LiteRT, 1 thread, chunks of {CHUNK}) | us per image | GFLOP/s |")
    print("|---|---:|---:|")
    for name, _, ops in runs:
        seconds = float(np.median(times[name])) / IMAGES
        print(f"| {name} | {1e6 * seconds:.1f} | {ops / seconds / 1e9:.0f} |")


if __name__ == "__main__":
    main()
