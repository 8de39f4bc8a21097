"""Both engines against Cirq, each other, and finite differences to second order; the engine
choice. The statevector engine alone: tests/test_statevector_*.py."""
import cirq
import numpy as np
import pytest
import tensorflow as tf

from engine_oracle import (A, OBSERVABLES, QUBITS, SYMBOLS, X, cirq_values,
                           finite_difference_derivatives, hessian, random_circuit)
from tfq_meta import PQC, circuits, ops


@pytest.mark.parametrize("seed", range(4))
def test_engines_equal_cirq_and_each_other_over_the_gate_set(seed):
    circuit = random_circuit(seed)
    values = np.random.default_rng(seed).uniform(-2, 2, (5, len(SYMBOLS))).astype(np.float32)
    results = {engine: ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine=engine)(
        values).numpy() for engine in ("statevector", "qsim")}
    expected = cirq_values(circuit, values, OBSERVABLES)
    np.testing.assert_allclose(results["statevector"], expected, atol=1e-5)
    np.testing.assert_allclose(results["qsim"], expected, atol=1e-5)
    np.testing.assert_allclose(results["statevector"], results["qsim"], atol=1e-5)


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
@pytest.mark.parametrize("seed", [0, 1])
def test_first_and_second_derivatives_equal_finite_differences(engine, seed):
    circuit = random_circuit(seed, n_operations=14)
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2, 2, (1, len(SYMBOLS)))
    cotangent = rng.normal(size=(1, len(OBSERVABLES)))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine=engine)
    gradient, hess = hessian(expectation, values, cotangent)
    expected_gradient, expected_hessian = finite_difference_derivatives(circuit, values, cotangent)
    # float32 round-off grows with the size of the entries (up to ~60 here: symbols such as a*x
    # enter many gates, and on qsim each entry sums dozens of shifted float32 simulations, measured
    # ~4e-5 relative); the float64 oracle's truncation error is ~1e-6. So: 1e-4 of the scale.
    np.testing.assert_allclose(gradient, expected_gradient,
                               atol=1e-4 * max(1.0, np.max(np.abs(expected_gradient))))
    np.testing.assert_allclose(hess, expected_hessian,
                               atol=1e-4 * max(1.0, np.max(np.abs(expected_hessian))))
    assert np.max(np.abs(expected_hessian)) > 0.1  # a non-trivial Hessian


@pytest.mark.parametrize("scale", [1e-6, 1 / 16, 1e4])
def test_qsim_derivatives_are_linear_in_the_cotangent(scale):
    # TFQ's adjoint op drops every observable whose |cotangent · coefficient| is below 1e-5 (an
    # absolute threshold); the engine scales each example's cotangent so that none is dropped.
    # Unscaled, a cotangent of 1e-6 gave a zero gradient, and smaller ones, such as a mean over
    # 16 meta-learning tasks sends, lost terms in the second order's shifted circuits.
    circuit = random_circuit(1, n_operations=14)
    rng = np.random.default_rng(1)
    values = rng.uniform(-2, 2, (1, len(SYMBOLS)))
    cotangent = rng.normal(size=(1, len(OBSERVABLES)))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="qsim")
    gradient, hess = hessian(expectation, values, cotangent)
    scaled_gradient, scaled_hessian = hessian(expectation, values, scale * cotangent)
    np.testing.assert_allclose(scaled_gradient / scale, gradient, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled_hessian / scale, hess, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(hess)) > 0.1


def test_qsim_second_order_needs_the_shift_rule():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.ISwapPowGate(exponent=A)(*QUBITS[:2]),
                           cirq.rx(X)(QUBITS[1]))
    values = np.array([[0.3, 0.0, 0.7, 0.0, 0.0]])
    qsim_expectation = ops.CircuitExpectation(circuit, SYMBOLS, "Z1*Y0", engine="qsim")
    with pytest.raises(ValueError, match="two-term parameter-shift rule, which does not hold "
                                         "for .*ISWAP.*engine='statevector'"):
        hessian(qsim_expectation, values, np.ones((1, 1)))
    # First order on qsim and any order on statevector still work and agree with Cirq.
    gradient, hess = hessian(ops.CircuitExpectation(circuit, SYMBOLS, "Z1*Y0",
                                                    engine="statevector"), values, np.ones((1, 1)))
    with tf.GradientTape() as tape:
        inputs = tf.constant(values, tf.float32)
        tape.watch(inputs)
        qsim_value = qsim_expectation(inputs)
    np.testing.assert_allclose(tape.gradient(qsim_value, inputs).numpy()[0], gradient, atol=1e-5)
    step = 1e-4

    def f(v):
        return cirq_values(circuit, v, ["Z1*Y0"])[0, 0]

    expected = (f(values + [[step, 0, step, 0, 0]]) - f(values + [[step, 0, -step, 0, 0]])
                - f(values + [[-step, 0, step, 0, 0]]) + f(values - [[step, 0, step, 0, 0]])) / (
        4 * step ** 2)
    np.testing.assert_allclose(hess[0, 2], expected, atol=1e-4)


@pytest.mark.parametrize("n_qubits, options, engine, xla_engine", [
    (1, {}, "statevector", "statevector"),
    (ops.EXPECTATION_STATEVECTOR_MAX_QUBITS, {}, "statevector", "statevector"),
    (ops.EXPECTATION_STATEVECTOR_MAX_QUBITS + 1, {}, "qsim", "statevector"),
    (ops.XLA_STATEVECTOR_MAX_QUBITS, {}, "qsim", "statevector"),
    (ops.XLA_STATEVECTOR_MAX_QUBITS + 1, {}, "qsim", None),
    (2, {"repetitions": 100}, "qsim", None),
    (2, {"noise": 0.01}, "qsim", None),
    (ops.XLA_STATEVECTOR_MAX_QUBITS + 1, {"state_dtype": "complex128"}, "statevector",
     "statevector"),
])
def test_auto_engine_choice(n_qubits, options, engine, xla_engine):
    layer = PQC(circuits.angle_encoding(n_qubits), "Z0", **options)
    assert (layer.engine, layer.xla_engine) == (engine, xla_engine)
    assert layer.supports_jit == (xla_engine == "statevector")


@pytest.mark.parametrize("options, match", [
    ({"engine": "statevector", "repetitions": 10}, "`repetitions` \\(shots\\) needs engine='qsim'"),
    ({"engine": "statevector", "noise": 0.1}, "noise needs engine='qsim'"),
    ({"engine": "qsim", "state_dtype": "complex128"}, "`state_dtype='complex128'` needs"),
    ({"engine": "gpu"}, "`engine` must be one of"),
    ({"state_dtype": "float32"}, "`state_dtype` must be one of"),
])
def test_engine_option_errors(options, match):
    with pytest.raises(ValueError, match=match):
        PQC(circuits.angle_encoding(2), "Z0", **options)


def test_quantum_data_on_auto_runs_on_qsim_and_forced_statevector_refuses():
    import tensorflow_quantum as tfq
    spec = circuits.angle_encoding(2)
    data = tfq.convert_to_tensor([cirq.Circuit(cirq.X(QUBITS[0]))])
    x = np.array([[0.4, 0.9]], np.float32)
    auto = PQC(spec, ["Z0", "Z1"])
    assert auto.engine == "statevector"
    np.testing.assert_allclose(auto([data, x]).numpy(), [[-np.cos(0.4), np.cos(0.9)]], atol=1e-6)
    with pytest.raises(ValueError, match="`data_circuits` \\(quantum data\\) need the qsim engine"):
        PQC(spec, ["Z0"], engine="statevector")([data, x])
