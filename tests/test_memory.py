"""Memory estimates in closed form, and batch splitting against the unsplit evaluation and Cirq,
with static and traced unknown batch sizes."""
import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta import memory, ops

X, A = sympy.symbols("x a")
QUBITS = cirq.LineQubit.range(2)
CIRCUIT = cirq.Circuit(cirq.rx(X)(QUBITS[0]), cirq.ry(A * X)(QUBITS[1]), cirq.CNOT(*QUBITS),
                       cirq.rz(A)(QUBITS[0]), cirq.H(QUBITS[1]))
OBSERVABLES = ["Z0", "X1", "Z0*Y1"]


def cirq_values(values):
    simulator = cirq.Simulator(dtype=np.complex128)
    observables = ops.parse_observables(OBSERVABLES, QUBITS)
    return np.array([np.real(simulator.simulate_expectation_values(
        CIRCUIT, observables, param_resolver={"x": x, "a": a})) for x, a in values])


def test_statevector_memory_estimate():
    # 12 qubits, 100 operations: 8 B * 4096 * 102 = 3.19 MiB per example.
    per_example = 8 * 4096 * 102
    assert memory.statevector_max_batch(12, 100, available_bytes=100 * per_example) == 50
    assert memory.statevector_max_batch(12, 100, "complex128",
                                        available_bytes=100 * per_example) == 25
    with pytest.raises(ValueError, match="needs about 3.2 MiB per example.*engine='qsim'"):
        memory.statevector_max_batch(12, 100, available_bytes=per_example)


def test_qsim_memory_estimate_closed_form():
    memory.check_qsim_memory(20, available_bytes=8 * 2 ** 20 * 3 * 64)  # fits even on 64 threads
    with pytest.raises(ValueError, match="20 qubits: one state vector takes 8.0 MiB"):
        memory.check_qsim_memory(20, available_bytes=8 * 2 ** 20)


def small_chunks(monkeypatch, rows=4):
    """As if only ``rows`` examples fit in memory: the compiled circuit splits larger batches."""
    monkeypatch.setattr(ops, "statevector_max_batch", lambda *args, **kwargs: rows)


def values_and_gradient(function, values):
    with tf.GradientTape() as tape:
        tape.watch(values)
        result = function(values)
        loss = tf.reduce_sum(tf.abs(result) ** 2 if result.dtype.is_complex else result)
    return result, tape.gradient(loss, values)


@pytest.mark.parametrize("traced", [False, True, "xla"])
def test_split_expectations_equal_unsplit_and_cirq(monkeypatch, traced):
    values = tf.constant(np.random.default_rng(3).uniform(-2, 2, (11, 2)), tf.float32)
    whole = ops.CompiledCircuit(CIRCUIT, [X, A], engine="statevector")
    small_chunks(monkeypatch)  # 3 chunks of 4, the last padded
    split = ops.CompiledCircuit(CIRCUIT, [X, A], engine="statevector")
    expectations = [lambda v, c=c: c.expectations(v, OBSERVABLES) for c in (whole, split)]
    if traced == "xla":  # the gradient inside the compiled step, the batch known while tracing
        functions = [tf.function(lambda v, f=f: values_and_gradient(f, v), jit_compile=True)
                     for f in expectations]
    else:
        if traced:
            signature = [tf.TensorSpec([None, 2], tf.float32)]
            expectations = [tf.function(f, input_signature=signature) for f in expectations]
        functions = [lambda v, f=f: values_and_gradient(f, v) for f in expectations]
    (expected, expected_gradient), (result, gradient) = [
        [tensor.numpy() for tensor in f(values)] for f in functions]
    np.testing.assert_allclose(result, expected, atol=1e-6)
    np.testing.assert_allclose(gradient, expected_gradient, atol=1e-5)
    np.testing.assert_allclose(result, cirq_values(values.numpy()), atol=1e-5)


def test_split_states_equal_cirq_in_a_traced_unknown_batch(monkeypatch):
    small_chunks(monkeypatch, rows=3)
    compiled = ops.CompiledCircuit(CIRCUIT, [X, A])
    states = tf.function(compiled.states, input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    values = np.random.default_rng(4).uniform(-2, 2, (7, 2))
    result = states(tf.constant(values, tf.float32)).numpy()
    assert result.shape == (7, 4)
    for state, (x, a) in zip(result, values):
        expected = cirq.final_state_vector(CIRCUIT, param_resolver={"x": x, "a": a},
                                           qubit_order=QUBITS, dtype=np.complex128)
        assert abs(np.vdot(expected, state)) == pytest.approx(1.0, abs=1e-5)  # up to a phase


def test_split_batch_runs_every_chunk_and_keeps_row_order():
    seen = []

    def rows_squared(chunk):
        seen.append(chunk.shape[0])
        return chunk ** 2

    values = tf.reshape(tf.range(10, dtype=tf.float32), [5, 2])
    result = memory.split_batch(rows_squared, values, max_batch=2, output_dtype=tf.float32)
    np.testing.assert_array_equal(result.numpy(), values.numpy() ** 2)
    assert set(seen) == {2}  # 3 chunks of 2 rows, the last padded
    seen.clear()
    values = tf.reshape(tf.range(14, dtype=tf.float32), [7, 2])
    result = memory.split_batch(rows_squared, values, max_batch=5, output_dtype=tf.float32)
    np.testing.assert_array_equal(result.numpy(), values.numpy() ** 2)
    assert set(seen) == {4}  # 2 chunks of 4 rows, not 5: the work of 8 rows, not 10
    assert memory.split_batch(rows_squared, values, 7, tf.float32).shape == (7, 2)


def test_traced_batch_of_a_small_circuit_is_checked_rather_than_split(monkeypatch):
    # Chunks this large are out of reach, so the graph holds a check instead of the split branch.
    monkeypatch.setattr(memory, "ALWAYS_SPLITTABLE", 2)
    double = tf.function(lambda v: memory.split_batch(lambda c: 2 * c, v, 3, tf.float32),
                         input_signature=[tf.TensorSpec([None, 1], tf.float32)])
    np.testing.assert_array_equal(double(tf.ones([3, 1])).numpy(), 2 * np.ones((3, 1)))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="more than 3 examples does not fit in memory"):
        double(tf.ones([4, 1]))
