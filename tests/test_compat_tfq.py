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


def test_tfq_adjoint_gradient_drops_small_upstreams():
    # Upstream still misbehaves: an upstream of 9e-6 on every observable gives a zero gradient,
    # where the gradient of <Z0> under rx(a) is -sin(a) times the upstream.
    import cirq
    import numpy as np
    import sympy
    import tensorflow as tf
    import tensorflow_quantum as tfq

    from tfq_meta._compat.tfq import ADJOINT_ABSOLUTE_CUTOFF, upstream_scale

    a = sympy.Symbol("a")
    qubit = cirq.LineQubit(0)
    programs = tfq.convert_to_tensor([cirq.Circuit(cirq.rx(a)(qubit))])
    observables = tfq.convert_to_tensor([[cirq.Z(qubit)]])
    names, values = tf.constant(["a"]), tf.constant([[0.7]])
    expectation = tfq.get_expectation_op()(programs, names, values, observables)
    differentiator = tfq.differentiators.Adjoint()

    def gradient(upstream):
        upstream = tf.constant([[upstream]])
        scale = upstream_scale(upstream)
        return differentiator.differentiate_analytic(
            programs, names, values, observables, expectation, upstream * scale) / scale

    assert ADJOINT_ABSOLUTE_CUTOFF.applies()
    unscaled = differentiator.differentiate_analytic(programs, names, values, observables,
                                                     expectation, tf.constant([[9e-6]]))
    assert float(unscaled[0, 0]) == 0.0
    np.testing.assert_allclose(gradient(9e-6).numpy(), [[-9e-6 * np.sin(0.7)]], rtol=1e-5)
    np.testing.assert_allclose(gradient(1.0).numpy(), [[-np.sin(0.7)]], rtol=1e-5)
