"""Readies the process for tfq_meta: TensorFlow's pooled CPU allocator, and a check that Keras 3
runs on the TensorFlow backend.

TensorFlow's default CPU allocator hands every large buffer back to the operating system when it
is freed, so each compiled step of a circuit of 12 or more qubits maps its working memory anew and
the kernel zeroes every page of it: a forward + gradient step took 3.6x as long at 12 qubits and
4.6x at 14 (bench/bench_allocator.py). TensorFlow's BFC allocator, its default on GPUs, keeps the
memory for the next step. TensorFlow reads ``TF_CPU_ALLOCATOR_USE_BFC`` when it runs its first
op, so the default is set here, before anything of TensorFlow runs; a value the user set is kept.
"""
import os

os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import keras  # noqa: E402


def check_keras_backend():
    """Raises ImportError unless Keras runs on the TensorFlow backend."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(
            f"tfq_meta needs Keras on the TensorFlow backend, but Keras is using {backend!r}. "
            "Fix: set the environment variable KERAS_BACKEND=tensorflow before Python starts "
            "(or set \"backend\": \"tensorflow\" in ~/.keras/keras.json)."
        )

