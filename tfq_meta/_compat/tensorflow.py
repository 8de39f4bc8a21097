"""TensorFlow internals that tfq_meta uses (checked on TensorFlow 2.18)."""
import tensorflow as tf

# An op cannot tell through a public API whether the graph it is added to will be compiled by XLA
# (`tf.function(jit_compile=True)`, Keras' `jit_compile`); no upstream issue asks for one.
# TensorFlow's own ops ask `control_flow_util.GraphOrParentsInXlaContext`. The statevector engine
# asks it too, to pick contractions that XLA fuses well, and `engine="auto"` to pick the engine.
# Should the name go, the engine falls back to its formulation for TensorFlow's executor, which
# is slower under XLA but correct, and "auto" keeps one engine whether or not XLA compiles.
try:
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext
except ImportError:  # pragma: no cover
    GraphOrParentsInXlaContext = None


def can_tell_xla_context():
    """Whether :func:`in_xla_context` can tell (False should TensorFlow drop its function)."""
    return GraphOrParentsInXlaContext is not None


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


def saved_model_op_types(path):
    """The op types a SavedModel directory's graphs and functions run, read without loading it.

    Loading is what fails when an op is not registered, so the graph is read from
    ``saved_model.pb`` through TensorFlow's protobuf module, which has no public alias (checked
    on 2.18); ``saved_model_cli show`` reads it the same way.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(f"{path}/saved_model.pb", "rb") as file:
        saved_model.ParseFromString(file.read())
    types = set()
    for graph in saved_model.meta_graphs:
        types.update(node.op for node in graph.graph_def.node)
        types.update(node.op for function in graph.graph_def.library.function
                     for node in function.node_def)
    return types
