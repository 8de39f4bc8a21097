"""Serialization of tfq_meta models, always checked against the in-memory original.

* ``PQC.get_config`` / ``from_config`` (through JSON) rebuilds a layer whose outputs and gradients
  are bit-identical once it has the same weights, and which keeps every option.
* ``.keras`` files of student, teacher and classification models reload with bit-identical weights
  and outputs, and the reloaded model trains exactly like the original.
* SavedModels (``model.export``) serve the in-memory model's outputs from a fresh Python process
  that only imports tfq_meta, also for a model taking quantum data (string tensors
  of circuits).
* ``import tfq_meta`` refuses a non-TensorFlow Keras backend with an ImportError naming the fix.
"""
import base64
import json

import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf
import tensorflow_quantum as tfq

import tfq_meta
from conftest import cirq_expectations, run_fresh_python
from tfq_meta import PQC, circuits


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def round_trip(layer):
    """A PQC rebuilt from its config after a JSON round trip (as a .keras file stores it)."""
    config = layer.get_config()
    text = json.dumps(config)  # must be JSON-serializable
    rebuilt = PQC.from_config(json.loads(text))
    assert rebuilt.get_config() == config
    return rebuilt, config


def copy_weights(source, target, input_shape):
    if not target.built:
        target.build(input_shape)
    target.set_weights(source.get_weights())
    np.testing.assert_array_equal(target.circuit_weights.numpy(), source.circuit_weights.numpy())


def regression_data(rng, n_features, n=16):
    x = rng.uniform(-np.pi, np.pi, (n, n_features)).astype(np.float32)
    y = (np.sin(x).sum(axis=1, keepdims=True) + 0.3).astype(np.float32)
    return x, y


def classification_data(rng, n_features, n_classes, n=16):
    x = rng.uniform(-np.pi, np.pi, (n, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, n).astype(np.int32)
    return x, y


def fit_briefly(model, x, y, loss, optimizer=None):
    """Two optimizer steps, so the weights are no longer the initial ones."""
    before = [w.numpy().copy() for w in model.weights]
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.05), loss=loss)
    model.fit(x, y, batch_size=len(x) // 2, epochs=1, shuffle=False, verbose=0)
    after = [w.numpy() for w in model.weights]
    for old, new, variable in zip(before, after, model.weights):
        assert np.max(np.abs(new - old)) > 1e-4, f"{variable.path} did not train"
    return model


def assert_same_weights(original, reloaded):
    assert [w.path for w in reloaded.weights] == [w.path for w in original.weights]
    for a, b in zip(original.weights, reloaded.weights):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)


# --------------------------------------------------------------------------------------------
# 1. get_config / from_config of the PQC layer
# --------------------------------------------------------------------------------------------

def test_config_round_trip_with_symbol_expressions(rng):
    x, y, w, a = sympy.symbols("x y w a")
    q = [cirq.GridQubit(0, 1), cirq.GridQubit(1, 0)]
    circuit = cirq.Circuit(
        cirq.rx(w * x)(q[0]), cirq.ry(0.5 * y + 0.25)(q[1]), cirq.ZZPowGate(exponent=a * w)(*q),
        cirq.XPowGate(exponent=a)(q[1]), cirq.rz(x ** 2)(q[0]), cirq.H(q[0]),
    )
    # Explicit weight order (not the order of first appearance) must survive the round trip.
    layer = PQC(circuit, ["Z0", "X0*Z1", "0.5*Y1 - Z0*Z1"], data_symbols=[x, y],
                weight_symbols=["a", "w"], name="expressions")
    layer.build((None, 2))
    layer.circuit_weights.assign(rng.uniform(-np.pi, np.pi, 2).astype(np.float32))

    rebuilt, config = round_trip(layer)
    assert rebuilt.name == "expressions"
    assert rebuilt.circuit == circuit
    assert [str(s) for s in rebuilt.data_symbols] == ["x", "y"]
    assert [str(s) for s in rebuilt.weight_symbols] == ["a", "w"]
    assert rebuilt.observables == layer.observables
    copy_weights(layer, rebuilt, (None, 2))

    features = rng.uniform(-2, 2, (5, 2)).astype(np.float32)
    expected = layer(features).numpy()
    np.testing.assert_array_equal(rebuilt(features).numpy(), expected)
    np.testing.assert_allclose(expected, cirq_expectations(layer, features), atol=1e-5)

    # The registered name lets Keras' generic (de)serializer rebuild it too.
    generic = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(generic, PQC)
    copy_weights(layer, generic, (None, 2))
    np.testing.assert_array_equal(generic(features).numpy(), expected)


