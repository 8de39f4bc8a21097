"""tfq_meta._compat.tensorflow: TensorFlow still has the private names, and they behave."""
import tensorflow as tf

from tfq_meta._compat import tensorflow as tensorflow_compat


def test_private_xla_context_check_is_still_there():
    assert tensorflow_compat.GraphOrParentsInXlaContext is not None


def test_only_graphs_compiled_by_xla_are_in_an_xla_context():
    seen = {}

    def record(name):
        seen[name] = tensorflow_compat.in_xla_context()
        return tf.constant(1.0)

    record("eager")
    tf.function(lambda: record("graph"))()
    tf.function(lambda: record("xla"), jit_compile=True)()
    tf.function(lambda: tf.function(lambda: record("inside xla"))(), jit_compile=True)()
    assert seen == {"eager": False, "graph": False, "xla": True, "inside xla": True}


def test_saved_model_op_types_reads_graphs_and_their_functions(tmp_path):
    module = tf.Module()
    module.weights = tf.Variable([[1.0, 2.0]])
    module.serve = tf.function(lambda x: tf.nn.relu(tf.matmul(x, module.weights)),
                               input_signature=[tf.TensorSpec([None, 1])])
    tf.saved_model.save(module, str(tmp_path))
    types = tensorflow_compat.saved_model_op_types(tmp_path)
    assert {"MatMul", "Relu", "ReadVariableOp"} <= types
    assert not any(op.startswith("Tfq") for op in types)
