"""CircuitFidelity against overlaps of Cirq's final states and closed forms, on both methods;
the method choice; and the memory guard of traced batches of unknown size."""
import cirq
import numpy as np
import pytest
import sympy
import tensorflow as tf

from conftest import graph_op_types
from tfq_meta import fidelity, memory, ops
from tfq_meta.engines import statevector

X, Y, W = sympy.symbols("x y w")
QUBITS = cirq.LineQubit.range(3)
# Expressions as exponents, entanglers and a constant prefix: everything the lowering handles.
CIRCUIT = cirq.Circuit(
    cirq.H(QUBITS[2]), cirq.rx(W * X)(QUBITS[0]), cirq.ry(0.5 * Y + 0.25)(QUBITS[1]),
    cirq.CNOT(QUBITS[0], QUBITS[1]), cirq.ZZPowGate(exponent=sympy.sin(W) * Y)(*QUBITS[1:]),
    cirq.rz(X)(QUBITS[2]), cirq.CZ(QUBITS[2], QUBITS[0]))
SYMBOLS = [X, Y, W]


def cirq_states(values):
    return np.array([cirq.final_state_vector(
        CIRCUIT, param_resolver=dict(zip(["x", "y", "w"], row)), qubit_order=QUBITS,
        dtype=np.complex128) for row in values])


def cirq_fidelities(a, b):
    return np.abs(cirq_states(a).conj() @ cirq_states(b).T) ** 2


@pytest.mark.parametrize("method", ["statevector", "pairwise"])
def test_fidelities_equal_cirq_overlaps(method):
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-2, 2, (5, 3)), rng.uniform(-2, 2, (4, 3))
    computed = fidelity.CircuitFidelity(CIRCUIT, SYMBOLS, method=method)
    assert computed.method == method
    np.testing.assert_allclose(computed(a, b).numpy(), cirq_fidelities(a, b), atol=1e-5)
    gram = computed(a).numpy()
    np.testing.assert_allclose(gram, cirq_fidelities(a, a), atol=1e-5)
    np.testing.assert_allclose(np.diag(gram), 1.0, atol=1e-5)


def test_one_qubit_closed_form_in_complex128():
    values = np.array([[0.0], [np.pi / 2], [np.pi], [0.3]])
    computed = fidelity.CircuitFidelity(cirq.Circuit(cirq.rx(X)(QUBITS[0])), [X],
                                        state_dtype="complex128")
    result = computed(values)
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), np.cos((values - values.T) / 2) ** 2, atol=1e-12)


def test_states_are_cirq_states_up_to_a_phase():
    values = np.random.default_rng(1).uniform(-2, 2, (4, 3))
    states = fidelity.CircuitFidelity(CIRCUIT, SYMBOLS).states(values).numpy()
    overlaps = np.abs(np.sum(cirq_states(values).conj() * states, axis=1))
    np.testing.assert_allclose(overlaps, 1.0, atol=1e-5)


def test_auto_method_follows_the_fidelity_crossover(monkeypatch):
    monkeypatch.setattr(fidelity, "FIDELITY_STATEVECTOR_MAX_QUBITS", 2)
    assert fidelity.CircuitFidelity(cirq.Circuit(cirq.rx(X)(QUBITS[0]), cirq.rx(Y)(QUBITS[1])),
                                    [X, Y]).method == "statevector"
    assert fidelity.CircuitFidelity(CIRCUIT, SYMBOLS).method == "pairwise"


def test_bad_options():
    with pytest.raises(ValueError, match=r"`method` must be one of \['auto'"):
        fidelity.CircuitFidelity(CIRCUIT, SYMBOLS, method="exact")
    with pytest.raises(ValueError, match="`state_dtype='complex128'` needs method='statevector'"):
        fidelity.CircuitFidelity(CIRCUIT, SYMBOLS, method="pairwise", state_dtype="complex128")
    with pytest.raises(TypeError, match="`circuit` must be a cirq.Circuit"):
        fidelity.CircuitFidelity("rx(x) q0", [X])
    pairwise = fidelity.CircuitFidelity(CIRCUIT, SYMBOLS, method="pairwise")
    with pytest.raises(ValueError, match=r"states\(\) needs method='statevector'"):
        pairwise.states(np.zeros((1, 3)))
    traced = tf.function(pairwise, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    with pytest.raises(ValueError, match="method='pairwise' needs the numbers of rows"):
        traced(tf.zeros([2, 3]))


@pytest.fixture
def chunk_rows(monkeypatch):
    """Only 3 states fit in memory at once; records the row counts the state engine is traced
    or run with."""
    monkeypatch.setattr(ops, "statevector_max_batch", lambda *args, **kwargs: 3)
    rows, states = [], statevector.StatevectorEngine.states

    def recording_states(engine, gate_values):
        rows.append(gate_values.shape[0])
        return states(engine, gate_values)

    monkeypatch.setattr(statevector.StatevectorEngine, "states", recording_states)
    return rows


def test_traced_unknown_batch_is_split_into_chunks_that_fit(chunk_rows):
    # A kernel called inside tf.function with an unknown batch size must still split states that
    # do not fit in memory at once, and get the same Gram matrix and gradients.
    values = tf.constant(np.random.default_rng(2).uniform(-2, 2, (8, 3)), tf.float32)
    computed = fidelity.CircuitFidelity(CIRCUIT, SYMBOLS)

    def gram_and_gradient(v):
        with tf.GradientTape() as tape:
            tape.watch(v)
            gram = computed(v, v[:5])
            loss = tf.reduce_sum(gram * tf.reshape(tf.range(40, dtype=tf.float32), [8, 5]))
        return gram, tape.gradient(loss, v)

    traced = tf.function(gram_and_gradient, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    gram, gradient = traced(values)
    assert "StatelessWhile" in graph_op_types(traced)  # the chunked branch: a loop over chunks
    np.testing.assert_allclose(gram.numpy(), cirq_fidelities(values.numpy(), values.numpy()[:5]),
                               atol=1e-5)
    chunk_rows.clear()
    with tf.GradientTape() as tape:  # eager, static batch of 8 > 3: split as well
        tape.watch(values)
        eager = computed(values, values[:5])
        loss = tf.reduce_sum(eager * tf.reshape(tf.range(40, dtype=tf.float32), [8, 5]))
    assert set(chunk_rows) == {3}
    np.testing.assert_allclose(gram.numpy(), eager.numpy(), atol=1e-6)
    np.testing.assert_allclose(gradient.numpy(), tape.gradient(loss, values).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_traced_unknown_batch_of_a_small_circuit_gets_the_memory_check(chunk_rows, monkeypatch):
    # Where chunks are out of reach the guard is a check in the graph, not a silent skip.
    monkeypatch.setattr(memory, "ALWAYS_SPLITTABLE", 3)
    computed = fidelity.CircuitFidelity(CIRCUIT, SYMBOLS)
    traced = tf.function(computed, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    np.testing.assert_allclose(traced(tf.zeros([3, 3])).numpy(), np.ones((3, 3)), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="more than 3 examples does not fit in memory"):
        traced(tf.zeros([4, 3]))
