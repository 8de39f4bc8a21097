"""The qsim engine's chunked op calls: a batch sent to TFQ as op calls of at most CHUNK_SIZE
circuits computes what one call computes, and what Cirq and finite differences compute, for
values, first and second derivatives, shots, noise and quantum data; at batches the chunk size
does not divide, unknown until run time, 0 and 1, and through a SavedModel. Both engines against
Cirq over the whole gate set, and the engine choice: tests/test_engines.py."""
import cirq
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_quantum as tfq

from engine_oracle import (OBSERVABLES, QUBITS, SYMBOLS, cirq_values, maml_fit_step,
                           finite_difference_derivatives, random_circuit)
from tfq_meta import models, ops
from tfq_meta.engines import qsim
from tfq_meta.export import export, load

# Small circuits, so a small chunk: 7 rows are chunks of 3, 3 and 1 (a one-circuit op call is
# TFQ's other code path), and the second order's 2 · n_gates · 7 shifted rows dozens of chunks.
CHUNK, BATCH = 3, 7
ONE_CALL = 10 ** 9


@pytest.fixture
def chunk_size(monkeypatch):
    """Sets qsim.CHUNK_SIZE: read when an op call is built (eagerly: at each call)."""
    return lambda size: monkeypatch.setattr(qsim, "CHUNK_SIZE", size)


def derivative_tensors(expectation, values, cotangent, direction, data_circuits=None):
    """Values ``[batch, n_obs]``, the gradient of sum(cotangent · E) ``[batch, n_symbols]`` and,
    per row, its Hessian times ``direction`` (rows are independent examples, so the gradient of
    sum(gradient · direction) is the per-row Hessian-vector product)."""
    values, cotangent, direction = (tf.cast(t, tf.float32) for t in (values, cotangent, direction))
    with tf.GradientTape() as outer:
        outer.watch(values)
        with tf.GradientTape() as inner:
            inner.watch(values)
            result = expectation(values, data_circuits)
            loss = tf.reduce_sum(cotangent * result)
        gradient = inner.gradient(loss, values)
        directional = tf.reduce_sum(gradient * direction)
    return result, gradient, outer.gradient(directional, values)


def derivatives(*arguments, **options):
    """:func:`derivative_tensors`, eagerly, as NumPy arrays."""
    return [t.numpy() for t in derivative_tensors(*arguments, **options)]


def record_op_calls(expectation):
    """The batch size of every forward and gradient op call the engine makes, eagerly."""
    engine = next(iter(expectation.compiled._engines.values()))
    sizes = []

    def recording(function):
        def call(*arguments):
            sizes.append(int(tf.shape(arguments[0])[0]))
            return function(*arguments)
        return call

    engine._forward_op = recording(engine._forward_op)
    engine._differentiate = recording(engine._differentiate)
    return sizes


@pytest.mark.parametrize("seed", [0, 1])
def test_chunks_equal_one_call_cirq_and_finite_differences_to_second_order(seed, chunk_size):
    circuit = random_circuit(seed, n_operations=14)
    rng = np.random.default_rng(seed)
    values = rng.uniform(-2, 2, (BATCH, len(SYMBOLS)))
    cotangent = rng.normal(size=(BATCH, len(OBSERVABLES)))
    direction = rng.normal(size=(BATCH, len(SYMBOLS)))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="qsim")
    chunk_size(ONE_CALL)
    one_call = derivatives(expectation, values, cotangent, direction)
    chunk_size(CHUNK)
    sizes = record_op_calls(expectation)
    chunked = derivatives(expectation, values, cotangent, direction)
    # Every op call, forward and gradient, first and second order, took at most CHUNK circuits.
    assert max(sizes) == CHUNK and len(sizes) > 20
    for one, chunk in zip(one_call, chunked):
        np.testing.assert_allclose(chunk, one, rtol=1e-5, atol=1e-5 * np.max(np.abs(one)))

    np.testing.assert_allclose(chunked[0], cirq_values(circuit, values, OBSERVABLES), atol=1e-5)
    oracle = [finite_difference_derivatives(circuit, values[i:i + 1], cotangent[i:i + 1])
              for i in range(BATCH)]
    gradient = np.array([g for g, _ in oracle])
    hessian_direction = np.array([h @ d for (_, h), d in zip(oracle, direction)])
    # As in test_engines: float32 round-off grows with the entries; 1e-4 of their scale.
    np.testing.assert_allclose(chunked[1], gradient, atol=1e-4 * max(1.0, np.abs(gradient).max()))
    np.testing.assert_allclose(chunked[2], hessian_direction,
                               atol=1e-4 * max(1.0, np.abs(hessian_direction).max()))
    assert np.abs(hessian_direction).max() > 0.1


