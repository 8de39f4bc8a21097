"""tfq_meta._compat.tensorflow: TensorFlow still has the private name, and it tells XLA graphs."""
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
