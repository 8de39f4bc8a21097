"""TensorFlow Quantum's private APIs and misbehaviours (checked on tensorflow-quantum 0.7.6)."""
import importlib
import math

from tfq_meta import _tfq
from tfq_meta._compat import Workaround

# TFQ loads each op library on first use, so that `import tensorflow_quantum` leaves
# TensorFlow's devices unconfigured (https://github.com/tensorflow/quantum/pull/947, for issue
# #911). A SavedModel holding TFQ ops then does not load in a fresh process that only imported TFQ
# ("Op type not registered 'TfqAdjointGradient'"), and TFQ has no public call that loads them:
# each library's `_load()` does. `import tfq_meta` calls it, so any SavedModel it exported loads.
LAZY_OP_LIBRARIES = Workaround("tensorflow-quantum",
                               "https://github.com/tensorflow/quantum/pull/947")

# (module, attribute) of every lazily loaded TFQ op library that tfq_meta's graphs may hold.
OP_LIBRARIES = (
    ("tensorflow_quantum.core.ops.tfq_simulate_ops", "SIM_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_utility_ops", "UTILITY_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_adj_grad_op", "SIM_OP_MODULE"),
    ("tensorflow_quantum.core.ops.tfq_ps_util_ops", "PS_UTIL_MODULE"),
    ("tensorflow_quantum.core.ops.math_ops.inner_product_op", "MATH_OP_MODULE"),
    ("tensorflow_quantum.core.ops.noise.noisy_expectation_op", "NOISY_OP_MODULE"),
)


def load_op_libraries():
    """Registers every TFQ op with TensorFlow, so that SavedModels using them load; nothing
    where TFQ is missing, as no SavedModel loadable there holds them."""
    if not _tfq.available() or not LAZY_OP_LIBRARIES.applies():
        return
    for module_name, attribute in OP_LIBRARIES:
        library = getattr(importlib.import_module(module_name), attribute)
        if hasattr(library, "_load"):  # older releases load at import and have no loader
            library._load()


# TFQ's adjoint gradient op skips every observable whose |upstream · coefficient| is below 1e-5
# (`AccumulateOperators` in its core/src/util_qsim.h), an absolute threshold, so its gradient is
# not linear in the upstream: a loss averaged over 16 tasks, or the small upstreams a second order
# sends through shifted circuits, lose terms. No upstream issue is filed; the line is the source.
ADJOINT_ABSOLUTE_CUTOFF = Workaround(
    "tensorflow-quantum",
    "https://github.com/tensorflow/quantum/blob/master/tensorflow_quantum/core/src/util_qsim.h")


def upstream_scale(upstream):
    """A power of two per example ``[batch, 1]`` that brings the largest entry of its
    ``upstream`` ``[batch, n]`` to 2^10 … 2^12; multiply the upstream by it before a TFQ
    differentiator and divide the gradient by it after. Powers of two make this exact for a
    linear op, and what the cut-off then drops is below 1e-8 of each example's largest upstream.
    """
    import tensorflow as tf   # this package imports nothing heavy at module level

    if not ADJOINT_ABSOLUTE_CUTOFF.applies():
        return tf.ones_like(upstream[:, :1])
    largest = tf.reduce_max(tf.abs(upstream), axis=1, keepdims=True)
    exponent = tf.floor(tf.math.log(tf.where(largest > 0, largest, 1.0)) / math.log(2.0))
    return tf.pow(tf.constant(2.0, upstream.dtype), tf.clip_by_value(10.0 - exponent, -100.0,
                                                                      100.0))
