"""Running the authors' frozen TF 1 graphs in TF 2: the numerical oracle for parity and speed."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

INPUT_TENSOR = "input_1:0"
OUTPUT_TENSOR = "pred_pose/mul_24:0"


class FrozenGraph:
    """A callable over one of ``converted-models/tf/*.pb``: (N, 64, 64, 3) float32 -> (N, 3).

    ``threads=(intra_op, inter_op)`` gives the session its own thread pools (benchmarks compare
    settings in one process); None uses TensorFlow's process-wide defaults."""

    def __init__(self, path, inputs=INPUT_TENSOR, outputs=OUTPUT_TENSOR, threads=None):
        path = os.fspath(path)
        graph_def = tf.compat.v1.GraphDef()
        try:
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: frozen graph not found") from None
        except Exception as e:  # protobuf raises its own DecodeError
            raise ValueError(f"{path}: not a frozen TensorFlow GraphDef ({e})") from None
        self.path = path
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self._input = self.graph.get_tensor_by_name(inputs)
        self._output = self.graph.get_tensor_by_name(outputs)
        config = None
        if threads:
            config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads[0],
                                              inter_op_parallelism_threads=threads[1],
                                              use_per_session_threads=True)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    def __call__(self, images):
        images = np.asarray(images, dtype=np.float32)
        return self.session.run(self._output, {self._input: images})

