"""The statevector engine end to end: expectations and states against Cirq, in complex64 and
complex128, under TensorFlow's executor and under XLA, and the size of its graphs."""
import cirq
import keras
import numpy as np
import pytest
import tensorflow as tf

from engine_oracle import A, B, C, OBSERVABLES, QUBITS, SYMBOLS, X, Y, cirq_values, random_circuit
from tfq_meta import PQC, circuits, ops
from tfq_meta.engines.statevector import MAX_QUBITS, StatevectorEngine
from tfq_meta.lowering import LoweredCircuit


def test_complex128_precision():
    circuit = random_circuit(5)
    values = np.random.default_rng(5).uniform(-2, 2, (3, 5))
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="statevector",
                                         state_dtype="complex128")
    result = expectation(tf.constant(values, tf.float64))
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), cirq_values(circuit, values, OBSERVABLES),
                               atol=1e-12)


def test_statevector_model_compiles_with_xla():
    spec = circuits.reuploading_circuit(3, n_layers=2, trainable_scaling=True)
    inputs = keras.Input((3,))
    layer = PQC(spec, ["Z0", "X1*Z2"], engine="statevector")
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    assert model.jit_compile is True
    x = np.random.default_rng(0).uniform(-1, 1, (6, 3)).astype(np.float32)
    compiled = tf.function(lambda v: model(v), jit_compile=True)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), atol=1e-6)
    qsim_layer = PQC(spec, ["Z0", "X1*Z2"], engine="qsim")
    qsim_layer.build((None, 3))
    qsim_layer.set_weights(layer.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), qsim_layer(x).numpy(), atol=1e-5)


