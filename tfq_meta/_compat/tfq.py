"""TensorFlow Quantum's private APIs (checked on tensorflow-quantum 0.7.6)."""
import importlib

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
    """Registers every TFQ op with TensorFlow, so that SavedModels using them load."""
    if not LAZY_OP_LIBRARIES.applies():
        return
    for module_name, attribute in OP_LIBRARIES:
        library = getattr(importlib.import_module(module_name), attribute)
        if hasattr(library, "_load"):  # older releases load at import and have no loader
            library._load()