def test_quantum_data_chunks_run_each_example_on_its_own_circuit(chunk_size):
    circuit = random_circuit(2, n_operations=10)
    rng = np.random.default_rng(2)
    values = rng.uniform(-2, 2, (BATCH, len(SYMBOLS)))
    data = [cirq.Circuit(cirq.X(QUBITS[i % 3]), cirq.H(QUBITS[(i + 1) % 3]) ** (i / BATCH))
            for i in range(BATCH)]
    cotangent = rng.normal(size=(BATCH, len(OBSERVABLES)))
    direction = rng.normal(size=(BATCH, len(SYMBOLS)))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="qsim")
    chunk_size(ONE_CALL)
    one_call = derivatives(expectation, values, cotangent, direction, tfq.convert_to_tensor(data))
    chunk_size(CHUNK)
    chunked = derivatives(expectation, values, cotangent, direction, tfq.convert_to_tensor(data))
    for one, chunk in zip(one_call, chunked):
        np.testing.assert_allclose(chunk, one, rtol=1e-5, atol=1e-5 * np.max(np.abs(one)))
    expected = np.concatenate([cirq_values(d + circuit, values[i:i + 1], OBSERVABLES)
                               for i, d in enumerate(data)])
    np.testing.assert_allclose(chunked[0], expected, atol=1e-5)


@pytest.mark.parametrize("batch", [0, 1, CHUNK, BATCH])
def test_batches_unknown_until_run_time(batch, chunk_size):
    circuit = random_circuit(3, n_operations=12)
    rng = np.random.default_rng(batch)
    values = rng.uniform(-2, 2, (batch, len(SYMBOLS))).astype(np.float32)
    cotangent = rng.normal(size=(batch, len(OBSERVABLES))).astype(np.float32)
    direction = rng.normal(size=(batch, len(SYMBOLS))).astype(np.float32)
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="qsim")
    chunk_size(CHUNK)
    spec = tf.TensorSpec([None, len(SYMBOLS)], tf.float32)
    traced = tf.function(lambda v, c, d: derivative_tensors(expectation, v, c, d),
                         input_signature=[spec, tf.TensorSpec([None, len(OBSERVABLES)]), spec])
    graph = [t.numpy() for t in traced(values, cotangent, direction)]
    assert [t.shape for t in graph] == [(batch, len(OBSERVABLES)), values.shape, values.shape]
    if batch:
        chunk_size(ONE_CALL)
        for one, chunk in zip(derivatives(expectation, values, cotangent, direction), graph):
            np.testing.assert_allclose(chunk, one, rtol=1e-5, atol=1e-5 * np.max(np.abs(one)))


