"""The batched gate matrices against Cirq's unitaries, in both formulations (executor and XLA)."""
import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta.engines.statevector import compile_circuit
from tfq_meta.engines.statevector.compiler import PolynomialStep
from tfq_meta.engines.statevector.matrices import BatchedMatrices

QUBITS = cirq.LineQubit.range(3)
# One run per qubit, of 1, 3 and 7 gates (the longest a product of polynomials, so the runs
# form a grid padded with identities), then parameterized gates on 2 and 3 qubits, one of them
# on axes out of order.
RUNS = {
    0: [cirq.rx(0.1), cirq.ry(0.1), cirq.T],
    1: [cirq.ry(0.1), cirq.H, cirq.rz(0.1), cirq.rx(0.1), cirq.S, cirq.ry(0.1), cirq.rz(0.1),
        cirq.XPowGate(global_shift=0.1), cirq.rx(0.1)],
    2: [cirq.YPowGate()],
}
MULTI = [(cirq.XX, (0, 1)), (cirq.CCZ, (0, 1, 2)), (cirq.ISWAP, (2, 0)), (cirq.CNOT, (1, 2))]


def lowered_circuit():
    """The circuit, its gate symbols' names, and the Cirq operations of each qubit's run and of
    each multi-qubit gate, keyed by the axes of the step they become."""
    names, operations = [], {}

    def lowered(gate):
        # Constant gates stay constant; the rest get one gate symbol as exponent, as lowering does.
        if gate in (cirq.T, cirq.H, cirq.S):
            return gate
        names.append(f"_g{len(names)}")
        return gate._with_exponent(sympy.Symbol(names[-1]))

    circuit = cirq.Circuit()
    for axis, gates in RUNS.items():
        operations[(axis,)] = [lowered(gate)(QUBITS[axis]) for gate in gates]
        circuit += operations[(axis,)]
    for gate, axes in MULTI:
        operations[axes] = [lowered(gate)(*(QUBITS[a] for a in axes))]
        circuit += operations[axes]
    return circuit, names, operations


@pytest.mark.parametrize("xla", [False, True])
def test_batched_matrices_are_the_gates_unitaries(xla):
    circuit, names, operations = lowered_circuit()
    program = compile_circuit(circuit, QUBITS, names)
    steps = [step for step in program.steps if isinstance(step, PolynomialStep)]
    assert sorted(step.axes for step in steps) == sorted(operations)
    assert max(len(step.factors) for step in steps) > 1  # a product of polynomials
    values = np.random.default_rng(0).uniform(-2, 2, (3, len(names)))
    matrices = BatchedMatrices(program.steps, len(names)).evaluate(
        tf.constant(values), tf.complex128, xla)
    assert len(matrices) == len(steps)
    for step, matrix in zip(steps, matrices):
        d = 2 ** len(step.axes)
        assert matrix.dtype == tf.complex128 and matrix.shape == [3] + [2] * (2 * len(step.axes))
        for example, row in zip(matrix.numpy().reshape(3, d, d), values):
            expected = cirq.Circuit(cirq.resolve_parameters(
                operations[step.axes], dict(zip(names, row)))).unitary(
                qubit_order=[QUBITS[a] for a in step.axes])
            phase = np.vdot(expected, example) / d
            np.testing.assert_allclose(abs(phase), 1, atol=1e-12)
            np.testing.assert_allclose(example, phase * expected, atol=1e-12)


def test_formulations_agree_in_complex64():
    circuit, names, _ = lowered_circuit()
    program = compile_circuit(circuit, QUBITS, names)
    table = BatchedMatrices(program.steps, len(names))
    values = tf.constant(np.random.default_rng(1).uniform(-2, 2, (5, len(names))), tf.float32)
    for executor, xla in zip(table.evaluate(values, tf.complex64, False),
                             table.evaluate(values, tf.complex64, True)):
        assert executor.dtype == xla.dtype == tf.complex64
        np.testing.assert_allclose(executor.numpy(), xla.numpy(), atol=1e-6)


def test_constant_program_has_no_matrices():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.CNOT(*QUBITS[:2]))
    program = compile_circuit(circuit, QUBITS, [])
    assert BatchedMatrices(program.steps, 0).evaluate(
        tf.zeros([2, 0]), tf.complex64, False) == []