def test_config_round_trip_with_nonlinear_sympy_function(rng):
    # The layer accepts any sympy expression as a gate exponent (test_pqc uses sin(b) * x), so its
    # config must serialize one too, or a model using it can be trained but never saved.
    x, b = sympy.symbols("x b")
    q = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rz(sympy.sin(b) * x)(q[0]), cirq.H(q[0]), cirq.ry(b)(q[1]),
                           cirq.CNOT(*q))
    layer = PQC(circuit, ["X0", "Z0*Z1"], data_symbols=[x])
    layer.build((None, 1))
    rebuilt, _ = round_trip(layer)
    assert rebuilt.circuit == circuit
    copy_weights(layer, rebuilt, (None, 1))
    features = rng.uniform(-2, 2, (4, 1)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt(features).numpy(), layer(features).numpy())


def test_config_round_trip_of_circuit_spec_keeps_initial_values_and_options(rng):
    spec = circuits.reuploading_circuit(2, n_layers=2, trainable_scaling=True)
    assert spec.initial_values, "trainable scales come with initial values"
    layer = PQC(spec, ["Z0", "Z1"], initial_values={"w0_0_0": 0.5},
                initializer=keras.initializers.Constant(0.3),
                regularizer=keras.regularizers.L2(0.01))
    layer.build((None, 2))
    initial = layer.circuit_weights.numpy().copy()
    names = [str(s) for s in layer.weight_symbols]
    expected_initial = [({**spec.initial_values, "w0_0_0": 0.5}).get(n, 0.3) for n in names]
    np.testing.assert_array_equal(initial, np.array(expected_initial, np.float32))

    rebuilt, config = round_trip(layer)
    assert config["initial_values"] == {**spec.initial_values, "w0_0_0": 0.5}
    assert config["data_symbols"] == [str(s) for s in spec.data_symbols]
    assert [str(s) for s in rebuilt.weight_symbols] == names
    # A fresh build of the rebuilt layer starts from the same (deterministic) weights.
    rebuilt.build((None, 2))
    np.testing.assert_array_equal(rebuilt.circuit_weights.numpy(), initial)

    layer.circuit_weights.assign(rng.uniform(-np.pi, np.pi, layer.n_weights).astype(np.float32))
    copy_weights(layer, rebuilt, (None, 2))
    features = rng.uniform(-2, 2, (6, 2)).astype(np.float32)
    np.testing.assert_array_equal(rebuilt(features).numpy(), layer(features).numpy())
    # The regularizer came back too: same penalty on the same weights.
    np.testing.assert_array_equal(np.array(rebuilt.losses), np.array(layer.losses))
    assert len(layer.losses) == 1 and float(layer.losses[0]) > 0


