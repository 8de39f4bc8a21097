"""TensorFlow internals that tfq_meta uses (checked on TensorFlow 2.18)."""
import tensorflow as tf

# An op cannot tell through a public API whether the graph it is added to will be compiled by XLA
# (`tf.function(jit_compile=True)`, Keras' `jit_compile`); no upstream issue asks for one.
# TensorFlow's own ops ask `control_flow_util.GraphOrParentsInXlaContext`. The statevector engine
# asks it too, to pick contractions that XLA fuses well; should the name go, the engine falls
# back to its formulation for TensorFlow's executor, which is slower under XLA but correct.
try:
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # pragma: no cover
    GraphOrParentsInXlaContext = None


def in_xla_context():
    """Whether the ops being created now will be compiled by XLA (False when it cannot tell)."""
    return GraphOrParentsInXlaContext is not None and bool(
        GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))


# Whether `tf.config.experimental.enable_op_determinism()` was called: TensorFlow has a setter
# and no public getter (checked on 2.18). Keras' own "auto" jit_compile asks the same function;
# XLA cannot honour determinism for every op, so XLA is not chosen by default then.
try:
    from tensorflow.python.framework.config import is_op_determinism_enabled
except ImportError:  # pragma: no cover
    def is_op_determinism_enabled():
        return False
