"""PQC expectations and gradients against Cirq's exact simulators and finite differences."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
import tensorflow_quantum as tfq

from conftest import cirq_expectations, resolved_expectations
from tfq_meta import PQC, circuits

OBSERVABLES = ["Z0", "Z0*Z1", "0.5*X2 - 0.25*Y1*Z2", "X0*Y1*Z2"]


def entangling_layer(**options):
    spec = circuits.reuploading_circuit(3, n_layers=2, entangler="cnot_ring",
                                        rotations=("rx", "ry", "rz"), trainable_scaling=True)
    layer = PQC(spec, OBSERVABLES, **options)
    layer.build((None, 3))
    return layer


def randomize(layer, rng):
    weights = rng.uniform(-np.pi, np.pi, layer.n_weights).astype(np.float32)
    layer.circuit_weights.assign(weights)
    return weights


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_expectations_equal_cirq(engine, rng):
    layer = entangling_layer(engine=engine)
    randomize(layer, rng)
    features = rng.uniform(-2, 2, (6, 3)).astype(np.float32)
    np.testing.assert_allclose(layer(features).numpy(), cirq_expectations(layer, features),
                               atol=1e-5)


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_symbol_expressions_and_grid_qubits_equal_cirq(engine, rng):
    x, y, a, b = sympy.symbols("x y a b")
    q = [cirq.GridQubit(1, 0), cirq.GridQubit(0, 1)]
    circuit = cirq.Circuit(
        cirq.ry(0.5 * x + 0.25)(q[0]), cirq.rx(a * y)(q[1]), cirq.ZZPowGate(exponent=a * b)(*q),
        cirq.rz(sympy.sin(b) * x)(q[0]), cirq.XPowGate(exponent=b)(q[1]), cirq.H(q[0]),
    )
    layer = PQC(circuit, ["Z0", "X0*Z1", "Y1"], data_symbols=[x, y], engine=engine)
    layer.build((None, 2))
    randomize(layer, rng)
    features = rng.uniform(-2, 2, (5, 2)).astype(np.float32)
    assert [str(s) for s in layer.weight_symbols] == ["a", "b"]
    np.testing.assert_allclose(layer(features).numpy(), cirq_expectations(layer, features),
                               atol=1e-5)


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_angle_encoding_closed_form(engine):
    layer = PQC(circuits.angle_encoding(3, rotation="ry"), ["Z0", "Z1", "Z2", "X1"], engine=engine)
    features = np.array([[0.1, 1.2, -2.0], [3.0, 0.0, 0.7]], np.float32)
    expected = np.concatenate([np.cos(features), np.sin(features[:, 1:2])], axis=1)
    np.testing.assert_allclose(layer(features).numpy(), expected, atol=1e-6)


def test_data_circuits_are_prepended(rng):
    layer = entangling_layer()
    randomize(layer, rng)
    qubits = layer.compiled_circuit.qubits
    data = [cirq.Circuit(cirq.X(qubits[0])), cirq.Circuit(cirq.H(qubits[1]), cirq.T(qubits[2])),
            cirq.Circuit()]
    features = rng.uniform(-2, 2, (3, 3)).astype(np.float32)
    got = layer([tfq.convert_to_tensor(data), features]).numpy()
    expected = [cirq_expectations(layer, features[i], circuit=data[i] + layer.circuit)[0]
                for i in range(3)]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_data_circuits_alone_without_data_symbols(rng):
    spec = circuits.hardware_efficient_ansatz(2, n_layers=2)
    layer = PQC(spec.circuit, ["Z0", "Z1"])
    layer.build((None,))
    randomize(layer, rng)
    data = [cirq.Circuit(cirq.X(cirq.LineQubit(1))), cirq.Circuit(cirq.H(cirq.LineQubit(0)))]
    got = layer(tfq.convert_to_tensor(data)).numpy()
    expected = [cirq_expectations(layer, [], circuit=c + layer.circuit)[0] for c in data]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def central_differences(layer, features, weights, cotangent, step=1e-4):
    """d(sum(cotangent * outputs))/d(weights, features) by central differences on Cirq (float64)."""
    def objective(w, x):
        return np.sum(cotangent * cirq_expectations(layer, x, w))

    def gradient(vector, evaluate):
        grad = np.zeros_like(vector)
        for index in np.ndindex(vector.shape):
            shift = np.zeros_like(vector)
            shift[index] = step
            grad[index] = (evaluate(vector + shift) - evaluate(vector - shift)) / (2 * step)
        return grad

    features = features.astype(np.float64)
    weights = weights.astype(np.float64)
    return (gradient(weights, lambda w: objective(w, features)),
            gradient(features, lambda x: objective(weights, x)))


# Tolerances: adjoint and parameter shift are exact (float32 round-off only); TFQ's central
# difference with step 1e-3 on float32 expectations has round-off error ~1e-7 / 1e-3 = 1e-4 per
# term, summed over a few terms.
@pytest.mark.parametrize("engine, differentiator, atol", [
    ("qsim", "adjoint", 1e-4), ("qsim", "parameter_shift", 1e-4),
    ("qsim", "finite_difference", 2e-3), ("statevector", None, 1e-4)])
def test_gradients_equal_finite_differences(engine, differentiator, atol, rng):
    layer = entangling_layer(engine=engine, differentiator=differentiator)
    weights = randomize(layer, rng)
    features = tf.constant(rng.uniform(-2, 2, (3, 3)), tf.float32)
    cotangent = rng.normal(size=(3, len(OBSERVABLES)))
    with tf.GradientTape() as tape:
        tape.watch(features)
        loss = tf.reduce_sum(tf.constant(cotangent, tf.float32) * layer(features))
    grad_weights, grad_features = tape.gradient(loss, [layer.circuit_weights, features])
    expected_weights, expected_features = central_differences(
        layer, features.numpy(), weights, cotangent)
    np.testing.assert_allclose(grad_weights.numpy(), expected_weights, atol=atol)
    np.testing.assert_allclose(grad_features.numpy(), expected_features, atol=atol)


def test_sampled_expectations_and_gradients_within_shot_noise(rng):
    shots = 4000
    layer = entangling_layer(repetitions=shots)
    assert layer.compiled_circuit.differentiator == "parameter_shift"
    weights = randomize(layer, rng)
    features = rng.uniform(-2, 2, (4, 3)).astype(np.float32)
    exact = cirq_expectations(layer, features)
    # Each observable is a sum of Pauli strings with |coefficients| summing to at most 0.75 or 1:
    # the standard error of its estimate is at most that sum / sqrt(shots). Allow 5 sigma.
    sigma = np.array([1.0, 1.0, 0.75, 1.0]) / np.sqrt(shots)
    inputs = tf.constant(features)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        sampled = layer(inputs)
        loss = tf.reduce_sum(sampled[:, 0])
    assert np.all(np.abs(sampled.numpy() - exact) <= 5 * sigma)
    assert np.any(np.abs(sampled.numpy() - exact) > 0), "sampled values must not be exact"
    grad_weights = tape.gradient(loss, layer.circuit_weights).numpy()
    expected, _ = central_differences(layer, features, weights, np.eye(4)[0][None].repeat(4, 0))
    # Weight w appears in one gate; its shift-rule estimate over 4 examples has standard error at
    # most sqrt(4 * 2 * (0.5 / sqrt(shots))**2) (each gate exponent is shifted by +-1/2 half-turn;
    # scale symbols enter through several gates' chain rule, so compare rotation weights only).
    rotation = [i for i, s in enumerate(layer.weight_symbols) if str(s).startswith("w")]
    sigma_gradient = np.sqrt(4 * 2) * 0.5 / np.sqrt(shots)
    assert np.all(np.abs(grad_weights[rotation] - expected[rotation]) <= 5 * sigma_gradient)


def test_noisy_expectations_equal_density_matrix_simulator(rng):
    trajectories = 20000
    layer = entangling_layer(noise=0.03, trajectories=trajectories)
    assert layer.compiled_circuit.noisy
    randomize(layer, rng)
    features = rng.uniform(-2, 2, (3, 3)).astype(np.float32)
    noisy = layer(features).numpy()
    density_matrix = cirq_expectations(layer, features, noise=cirq.depolarize(0.03))
    noiseless = cirq_expectations(layer, features)
    # Each trajectory's value lies in [-1, 1]: standard error <= 1 / sqrt(trajectories).
    tolerance = 5 / np.sqrt(trajectories)
    np.testing.assert_allclose(noisy, density_matrix, atol=tolerance)
    assert np.max(np.abs(density_matrix - noiseless)) > 4 * tolerance, "noise must matter here"


def test_noise_channels_in_circuit_use_noisy_simulation(rng):
    q = cirq.LineQubit.range(2)
    x = sympy.Symbol("x")
    circuit = cirq.Circuit(cirq.rx(x)(q[0]), cirq.amplitude_damp(0.3)(q[0]), cirq.CNOT(*q),
                           cirq.bit_flip(0.1)(q[1]))
    layer = PQC(circuit, ["Z0", "Z1"], data_symbols=[x], trajectories=20000)
    features = np.array([[0.4], [2.5]], np.float32)
    noisy = layer(features).numpy()
    expected = cirq_expectations(layer, features, noise=cirq.NO_NOISE)
    np.testing.assert_allclose(noisy, expected, atol=5 / np.sqrt(20000))


def test_qsim_model_is_never_jit_compiled():
    spec = circuits.reuploading_circuit(2, n_layers=1)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, PQC(spec, ["Z0"], engine="qsim")(inputs))
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        model.compile(optimizer="adam", loss="mse", jit_compile=True)
    assert model.jit_compile is False
    model.compile(optimizer="adam", loss="mse")  # jit_compile="auto"
    assert model.jit_compile is False


def test_noisy_gradients_equal_density_matrix_finite_differences(rng):
    x, a, b = sympy.symbols("x a b")
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(x)(q[0]), cirq.ry(a)(q[0]), cirq.CNOT(*q), cirq.rx(b)(q[1]))
    trajectories = 20000
    layer = PQC(circuit, ["Z1"], data_symbols=[x], noise=0.05, trajectories=trajectories)
    layer.build((None, 1))
    weights = np.array([0.7, -1.1], np.float32)
    layer.circuit_weights.assign(weights)
    features = tf.constant([[0.3]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(features)
        value = layer(features)[0, 0]
    grad_weights, grad_features = tape.gradient(value, [layer.circuit_weights, features])
    noise = cirq.depolarize(0.05)

    def objective(w, feature):
        return cirq_expectations(layer, [feature], w, noise=noise)[0, 0]

    step = 1e-4
    expected_weights = [(objective(weights + step * e, 0.3) - objective(weights - step * e, 0.3))
                        / (2 * step) for e in np.eye(2)]
    expected_feature = ((objective(weights, 0.3 + step) - objective(weights, 0.3 - step))
                        / (2 * step))
    # Each derivative is half the difference of two independent trajectory estimates, each with
    # standard error <= 1 / sqrt(trajectories): sigma <= sqrt(2) / 2 / sqrt(trajectories).
    tolerance = 5 * np.sqrt(2) / 2 / np.sqrt(trajectories)
    np.testing.assert_allclose(grad_weights.numpy(), expected_weights, atol=tolerance)
    np.testing.assert_allclose(grad_features.numpy()[0, 0], expected_feature, atol=tolerance)


# --------------------------------------------------------------------------------------------
# Resolved circuits: the trained circuit per example, for plain Cirq
# --------------------------------------------------------------------------------------------

def test_resolved_circuits_with_symbol_expressions_reproduce_the_outputs(rng):
    x, y, a, b = sympy.symbols("x y a b")
    q = [cirq.GridQubit(1, 0), cirq.GridQubit(0, 1)]
    circuit = cirq.Circuit(
        cirq.ry(0.5 * x + 0.25)(q[0]), cirq.rx(a * y)(q[1]), cirq.ZZPowGate(exponent=a * b)(*q),
        cirq.rz(sympy.sin(b) * x)(q[0]), cirq.XPowGate(exponent=b)(q[1]), cirq.H(q[0]),
    )
    layer = PQC(circuit, ["Z0", "X0*Z1", "0.5*Y1 - Z0"], data_symbols=[x, y])
    layer.build((None, 2))
    randomize(layer, rng)
    features = rng.uniform(-2, 2, (4, 2)).astype(np.float32)
    resolved = layer.resolved_circuits(features)
    assert len(resolved.circuits) == 4
    assert not any(cirq.is_parameterized(c) for c in resolved.circuits)
    assert all(isinstance(o, cirq.PauliSum) for o in resolved.observables)
    assert resolved.qubits == sorted(q)
    np.testing.assert_allclose(resolved_expectations(resolved), layer(features).numpy(),
                               atol=1e-5)


def test_resolved_circuits_prepend_the_data_circuits(rng):
    layer = entangling_layer()
    randomize(layer, rng)
    qubits = layer.compiled_circuit.qubits
    data = [cirq.Circuit(cirq.X(qubits[0])), cirq.Circuit(cirq.H(qubits[1]), cirq.T(qubits[2]))]
    inputs = [tfq.convert_to_tensor(data), rng.uniform(-2, 2, (2, 3)).astype(np.float32)]
    resolved = layer.resolved_circuits(inputs)
    assert resolved.circuits[0][0] == cirq.Moment(cirq.X(qubits[0]))
    np.testing.assert_allclose(resolved_expectations(resolved), layer(inputs).numpy(), atol=1e-5)


def test_resolved_circuits_reject_bad_features_and_an_unbuilt_layer():
    layer = entangling_layer()
    with pytest.raises(ValueError, match="`features` has 2 columns, but the circuit has 3"):
        layer.resolved_circuits(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="`features` contains NaN or infinite"):
        layer.resolved_circuits(np.array([[0.0, np.inf, 1.0]], np.float32))
    unbuilt = PQC(circuits.angle_encoding(2), ["Z0"])
    with pytest.raises(ValueError, match="has no weights yet: call it"):
        unbuilt.resolved_circuits(np.zeros((1, 2), np.float32))