def test_config_round_trip_with_parameter_shift_keeps_outputs_and_gradients(rng):
    spec = circuits.reuploading_circuit(3, n_layers=1, entangler="cnot_ring",
                                        trainable_scaling=True)
    layer = PQC(spec, ["Z0", "Z1*Z2"], differentiator="parameter_shift")
    layer.build((None, 3))
    layer.circuit_weights.assign(rng.uniform(-np.pi, np.pi, layer.n_weights).astype(np.float32))

    rebuilt, config = round_trip(layer)
    assert config["differentiator"] == "parameter_shift"
    assert rebuilt.compiled_circuit.differentiator == "parameter_shift"
    copy_weights(layer, rebuilt, (None, 3))

    features = tf.constant(rng.uniform(-2, 2, (4, 3)), tf.float32)
    cotangent = tf.constant(rng.normal(size=(4, 2)), tf.float32)

    def outputs_and_gradients(pqc):
        with tf.GradientTape() as tape:
            tape.watch(features)
            outputs = pqc(features)
            loss = tf.reduce_sum(cotangent * outputs)
        grads = tape.gradient(loss, [pqc.circuit_weights, features])
        return [outputs.numpy()] + [g.numpy() for g in grads]

    for got, expected in zip(outputs_and_gradients(rebuilt), outputs_and_gradients(layer)):
        np.testing.assert_array_equal(got, expected)


def test_config_round_trip_with_repetitions():
    spec = circuits.reuploading_circuit(2, n_layers=1)
    layer = PQC(spec, ["Z0", "Z0*Z1"], repetitions=250)
    rebuilt, config = round_trip(layer)
    assert config["repetitions"] == 250
    assert config["differentiator"] == "parameter_shift"
    assert rebuilt.compiled_circuit.repetitions == 250
    assert rebuilt.compiled_circuit.differentiator == "parameter_shift"
    assert rebuilt.compiled_circuit.noisy is False


@pytest.mark.parametrize("noise, trajectories", [
    (0.01, 1000),
    (cirq.ConstantQubitNoiseModel(cirq.amplitude_damp(0.1)), 321),
])
def test_config_round_trip_with_noise(noise, trajectories):
    spec = circuits.reuploading_circuit(2, n_layers=1)
    layer = PQC(spec, ["Z0", "Z1"], noise=noise, trajectories=trajectories)
    assert layer.compiled_circuit.noisy
    rebuilt, config = round_trip(layer)
    assert config["noise"] is not None
    assert config["trajectories"] == trajectories
    assert config["differentiator"] == "parameter_shift"
    assert rebuilt.compiled_circuit.noise == layer.compiled_circuit.noise
    if isinstance(noise, cirq.NoiseModel):
        assert rebuilt.compiled_circuit.noise == noise
    else:
        assert rebuilt.compiled_circuit.noise == cirq.ConstantQubitNoiseModel(
            cirq.depolarize(noise))
    assert rebuilt.compiled_circuit.noisy
    assert rebuilt.compiled_circuit.trajectories == trajectories
    # The simulated circuit carries the same channels.
    assert rebuilt.compiled_circuit.lowered.circuit == layer.compiled_circuit.lowered.circuit


# --------------------------------------------------------------------------------------------
# 2. .keras save / load of student, teacher and classification models
# --------------------------------------------------------------------------------------------

MODELS = {
    "student": lambda: (tfq_meta.models.student(n_features=2), "regression"),
    "teacher": lambda: (tfq_meta.models.teacher(n_features=2, n_qubits=4, n_layers=2),
                        "regression"),
    # 5 features > 4 qubits: includes the Dense feature projection.
    "classification": lambda: (tfq_meta.models.student(n_features=5, n_outputs=3,
                                                       task="classification"),
                               "classification"),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_keras_file_round_trip(kind, tmp_path, rng):
    model, task = MODELS[kind]()
    n_features = model.input_shape[-1]
    if task == "regression":
        x, y = regression_data(rng, n_features)
        loss = "mse"
    else:
        x, y = classification_data(rng, n_features, 3)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fit_briefly(model, x, y, loss)

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)

    assert reloaded.name == model.name
    assert isinstance(reloaded.get_layer("circuit"), PQC)
    assert reloaded.get_layer("circuit").circuit == model.get_layer("circuit").circuit
    assert_same_weights(model, reloaded)
    # The optimizer state (Adam moments, iteration count) comes back too.
    assert len(reloaded.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)

    x_test = rng.uniform(-np.pi, np.pi, (7, n_features)).astype(np.float32)
    expected = model(x_test).numpy()
    assert np.ptp(expected, axis=0).min() > 1e-3, "outputs must depend on the inputs"
    np.testing.assert_allclose(reloaded(x_test).numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), expected, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------------------------