def test_statevector_runs_any_constant_unitary_qsim_cannot():
    rng = np.random.default_rng(7)
    circuit = random_circuit(7, n_operations=8) + cirq.Circuit(
        cirq.CCZ(*QUBITS), cirq.MatrixGate(cirq.testing.random_unitary(4, random_state=7)).on(
            QUBITS[2], QUBITS[0]), cirq.CCX(QUBITS[1], QUBITS[2], QUBITS[0]), cirq.rx(A)(QUBITS[1]))
    values = rng.uniform(-2, 2, (3, 5)).astype(np.float32)
    result = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES)(values)
    np.testing.assert_allclose(result.numpy(), cirq_values(circuit, values, OBSERVABLES), atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_statevector_xla_formulation_matches_to_second_order(seed):
    # Under XLA the engine builds its contractions as sums of sliced products instead of
    # einsums and matmuls: both must agree with Cirq and with each other, derivatives included.
    # Six rotations in a row make a run longer than one polynomial (MAX_TERMS).
    circuit = random_circuit(seed, n_operations=20) + cirq.Circuit(
        cirq.MatrixGate(cirq.testing.random_unitary(4, random_state=seed)).on(QUBITS[2], QUBITS[0]),
        cirq.CCX(*QUBITS), cirq.ISwapPowGate(exponent=A).on(QUBITS[1], QUBITS[0]),
        cirq.ry(X)(QUBITS[2]), cirq.S(QUBITS[1]),
        [rotation(symbol)(QUBITS[1]) for rotation, symbol in zip(
            [cirq.rx, cirq.ry, cirq.rz] * 2, [X, Y, A, B, C, A * X])])
    rng = np.random.default_rng(seed)
    values = tf.constant(rng.uniform(-2, 2, (4, len(SYMBOLS))), tf.float32)
    cotangent = tf.constant(rng.normal(size=(4, len(OBSERVABLES))), tf.float32)
    expectation = ops.CircuitExpectation(circuit, SYMBOLS, OBSERVABLES, engine="statevector")

    def derivatives(v):
        with tf.GradientTape() as outer:
            outer.watch(v)
            with tf.GradientTape() as inner:
                inner.watch(v)
                result = expectation(v)
                loss = tf.reduce_sum(cotangent * result)
            gradient = inner.gradient(loss, v)
            curvature = tf.reduce_sum(gradient ** 2)
        return result, gradient, outer.gradient(curvature, v)

    graph = [t.numpy() for t in tf.function(derivatives)(values)]
    xla = [t.numpy() for t in tf.function(derivatives, jit_compile=True)(values)]
    np.testing.assert_allclose(graph[0], cirq_values(circuit, values.numpy(), OBSERVABLES),
                               atol=1e-5)
    for a, b in zip(xla, graph):
        np.testing.assert_allclose(a, b, atol=1e-4 * max(1.0, np.max(np.abs(b))))


def test_statevector_graphs_stay_small():
    # Meta-learning traces second derivatives of the engine, so its graph size is a feature:
    # the per-gate engine this one replaced built 1376 nodes forward and 19259 for the second
    # order of this 4-qubit, 41-gate circuit (now about 90 and 1200).
    spec = circuits.reuploading_circuit(4, n_layers=2)
    compiled = ops.CompiledCircuit(spec.circuit, spec.data_symbols + spec.weight_symbols)
    engine = StatevectorEngine(compiled.lowered.circuit, compiled.lowered.gate_symbols,
                               compiled.prepare(["Z0", "X1*Y2"]), compiled.qubits)

    def second_order(values):
        with tf.GradientTape() as outer:
            outer.watch(values)
            with tf.GradientTape() as inner:
                inner.watch(values)
                result = tf.reduce_sum(engine(values))
            curvature = tf.reduce_sum(inner.gradient(result, values) ** 2)
        return outer.gradient(curvature, values)

    spec_values = tf.TensorSpec([None, len(compiled.lowered.gate_symbols)])
    for function, limit in ((engine, 200), (second_order, 2500)):
        graph = tf.function(function).get_concrete_function(spec_values).graph
        assert len(graph.as_graph_def().node) < limit



@pytest.mark.parametrize("jit_compile", [False, True])
def test_states_equal_cirq_up_to_a_global_phase(jit_compile):
    # A CNOT ring at the end is a permutation the engine leaves to the observables: states()
    # must apply it.
    circuit = random_circuit(11) + cirq.Circuit(
        cirq.CNOT(QUBITS[i], QUBITS[(i + 1) % 3]) for i in range(3))
    lowered = LoweredCircuit(circuit, SYMBOLS)
    engine = StatevectorEngine(lowered.circuit, lowered.gate_symbols, [], QUBITS, tf.complex128)
    assert engine.program.final is not None
    values = np.random.default_rng(11).uniform(-2, 2, (4, len(SYMBOLS)))
    states = tf.function(lambda v: engine.states(lowered.gate_values(v)),
                         jit_compile=jit_compile)(tf.constant(values)).numpy()
    assert states.shape == (4, 8)
    for state, row in zip(states, values):
        expected = cirq.final_state_vector(
            cirq.resolve_parameters(circuit, {str(s): v for s, v in zip(SYMBOLS, row)}),
            qubit_order=QUBITS, dtype=np.complex128)
        phase = np.vdot(expected, state)
        np.testing.assert_allclose(abs(phase), 1, atol=1e-12)
        np.testing.assert_allclose(state, phase * expected, atol=1e-12)


def test_circuit_without_parameters_broadcasts_over_the_batch():
    circuit = cirq.Circuit(cirq.H(QUBITS[0]), cirq.CNOT(*QUBITS[:2]), cirq.S(QUBITS[1]))
    observables = ops.parse_observables(["Z0*Z1", "X0*Y1", "Y1"], QUBITS[:2])
    engine = StatevectorEngine(circuit, [], observables, QUBITS[:2])
    gate_values = tf.zeros([3, 0])
    np.testing.assert_allclose(engine(gate_values).numpy(), [[1.0, 1.0, 0.0]] * 3, atol=1e-6)
    bell = np.array([1, 0, 0, 1j]) / np.sqrt(2)
    np.testing.assert_allclose(engine.states(gate_values).numpy(), [bell] * 3, atol=1e-6)


def test_too_many_qubits_are_refused():
    qubits = cirq.LineQubit.range(MAX_QUBITS + 1)
    with pytest.raises(ValueError, match=f"at most {MAX_QUBITS} qubits.*engine='qsim'"):
        StatevectorEngine(cirq.Circuit(cirq.H.on_each(*qubits)), [], [], qubits)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_one_qubit_closed_form(jit_compile):
    # One qubit is the edge case of the state's views. ry(a) takes the Bloch vector to
    # (sin a, 0, cos a); rx(b) turns it about X to (sin a, -cos a sin b, cos a cos b).
    qubit = cirq.LineQubit(0)
    circuit = cirq.Circuit(cirq.ry(A)(qubit), cirq.rx(B)(qubit))
    observables = ["Z0", "X0", "Y0"]
    expectation = ops.CircuitExpectation(circuit, [A, B], observables, engine="statevector")
    values = np.random.default_rng(4).uniform(-2, 2, (5, 2)).astype(np.float32)
    result = tf.function(expectation, jit_compile=jit_compile)(tf.constant(values)).numpy()
    a, b = values.T
    np.testing.assert_allclose(result, np.stack([np.cos(a) * np.cos(b), np.sin(a),
                                                 -np.cos(a) * np.sin(b)], axis=1), atol=1e-6)


def test_xla_gate_gradients_match_the_executors_to_third_order():
    # Under XLA a gate matrix's gradient is a sum over the rest of the state, of partial sums
    # (on 6 qubits a single-qubit gate's has 32 terms: every halving runs), with a hand-written
    # gradient of its own, itself differentiated at third order. The executor's are autodiff's.
    spec = circuits.reuploading_circuit(6, n_layers=2)
    compiled = ops.CompiledCircuit(spec.circuit, spec.data_symbols + spec.weight_symbols)
    engine = StatevectorEngine(compiled.lowered.circuit, compiled.lowered.gate_symbols,
                               compiled.prepare(["Z0", "X1*Y4", "Z5"]), compiled.qubits,
                               tf.complex128)
    rng = np.random.default_rng(5)
    values = tf.constant(rng.uniform(-2, 2, (3, len(compiled.lowered.gate_symbols))))
    cotangent = tf.constant(rng.normal(size=(3, 3)))

    def derivatives(v):
        with tf.GradientTape() as third:
            third.watch(v)
            with tf.GradientTape() as second:
                second.watch(v)
                with tf.GradientTape() as first:
                    first.watch(v)
                    loss = tf.reduce_sum(cotangent * engine(v))
                gradient = first.gradient(loss, v)
                curvature = tf.reduce_sum(gradient ** 2)
            hessian_vector = second.gradient(curvature, v)
            size = tf.reduce_sum(hessian_vector ** 2)
        return gradient, hessian_vector, third.gradient(size, v)

    executor = tf.function(derivatives)(values)
    xla = tf.function(derivatives, jit_compile=True)(values)
    for a, b in zip(xla, executor):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-9)
