"""Resolved circuits of trained models: Cirq's simulation of them reproduces the models' circuit
outputs, their OpenQASM read back does too, and bad inputs get errors that say why.

Oracles: Cirq's exact simulator (complex128) on the resolved circuits, against each PQC layer's
outputs inside the model (a sub-model up to the layer) or the model's predictions; an OpenQASM
reader (``qasm_oracle``) built from qelib1's gate definitions, independent of Cirq's writer.
"""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
import tensorflow_quantum as tfq

from conftest import resolved_expectations
from qasm_oracle import circuit_from_qasm
from tfq_meta import PQC, Distiller, MetaLearner, circuits, models, tasks
from tfq_meta.distillation import LogitsDistillation
from tfq_meta.resolved import ResolvedCircuits, resolved_circuits


def circuit_outputs(model, layer_name, x):
    """The outputs of the PQC layer ``layer_name`` inside ``model``, by a Keras sub-model."""
    return keras.Model(model.input, model.get_layer(layer_name).output)(x).numpy()


def assert_resolved(resolved, expected):
    assert not any(cirq.is_parameterized(c) for c in resolved.circuits)
    assert all(isinstance(o, cirq.PauliSum) for o in resolved.observables)
    np.testing.assert_allclose(resolved_expectations(resolved), expected, atol=1e-5)


# --------------------------------------------------------------------------------------------
# 1. Cirq reproduces the circuit outputs of trained models
# --------------------------------------------------------------------------------------------

def test_fitted_student_resolves_to_circuits_that_reproduce_its_circuit_outputs(rng):
    keras.utils.set_random_seed(0)
    student = models.student(n_features=1, n_qubits=2, n_layers=1)
    student.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = rng.uniform(-3, 3, (8, 1)).astype(np.float32)
    before = student.get_layer("circuit").get_weights()[0].copy()
    student.fit(x, np.sin(x), epochs=1, batch_size=4, verbose=0)
    assert not np.allclose(student.get_layer("circuit").get_weights()[0], before)

    resolved = resolved_circuits(student, x)
    assert list(resolved) == ["circuit"]
    assert len(resolved["circuit"].circuits) == 8
    assert_resolved(resolved["circuit"], circuit_outputs(student, "circuit", x))


def test_resolved_circuits_sampled_by_cirq_match_the_outputs_within_shot_noise(rng):
    """Measured in Cirq with shots, as on a device: each ⟨Z_i⟩ estimate is within 5σ of the
    trained student's circuit output, σ = sqrt((1 - ⟨Z⟩²) / shots)."""
    keras.utils.set_random_seed(1)
    student = models.student(n_features=1, n_qubits=3, n_layers=2)
    student.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = rng.uniform(-3, 3, (16, 1)).astype(np.float32)
    student.fit(x, np.sin(x), epochs=2, batch_size=8, verbose=0)
    resolved = resolved_circuits(student, x[:4])["circuit"]
    exact = circuit_outputs(student, "circuit", x[:4])
    qubits, shots = resolved.qubits, 4000
    assert [str(o) for o in resolved.observables] == [f"1.000*Z(q({i}))" for i in range(3)]
    sampler = cirq.Simulator(seed=7)
    deviations = []
    for circuit, row in zip(resolved.circuits, exact):
        bits = sampler.run(circuit + cirq.measure(*qubits, key="m"),
                           repetitions=shots).measurements["m"]
        estimates = np.mean(1 - 2 * bits, axis=0)
        deviations += list((estimates - row) / np.sqrt((1 - row ** 2) / shots))
    assert np.max(np.abs(deviations)) < 5, deviations
    assert np.sqrt(np.mean(np.square(deviations))) < 2  # 12 estimates: about 1 if unbiased


def test_model_whose_output_is_the_circuit_matches_its_predictions(rng):
    """A Dense projection and a keras.ops node feed symbol expressions (w·x, 0.5·x + 0.25,
    sin(b)·x)."""
    x, y, a, b = sympy.symbols("x y a b")
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(
        cirq.ry(0.5 * x + 0.25)(q[0]), cirq.rx(a * y)(q[1]), cirq.ZZPowGate(exponent=a * b)(*q),
        cirq.rz(sympy.sin(b) * x)(q[0]), cirq.XPowGate(exponent=b)(q[1]), cirq.H(q[0]))
    inputs = keras.Input((3,))
    angles = keras.ops.tanh(keras.layers.Dense(2, name="projection")(inputs))
    model = keras.Model(inputs, PQC(circuit, ["Z0", "X0*Z1"], data_symbols=[x, y],
                                    name="pqc")(angles))
    features = rng.uniform(-1, 1, (5, 3)).astype(np.float32)
    resolved = resolved_circuits(model, features)
    assert_resolved(resolved["pqc"], model.predict(features, verbose=0))