# 5. The reloaded .keras model trains exactly like the original
# --------------------------------------------------------------------------------------------

def test_reloaded_keras_model_takes_the_same_gradient_step(tmp_path, rng):
    model = tfq_meta.models.student(n_features=2)
    x, y = regression_data(rng, 2)
    fit_briefly(model, x, y, "mse", optimizer=keras.optimizers.SGD(0.1))
    path = tmp_path / "student.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.jit_compile is False  # TFQ ops are not XLA-compilable
    assert [w.path for w in reloaded.trainable_weights] == [w.path for w in
                                                            model.trainable_weights]

    x_step, y_step = regression_data(rng, 2, n=12)
    before = [w.numpy().copy() for w in model.weights]
    histories = [m.fit(x_step, y_step, batch_size=len(x_step), epochs=1, shuffle=False,
                       verbose=0).history["loss"] for m in (model, reloaded)]
    np.testing.assert_allclose(histories[1], histories[0], rtol=0, atol=1e-6)

    for variable, old, new in zip(model.weights, before, reloaded.weights):
        np.testing.assert_allclose(new.numpy(), variable.numpy(), rtol=0, atol=1e-6,
                                   err_msg=variable.path)
        assert np.max(np.abs(new.numpy() - old)) > 1e-4, f"{variable.path} did not move"


# --------------------------------------------------------------------------------------------
# 3. SavedModel export, served from a fresh process that only imports tfq_meta
# --------------------------------------------------------------------------------------------

SERVE_SCRIPT = """
import base64, json, sys

import numpy as np
import tfq_meta  # the only preparation: registers TFQ's ops for the SavedModel loader
import tensorflow as tf

def tensor(spec):
    if "circuits_b64" in spec:
        return tf.constant([base64.b64decode(s) for s in spec["circuits_b64"]], tf.string)
    return tf.constant(np.array(spec["float32"], np.float32))

results = {}
for name, job in json.loads(sys.stdin.read()).items():
    served = tf.saved_model.load(job["path"])
    inputs = [tensor(spec) for spec in job["inputs"]]
    results[name] = served.serve(inputs if len(inputs) > 1 else inputs[0]).numpy().tolist()
print("RESULTS " + json.dumps(results))
"""


def quantum_data_model():
    """Functional model on [circuits (strings), features] with a PQC called on both."""
    spec = circuits.reuploading_circuit(3, n_layers=1, trainable_scaling=True)
    circuits_in = keras.Input(shape=(), dtype="string", name="circuits")
    features_in = keras.Input(shape=(3,), name="features")
    expectations = PQC(spec, ["Z0", "Z1*Z2", "X2"], name="circuit")([circuits_in, features_in])
    outputs = keras.layers.Dense(2, name="readout")(expectations)
    return keras.Model([circuits_in, features_in], outputs, name="quantum_data")


