"""LoweredCircuit: gate values against sympy and the lowered circuit's states against Cirq's
states of the original circuit."""
import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta.lowering import LoweredCircuit

X, Y, W = sympy.symbols("x y w")
QUBITS = cirq.LineQubit.range(2)
CIRCUIT = cirq.Circuit(
    cirq.rx(X)(QUBITS[0]), cirq.ry(0.5 * Y + 0.25)(QUBITS[1]),
    cirq.ZZPowGate(exponent=W * X)(*QUBITS), cirq.H(QUBITS[0]),
    cirq.rz(sympy.sin(W) * Y)(QUBITS[0]), cirq.CNotPowGate(exponent=2 * X - Y + 1)(*QUBITS))
# The gates' exponents in half turns (rx(θ) is an X power of θ / π).
EXPONENTS = [sympy.sympify(op.gate.exponent) for op in CIRCUIT.all_operations()
             if cirq.is_parameterized(op)]


def test_every_symbolic_exponent_becomes_one_fresh_symbol():
    lowered = LoweredCircuit(CIRCUIT, [X, Y, W])
    assert len(lowered.gate_symbols) == 5
    assert cirq.parameter_names(lowered.circuit) == set(lowered.gate_symbols)
    assert len(list(lowered.circuit.all_operations())) == len(list(CIRCUIT.all_operations()))
    # Linear exponents come first (one matmul), non-linear ones after.
    linear = [str(op.gate.exponent) for op in lowered.circuit.all_operations()
              if cirq.is_parameterized(op)]
    assert lowered.gate_symbols[:3] == [linear[0], linear[1], linear[4]]


def test_gate_values_equal_sympy_and_the_circuit_is_unchanged():
    lowered = LoweredCircuit(CIRCUIT, [X, Y, W])
    values = np.random.default_rng(0).uniform(-2, 2, (4, 3))
    gate_values = lowered.gate_values(tf.constant(values, tf.float64)).numpy()
    by_name = dict(zip(lowered.gate_symbols, gate_values.T))
    names = [str(op.gate.exponent) for op in lowered.circuit.all_operations()
             if cirq.is_parameterized(op)]
    for name, expression in zip(names, EXPONENTS):
        expected = [float(expression.subs(dict(zip([X, Y, W], row)))) for row in values]
        np.testing.assert_allclose(by_name[name], expected, atol=1e-12)
    for row, lowered_row in zip(values, gate_values):
        original = cirq.final_state_vector(CIRCUIT, param_resolver=dict(zip("xyw", row)),
                                           qubit_order=QUBITS, dtype=np.complex128)
        state = cirq.final_state_vector(
            lowered.circuit, param_resolver=dict(zip(lowered.gate_symbols, lowered_row)),
            qubit_order=QUBITS, dtype=np.complex128)
        np.testing.assert_allclose(state, original, atol=1e-12)


def test_gradients_of_gate_values_follow_the_chain_rule():
    lowered = LoweredCircuit(CIRCUIT, [X, Y, W])
    values = tf.constant([[0.3, -0.7, 1.1]], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(values)
        gate_values = lowered.gate_values(values)
    jacobian = tape.jacobian(gate_values, values).numpy()[0, :, 0, :]
    names = [str(op.gate.exponent) for op in lowered.circuit.all_operations()
             if cirq.is_parameterized(op)]
    point = dict(zip([X, Y, W], [0.3, -0.7, 1.1]))
    for name, expression in zip(names, EXPONENTS):
        row = lowered.gate_symbols.index(name)
        expected = [float(sympy.diff(expression, s).subs(point)) for s in (X, Y, W)]
        np.testing.assert_allclose(jacobian[row], expected, atol=1e-12)


def test_unsupported_parameters_and_unknown_symbols_are_refused():
    phased = cirq.Circuit(cirq.PhasedXPowGate(phase_exponent=W)(QUBITS[0]))
    with pytest.raises(ValueError, match="symbolic parameters tfq_meta cannot evaluate"):
        LoweredCircuit(phased, [W])
    with pytest.raises(ValueError, match=r"uses symbols \['w'\] that are neither data"):
        LoweredCircuit(cirq.Circuit(cirq.rx(W * X)(QUBITS[0])), [X])