def test_sequential_and_nested_models_resolve_every_circuit(rng):
    keras.utils.set_random_seed(1)
    sequential = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="angles"),
                                   PQC(circuits.angle_encoding(2, rotation="ry") +
                                       circuits.hardware_efficient_ansatz(2), ["Z0", "Z1"],
                                       name="first")], name="block")
    inner = models.student(n_features=2, n_qubits=2, n_layers=1)
    inputs = keras.Input((2,))
    outputs = keras.layers.Concatenate()([sequential(inputs), inner(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(1)(outputs))
    features = rng.uniform(-1, 1, (4, 2)).astype(np.float32)

    resolved = resolved_circuits(model, features)
    assert list(resolved) == ["block/first", "student/circuit"]
    first = sequential.get_layer("first")(sequential.get_layer("angles")(features)).numpy()
    assert_resolved(resolved["block/first"], first)
    assert_resolved(resolved["student/circuit"], circuit_outputs(inner, "circuit", features))


def test_quantum_data_model_resolves_each_data_circuit_in_front(rng):
    q = cirq.LineQubit.range(2)
    circuits_in = keras.Input(shape=(), dtype="string", name="circuits")
    features_in = keras.Input(shape=(2,), name="features")
    expectations = PQC(circuits.reuploading_circuit(2, n_layers=1), ["Z0", "X0*Z1"],
                       name="circuit")([circuits_in, features_in])
    model = keras.Model([circuits_in, features_in], expectations)
    data = tfq.convert_to_tensor([cirq.Circuit(cirq.X(q[0])), cirq.Circuit(cirq.H(q[1]))])
    features = rng.uniform(-1, 1, (2, 2)).astype(np.float32)

    resolved = resolved_circuits(model, [data, features])["circuit"]
    assert resolved.circuits[1][0] == cirq.Moment(cirq.H(q[1]))
    assert_resolved(resolved, model([data, tf.constant(features)]).numpy())
    with pytest.raises(ValueError, match="`x` must be a list of 2 arrays, one per input"):
        resolved_circuits(model, features)


def test_adapted_model_of_a_meta_learner_resolves_to_its_adapted_circuit():
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), "fomaml",
                       inner_steps=1, inner_lr=0.1)
    meta.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", jit_compile=False)
    meta.train_on_batch(tasks.Sinusoid(shots=5).sample(2, seed=0))
    episode = tasks.Sinusoid(shots=5, query_shots=4).sample(1, seed=1)
    adapted = meta.adapt(episode["support_x"][0], episode["support_y"][0], steps=2)
    query_x = episode["query_x"][0]

    resolved = resolved_circuits(adapted, query_x)["circuit"]
    assert_resolved(resolved, circuit_outputs(adapted, "circuit", query_x))
    initialization = resolved_circuits(meta, query_x)["circuit"]
    assert_resolved(initialization, circuit_outputs(meta.model, "circuit", query_x))
    assert not np.allclose(resolved_expectations(resolved), resolved_expectations(initialization))


def test_distiller_student_resolves_after_a_training_step(rng):
    keras.utils.set_random_seed(0)
    teacher = models.teacher(2, 3, "classification", n_qubits=3, n_layers=1)
    student = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    distiller = Distiller(teacher, student, LogitsDistillation(2.0))
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=False,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.uniform(0, np.pi, (6, 2)).astype(np.float32)
    distiller.train_on_batch(x, rng.integers(0, 3, 6))

    expected = circuit_outputs(distiller.student, "circuit", x)
    assert_resolved(resolved_circuits(distiller.student, x)["circuit"], expected)
    assert_resolved(resolved_circuits(distiller, x)["circuit"], expected)


# --------------------------------------------------------------------------------------------
# 2. OpenQASM: every gate of tfq_meta's circuit builders survives the round trip
# --------------------------------------------------------------------------------------------

