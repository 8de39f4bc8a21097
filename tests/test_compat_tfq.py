"""The TFQ entry of tfq_meta._compat still has something to work around: after a plain
``import tensorflow_quantum`` TFQ's ops are not registered (so a SavedModel holding them does not
load), and ``load_op_libraries`` registers them. The oracle is TensorFlow's op registry in a fresh
process."""
from conftest import run_fresh_python

REGISTRY_SCRIPT = """
from tensorflow.python.framework import op_def_registry
import tensorflow_quantum
print("PLAIN", op_def_registry.get("TfqAdjointGradient") is not None)
from tfq_meta._compat import tfq
tfq.load_op_libraries()
print("LOADED", op_def_registry.get("TfqAdjointGradient") is not None)
"""


def test_tfq_ops_are_registered_only_once_loaded():
    result = run_fresh_python(REGISTRY_SCRIPT)
    lines = dict(line.split() for line in result.stdout.splitlines()
                 if line.startswith(("PLAIN", "LOADED")))
    assert lines == {"PLAIN": "False", "LOADED": "True"}, result.stderr[-3000:]