def test_sampled_chunks_draw_independent_shots(chunk_size):
    """Every row the same circuit and values: each within shot noise of the exact value, and the
    chunks' shots independent (a chunk repeating another's random stream would repeat values)."""
    shots, batch, h = 4000, 4 * CHUNK, 1e-4
    q0, q1, q2 = QUBITS
    x, y, a, b, c = SYMBOLS
    # Each symbol in one rotation, so each shift-rule gradient entry is (E+ - E-) / 2 over the
    # two observables' shots: standard error <= 1 / sqrt(shots).
    circuit = cirq.Circuit(cirq.H.on_each(*QUBITS), cirq.rx(x)(q0), cirq.ry(y)(q1),
                           cirq.CNOT(q0, q1), cirq.rx(a)(q2), cirq.CZ(q1, q2), cirq.ry(b)(q2),
                           cirq.rz(c)(q0), cirq.CNOT(q2, q0))
    observables = ["Z0", "X1*Z2"]
    values = np.repeat(np.random.default_rng(4).uniform(-2, 2, (1, len(SYMBOLS))), batch, 0)
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, observables, engine="qsim",
                                         repetitions=shots)
    chunk_size(CHUNK)
    inputs = tf.constant(values, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        sampled = expectation(inputs)
    gradient = tape.gradient(sampled, inputs).numpy()
    sampled = sampled.numpy()
    assert sampled.shape == (batch, 2) and gradient.shape == values.shape

    exact = cirq_values(circuit, values[:1], observables)[0]
    sigma = np.sqrt((1 - exact ** 2) / shots)        # one Pauli string's standard error
    assert np.all(np.abs(sampled - exact) <= 5 * sigma + 1e-6)
    chunks = sampled.reshape(4, CHUNK, 2)
    assert not any(np.array_equal(chunks[0], chunks[k]) for k in (1, 2, 3))
    # The rows' spread is the shot noise (chi with 11 degrees of freedom: 0.3-2 sigma holds
    # with probability 1 - 6e-5 per observable).
    spread = sampled.std(0, ddof=1)
    assert np.all((0.3 * sigma <= spread) & (spread <= 2 * sigma)), (spread, sigma)

    unit = h * np.eye(len(SYMBOLS))
    exact_gradient = np.array([(cirq_values(circuit, values[:1] + e, observables)
                                - cirq_values(circuit, values[:1] - e, observables)).sum()
                               / (2 * h) for e in unit])
    assert np.all(np.abs(gradient - exact_gradient) <= 5 / np.sqrt(shots))
    assert np.all(np.abs(gradient.mean(0) - exact_gradient) <= 5 / np.sqrt(shots * batch))
    assert not any(np.array_equal(gradient[:CHUNK], gradient[k:k + CHUNK])
                   for k in range(CHUNK, batch, CHUNK))


def test_noisy_chunks_equal_density_matrix_simulator(chunk_size):
    trajectories, noise = 4000, cirq.depolarize(0.03)
    circuit = random_circuit(5, n_operations=10)
    observables = ["Z0", "X1*Y2"]
    values = np.random.default_rng(5).uniform(-2, 2, (BATCH, len(SYMBOLS)))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, observables, engine="qsim",
                                         noise=noise, trajectories=trajectories)
    chunk_size(CHUNK)
    noisy = expectation(tf.constant(values, tf.float32)).numpy()
    simulator = cirq.DensityMatrixSimulator(dtype=np.complex128, noise=noise)
    qubits = sorted(circuit.all_qubits())
    expected = np.array([np.real(simulator.simulate_expectation_values(
        circuit, ops.parse_observables(observables, qubits), qubit_order=qubits,
        param_resolver={str(s): v for s, v in zip(SYMBOLS, row)})) for row in values])
    # Each trajectory's value lies in [-1, 1]: standard error <= 1 / sqrt(trajectories).
    np.testing.assert_allclose(noisy, expected, atol=5 / np.sqrt(trajectories))
    assert np.max(np.abs(expected - cirq_values(circuit, values, observables))) > 0.05


def test_chunked_model_exports_and_serves(tmp_path, chunk_size):
    chunk_size(2)
    model = models.student(n_features=1, n_qubits=2, n_layers=1, engine="qsim")
    x = np.linspace(-1, 1, 5, dtype=np.float32)[:, None]
    served = load(export(model, tmp_path / "student"))
    library = served._loaded.signatures["serve"].graph.as_graph_def().library
    assert any("While" in node.op for f in library.function for node in f.node_def)
    chunk_size(ONE_CALL)
    for rows in (x, x[:1], x[:0]):
        np.testing.assert_allclose(served.serve(rows), model(rows).numpy(), atol=1e-6)


def test_a_maml_fit_step_equals_the_statevector_engines():
    """MetaLearner.fit runs the second order inside a while loop in a graph."""
    for got, want in zip(maml_fit_step("qsim"), maml_fit_step("statevector")):
        np.testing.assert_allclose(got, want, atol=1e-4)