SPECS = {
    "reuploading (rx, ry, rz, CNOT)": lambda: circuits.reuploading_circuit(
        2, 2, rotations=("rx", "ry", "rz"), trainable_scaling=True),
    "hardware efficient (CZ)": lambda: circuits.hardware_efficient_ansatz(3, entangler="cz_ring"),
    "xxz (X, H, CNOT, XX, YY, ZZ powers)": lambda: circuits.xxz_ansatz(4, n_layers=1),
    "symmetry (Givens, ISWAP powers)": lambda: circuits.singlet_sector_encoding(4, [-0.5, 0.5])
    + circuits.number_conserving_layers(4, n_layers=1),
    "qaoa (H, ZZ powers, rx)": lambda: circuits.qaoa_ansatz(3, p=1),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_openqasm_read_back_reproduces_the_layer_outputs(name, rng):
    spec = SPECS[name]()
    n_qubits = len(spec.qubits)
    observables = [f"Z{i}" for i in range(n_qubits)] + ["X0*X1", "0.5*Y0*Y1 - Z1"]
    layer = PQC(spec, observables)
    features = rng.uniform(-1, 1, (2, len(spec.data_symbols))).astype(np.float32)
    layer.build((None, len(spec.data_symbols)))
    layer.circuit_weights.assign(rng.uniform(-np.pi, np.pi, layer.n_weights))

    resolved = layer.resolved_circuits(features)
    programs = resolved.to_qasm()
    assert all("OPENQASM 2.0;" in p and 'include "qelib1.inc";' in p for p in programs)
    line = {q: cirq.LineQubit(i) for i, q in enumerate(resolved.qubits)}
    read_back = ResolvedCircuits([circuit_from_qasm(p) for p in programs],
                                 [on_qubits(o, line) for o in resolved.observables])
    np.testing.assert_allclose(resolved_expectations(read_back), layer(features).numpy(),
                               atol=1e-5)


def on_qubits(pauli_sum, line):
    """``pauli_sum`` with each qubit ``q`` replaced by ``line[q]``."""
    return sum((cirq.PauliString({line[q]: p for q, p in term.items()},
                                 coefficient=term.coefficient) for term in pauli_sum),
               cirq.PauliSum())


def test_openqasm_names_an_operation_it_cannot_write():
    q = cirq.LineQubit.range(2)
    x = sympy.Symbol("x")
    noisy = PQC(cirq.Circuit(cirq.rx(x)(q[0]), cirq.amplitude_damp(0.3)(q[0]), cirq.CNOT(*q)),
                ["Z1"], data_symbols=[x])
    noisy.build((None, 1))
    resolved = noisy.resolved_circuits(np.array([[0.4]], np.float32))
    assert resolved.circuits[0][1] == cirq.Moment(cirq.amplitude_damp(0.3)(q[0]))
    with pytest.raises(ValueError, match=r"cannot express cirq.amplitude_damp\(gamma=0.3\)"
                                         r".*cirq.optimize_for_target_gateset"):
        resolved.to_qasm()
    opaque = cirq.MatrixGate(cirq.testing.random_unitary(16, random_state=1))
    resolved = ResolvedCircuits([cirq.Circuit(opaque(*cirq.LineQubit.range(4)))], [])
    with pytest.raises(ValueError, match=r"cannot express a MatrixGate on \[cirq.LineQubit\(0\)"):
        resolved.to_qasm()


# --------------------------------------------------------------------------------------------
# 3. Errors name the argument, what was wrong and what is accepted
# --------------------------------------------------------------------------------------------

def test_bad_models_and_inputs_are_refused_with_the_reason():
    keras.utils.set_random_seed(0)
    student = models.student(n_features=1, n_qubits=2, n_layers=1)
    classical = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)], name="plain")
    with pytest.raises(ValueError, match="`model` 'plain' has no PQC layer"):
        resolved_circuits(classical, np.zeros((1, 1)))
    with pytest.raises(TypeError, match="`model` must be a keras.Model, a PQC layer"):
        resolved_circuits("student", np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"`x` has shape \(2, 3\), but the model takes inputs "
                                         r"of shape \(None, 1\)"):
        resolved_circuits(student, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="`x` contains NaN or infinite values"):
        resolved_circuits(student, np.array([[np.nan]]))
    with pytest.raises(TypeError, match="`x` must hold numbers for the model's input of dtype "
                                        "float32; got dtype string"):
        resolved_circuits(student, np.array([["0.5"]]))
    with pytest.raises(ValueError, match=r"`circuits\[0\]` still has free symbols \['a'\]"):
        ResolvedCircuits([cirq.Circuit(cirq.rx(sympy.Symbol("a"))(cirq.LineQubit(0)))], [])


def test_subclassed_models_and_shared_circuit_layers_are_refused():
    layer = PQC(circuits.angle_encoding(1), ["Z0"], name="shared")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.circuit = layer

        def call(self, x):
            return self.circuit(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 1), np.float32))
    with pytest.raises(TypeError, match="'subclassed' is a subclassed Subclassed"):
        resolved_circuits(subclassed, np.zeros((1, 1), np.float32))
    inputs = keras.Input((1,))
    twice = keras.Model(inputs, keras.layers.Add()([layer(inputs), layer(inputs)]))
    with pytest.raises(ValueError, match="PQC layer 'shared' runs more than once"):
        resolved_circuits(twice, np.zeros((1, 1), np.float32))