def data_circuits():
    q = cirq.LineQubit.range(3)
    return [cirq.Circuit(), cirq.Circuit(cirq.X(q[0])), cirq.Circuit(cirq.H(q[1]), cirq.T(q[2])),
            cirq.Circuit(cirq.rx(0.3)(q[2]), cirq.CNOT(q[2], q[0])),
            cirq.Circuit(cirq.Y(q[1]), cirq.CZ(q[0], q[1]), cirq.H(q[0]))]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Exports two models and serves both from ONE fresh process; returns expected and served."""
    rng = np.random.default_rng(99)
    root = tmp_path_factory.mktemp("savedmodels")

    student = tfq_meta.models.student(n_features=2)
    x, y = regression_data(rng, 2)
    fit_briefly(student, x, y, "mse")
    x_student = rng.uniform(-np.pi, np.pi, (9, 2)).astype(np.float32)

    quantum = quantum_data_model()
    circuit_tensor = tfq.convert_to_tensor(data_circuits())
    x_quantum = rng.uniform(-2, 2, (len(data_circuits()), 3)).astype(np.float32)

    empty = tfq.convert_to_tensor([cirq.Circuit()] * len(x_quantum))
    expected = {
        "student": student(x_student).numpy(),
        "quantum_data": quantum([circuit_tensor, tf.constant(x_quantum)]).numpy(),
        "quantum_data_without_circuits": quantum([empty, tf.constant(x_quantum)]).numpy(),
    }
    student.export(str(root / "student"), verbose=False)
    quantum.export(str(root / "quantum_data"), verbose=False)

    request = {
        "student": {"path": str(root / "student"),
                    "inputs": [{"float32": x_student.tolist()}]},
        "quantum_data": {"path": str(root / "quantum_data"), "inputs": [
            {"circuits_b64": [base64.b64encode(s).decode() for s in circuit_tensor.numpy()]},
            {"float32": x_quantum.tolist()}]},
    }
    result = run_fresh_python(SERVE_SCRIPT, stdin=json.dumps(request), cwd=root)
    assert result.returncode == 0, f"serving process failed:\n{result.stderr[-5000:]}"
    line = [text for text in result.stdout.splitlines() if text.startswith("RESULTS ")][-1]
    got = {name: np.array(values, np.float32)
           for name, values in json.loads(line[len("RESULTS "):]).items()}
    return expected, got


def test_student_saved_model_serves_in_fresh_process(served):
    expected, got = served
    assert np.ptp(expected["student"]) > 1e-3, "outputs must depend on the inputs"
    assert got["student"].shape == expected["student"].shape == (9, 1)
    np.testing.assert_allclose(got["student"], expected["student"], rtol=0, atol=1e-6)


def test_quantum_data_saved_model_serves_in_fresh_process(served):
    expected, got = served
    # The data circuits change the outputs, so matching them shows they reach the served model.
    assert np.max(np.abs(expected["quantum_data"] -
                         expected["quantum_data_without_circuits"])) > 1e-2
    assert got["quantum_data"].shape == expected["quantum_data"].shape == (5, 2)
    np.testing.assert_allclose(got["quantum_data"], expected["quantum_data"], rtol=0, atol=1e-6)


def test_quantum_data_model_reference_outputs_equal_cirq():
    # The in-memory reference of the export test is itself right: circuits are prepended.
    model = quantum_data_model()
    layer = model.get_layer("circuit")
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (len(data_circuits()), 3)).astype(np.float32)
    got = layer([tfq.convert_to_tensor(data_circuits()), tf.constant(x)]).numpy()
    expected = [cirq_expectations(layer, x[i], circuit=c + layer.circuit)[0]
                for i, c in enumerate(data_circuits())]
    np.testing.assert_allclose(got, expected, atol=1e-5)


# --------------------------------------------------------------------------------------------
# 4. A non-TensorFlow Keras backend is refused at import with the fix in the message
# --------------------------------------------------------------------------------------------

OTHER_BACKEND_SCRIPT = """
import sys
try:
    import tfq_meta
except ImportError as error:
    print("IMPORT_ERROR " + str(error))
    sys.exit(0)
print("IMPORTED")
sys.exit(3)
"""


def test_import_with_another_keras_backend_raises_import_error_naming_the_fix(tmp_path):
    """Keras' numpy backend ships with Keras itself, so this runs wherever the suite runs."""
    result = run_fresh_python(OTHER_BACKEND_SCRIPT, cwd=tmp_path, KERAS_BACKEND="numpy")
    assert result.returncode == 0, (
        f"expected an ImportError; exit code {result.returncode}\nstdout:\n{result.stdout}\n"
        f"stderr:\n{result.stderr[-5000:]}")
    message = [line for line in result.stdout.splitlines()
               if line.startswith("IMPORT_ERROR ")][-1]
    assert "KERAS_BACKEND=tensorflow" in message
    assert "'numpy'" in message
