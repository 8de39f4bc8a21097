"""Checks the process is ready for tfq_meta: Keras 3 on TensorFlow, TFQ op libraries loaded."""
import importlib

import keras

# (module, attribute) of every lazily loaded TFQ op library. TFQ 0.7.6 loads them on first use, so
# a fresh process that only imported tensorflow_quantum cannot reload a SavedModel holding our ops
# ("Op type not registered 'TfqAdjointGradient'").
_TFQ_OP_LIBRARIES = (
    ("tensorflow_quantum.core.ops.tfq_simulate_ops", "SIM_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_utility_ops", "UTILITY_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_adj_grad_op", "SIM_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_ps_util_ops", "PS_UTIL_MODULE"),
    ("tensorflow_quantum.core.ops.math_ops.inner_product_op", "MATH_OP_MODULE"),
    ("tensorflow_quantum.core.ops.noise.noisy_expectation_op", "NOISY_OP_MODULE"),
)


def check_keras_backend():
    """Raises ImportError unless Keras runs on the TensorFlow backend."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(
            f"tfq_meta needs Keras on the TensorFlow backend, but Keras is using {backend!r}. "
            "Fix: set the environment variable KERAS_BACKEND=tensorflow before Python starts "
            "(or set \"backend\": \"tensorflow\" in ~/.keras/keras.json)."
        )


def load_tfq_op_libraries():
    """Registers every TFQ op with TensorFlow so SavedModels using them can be loaded."""
    for module_name, attribute in _TFQ_OP_LIBRARIES:
        lazy_library = getattr(importlib.import_module(module_name), attribute)
        lazy_library._load()
