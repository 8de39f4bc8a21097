"""Distillation: each loss against a hand computation, the teacher frozen, students that match
their teacher, unlabeled transfer data, and the student saved alone.

Oracles: NumPy formulas for the losses, Cirq's exact simulator for observables measured on the
circuits, central finite differences for the student's gradient.
"""
import cirq
import keras
import numpy as np
import pytest
import tensorflow as tf

import tfq_meta
from conftest import run_fresh_python
from distillation_oracle import (classifiers, cirq_observables, cross_entropy, features,
                                 kl_with_temperature, log_softmax)
from tfq_meta import Distiller, models
from tfq_meta.distillation import (ExpectationDistillation, LogitsDistillation,
                                   ObservableDistillation)

CROSS_ENTROPY = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# --------------------------------------------------------------------------------------------
# 1. Each loss equals a hand computation
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_logits_distillation_is_temperature_squared_kl(rng, temperature):
    teacher, student = rng.normal(0, 2, (2, 6, 4)).astype(np.float32)
    loss = LogitsDistillation(temperature).compute_loss(teacher, student)
    np.testing.assert_allclose(float(loss), kl_with_temperature(teacher, student, temperature),
                               rtol=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_logits_distillation_gradient_is_the_closed_form(rng, temperature):
    """d/ds of T² · mean KL(softmax(t/T) ‖ softmax(s/T)) = T · (softmax(s/T) − softmax(t/T)) / N;
    logits shifted per example by a constant give the same loss (softmax invariance)."""
    teacher, student = rng.normal(0, 2, (2, 5, 3))
    student_variable = tf.Variable(student.astype(np.float32))
    with tf.GradientTape() as tape:
        loss = LogitsDistillation(temperature).compute_loss(teacher.astype(np.float32),
                                                            student_variable)
    softmax = lambda z: np.exp(log_softmax(z / temperature))  # noqa: E731
    expected = temperature * (softmax(student) - softmax(teacher)) / len(student)
    np.testing.assert_allclose(tape.gradient(loss, student_variable).numpy(), expected,
                               atol=1e-6)
    shifts = rng.normal(0, 5, (5, 1))
    shifted = LogitsDistillation(temperature).compute_loss(
        (teacher + shifts).astype(np.float32), (student - shifts).astype(np.float32))
    np.testing.assert_allclose(float(shifted), float(loss), rtol=1e-5)


def test_expectation_distillation_is_mean_squared_norm(rng):
    teacher, student = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
    loss = ExpectationDistillation().compute_loss(teacher, student)
    np.testing.assert_allclose(float(loss), np.mean(np.sum((teacher - student) ** 2, axis=1)),
                               rtol=1e-6)


def test_observable_distillation_measures_both_circuits_exactly(rng):
    """Teacher on 3 qubits, student on 2: ⟨O⟩ of both equal Cirq's, the loss the formula."""
    teacher, student = classifiers()
    loss = ObservableDistillation(["Z0", "X2", "0.5*Z0*Z2 - Y0"], qubit_map={0: 1, 2: 0})
    loss.validate_model_compatibility(teacher, student)
    x = features(rng, 5)
    teacher_values, student_values = (v.numpy() for v in loss.measure(x))

    t_qubits = sorted(teacher.get_layer("circuit").circuit.all_qubits())
    s_qubits = sorted(student.get_layer("circuit").circuit.all_qubits())
    teacher_observables = [cirq.Z(t_qubits[0]), cirq.X(t_qubits[2]),
                           0.5 * cirq.Z(t_qubits[0]) * cirq.Z(t_qubits[2]) - cirq.Y(t_qubits[0])]
    student_observables = [cirq.Z(s_qubits[1]), cirq.X(s_qubits[0]),
                           0.5 * cirq.Z(s_qubits[1]) * cirq.Z(s_qubits[0]) - cirq.Y(s_qubits[1])]
    expected_teacher = cirq_observables(teacher.get_layer("circuit"), x, teacher_observables)
    expected_student = cirq_observables(student.get_layer("circuit"), x, student_observables)
    np.testing.assert_allclose(teacher_values, expected_teacher, atol=1e-5)
    np.testing.assert_allclose(student_values, expected_student, atol=1e-5)
    np.testing.assert_allclose(
        float(loss.compute_loss(teacher_values, student_values)),
        np.mean(np.sum((expected_teacher - expected_student) ** 2, axis=1)), atol=1e-5)


def test_distiller_total_loss_weighs_student_and_distillation_losses(rng):
    teacher, student = classifiers()
    distiller = Distiller(teacher, student, [LogitsDistillation(2.0), ExpectationDistillation()],
                          distillation_loss_weights=[1.0, 0.25], student_loss_weight=0.3)
    distiller.compile(optimizer="adam", loss=CROSS_ENTROPY)
    x, y = features(rng, 8), rng.integers(0, 3, 8)
    weights = (rng.uniform(size=8) > 0.5).astype(np.float32)
    total = float(distiller.compute_loss(x, y, sample_weight=weights))

    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    distillation = (kl_with_temperature(t, s, 2.0)
                    + 0.25 * np.mean(np.sum((t.astype(np.float64) - s) ** 2, axis=1)))
    student_loss = cross_entropy(y, s, weights)
    np.testing.assert_allclose(total, 0.3 * student_loss + 0.7 * distillation, rtol=1e-5)
    np.testing.assert_allclose(float(distiller.student_loss_tracker.result()), student_loss,
                               rtol=1e-5)
    np.testing.assert_allclose(float(distiller.distillation_loss_tracker.result()),
                               distillation, rtol=1e-5)
    # Without labels the total is the distillation loss alone.
    np.testing.assert_allclose(float(distiller.compute_loss(x)), distillation, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# 2. Gradients reach the student only
# --------------------------------------------------------------------------------------------

def test_fit_leaves_the_teacher_bit_identical(rng):
    teacher, student = classifiers()
    teacher_weights = [w.numpy().copy() for w in teacher.weights]
    student_weights = [w.numpy().copy() for w in student.weights]
    distiller = Distiller(teacher, student, [LogitsDistillation(2.0),
                                             ObservableDistillation(["Z0", "X1"])])
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss=CROSS_ENTROPY)
    assert {id(v) for v in distiller.trainable_variables} == \
        {id(v) for v in student.trainable_variables}
    x, y = features(rng, 32), rng.integers(0, 3, 32)
    distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for before, after in zip(teacher_weights, teacher.weights):
        np.testing.assert_array_equal(after.numpy(), before, err_msg=after.path)
    for before, after in zip(student_weights, student.weights):
        assert np.max(np.abs(after.numpy() - before)) > 1e-3, f"{after.path} did not train"


def test_observable_loss_gradient_equals_finite_differences(rng):
    """The student's circuit-weight gradient is exact; the teacher gets none."""
    teacher, student = classifiers()
    loss = ObservableDistillation(["Z0", "Z1*X0", "Y1"])
    distiller = Distiller(teacher, student, loss, student_loss_weight=0.0)
    x = features(rng, 4)
    circuit_weights = student.get_layer("circuit").circuit_weights
    sources = [circuit_weights] + teacher.weights
    with tf.GradientTape() as tape:
        value = distiller.compute_loss(x)
    gradient, *teacher_gradients = tape.gradient(value, sources)
    assert all(g is None for g in teacher_gradients)

    def loss_at(weights):
        circuit_weights.assign(weights)
        return float(distiller.compute_loss(x))

    def central_difference(i, step):
        shift = np.eye(len(weights))[i] * step
        return (loss_at(weights + shift) - loss_at(weights - shift)) / (2 * step)

    # Richardson extrapolation of two central differences: error O(step⁴), so float32 rounding
    # (about 1e-7 / step) dominates.
    weights, step = circuit_weights.numpy().astype(np.float64), 1e-2
    for i in range(len(weights)):
        expected = (4 * central_difference(i, step) - central_difference(i, 2 * step)) / 3
        np.testing.assert_allclose(gradient.numpy()[i], expected, atol=1e-4, err_msg=f"weight {i}")


# --------------------------------------------------------------------------------------------
# 3. Distilled students match their teachers
# --------------------------------------------------------------------------------------------

def distill(teacher, student, loss, x, epochs, learning_rate=0.05):
    distiller = Distiller(teacher, student, loss, student_loss_weight=0.0)
    distiller.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return distiller.fit(x, epochs=epochs, batch_size=32, verbose=0)


def test_student_with_capacity_matches_its_teacher_from_unlabeled_data(rng):
    """Teacher and student share an architecture (so the student can match exactly) but not
    their initial weights; distilled on unlabeled inputs only."""
    keras.utils.set_random_seed(1)
    teacher = models.student(n_features=2, n_qubits=3, n_layers=2)
    student = models.student(n_features=2, n_qubits=3, n_layers=2)
    x, held_out = features(rng, 256), features(rng, 200)
    target = teacher.predict(held_out, verbose=0)
    error_before = np.mean((student.predict(held_out, verbose=0) - target) ** 2)
    distill(teacher, student, ExpectationDistillation(), x, epochs=60)
    error = np.mean((student.predict(held_out, verbose=0) - target) ** 2)
    assert error < 0.02 * np.var(target), (error, np.var(target))
    assert error < 0.005 * error_before, (error, error_before)


def test_classical_teacher_teaches_a_quantum_student(rng):
    keras.utils.set_random_seed(2)
    teacher = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="tanh")])
    teacher.set_weights([np.array([[0.8], [-0.5]], np.float32), np.array([0.2], np.float32)])
    student = models.student(n_features=2, n_qubits=2, n_layers=2)
    x, held_out = features(rng, 256), features(rng, 200)
    target = teacher.predict(held_out, verbose=0)
    distill(teacher, student, ExpectationDistillation(), x, epochs=40)
    error = np.mean((student.predict(held_out, verbose=0) - target) ** 2)
    assert error < 0.02 * np.var(target), (error, np.var(target))


def test_meta_adapted_model_teaches(rng):
    """A model returned by MetaLearner.adapt is a plain Keras model: it can teach."""
    keras.utils.set_random_seed(3)
    meta = tfq_meta.MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1),
                                algorithm="fomaml", inner_steps=1, inner_lr=0.1)
    meta.compile(optimizer="adam", loss="mse")
    task = tfq_meta.tasks.Sinusoid(shots=10).sample(1, seed=0)
    teacher = meta.adapt(task["support_x"][0], task["support_y"][0], steps=5)
    student = models.student(n_features=1, n_qubits=2, n_layers=1)
    x = rng.uniform(-5, 5, (128, 1)).astype(np.float32)
    teacher_before = [w.numpy().copy() for w in teacher.weights]
    history = distill(teacher, student, ExpectationDistillation(), x, epochs=15)
    losses = history.history["distillation_loss"]
    assert losses[-1] < 0.2 * losses[0], losses
    for before, after in zip(teacher_before, teacher.weights):
        np.testing.assert_array_equal(after.numpy(), before)


# --------------------------------------------------------------------------------------------
# 4. Labeled, unlabeled and partly labeled data; logs
# --------------------------------------------------------------------------------------------

def test_logs_and_partly_labeled_data(rng):
    """sample_weight 0 marks unlabeled examples: they add nothing to the student loss or the
    metrics, but still take part in the distillation."""
    teacher, student = classifiers()
    distiller = Distiller(teacher, student, LogitsDistillation(2.0), student_loss_weight=0.5)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), loss=CROSS_ENTROPY,
                      weighted_metrics=["accuracy"])
    x, y = features(rng, 16), rng.integers(0, 3, 16)
    labeled = np.r_[np.ones(6), np.zeros(10)].astype(np.float32)
    logs = distiller.evaluate(x, y, sample_weight=labeled, batch_size=16, return_dict=True,
                              verbose=0)
    assert set(logs) == {"loss", "student_loss", "distillation_loss", "total_loss", "accuracy"}
    logits = student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["student_loss"], cross_entropy(y, logits, labeled), rtol=1e-5)
    np.testing.assert_allclose(logs["accuracy"], np.mean(logits[:6].argmax(1) == y[:6]))
    np.testing.assert_allclose(logs["distillation_loss"], kl_with_temperature(
        teacher.predict(x, verbose=0), logits, 2.0), rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], logs["total_loss"], rtol=1e-6)

    history = distiller.fit(x, epochs=1, batch_size=16, verbose=0)  # no labels at all
    assert set(history.history) == {"loss", "student_loss", "distillation_loss", "total_loss"}
    np.testing.assert_allclose(history.history["loss"], logs["distillation_loss"], rtol=1e-5)


# --------------------------------------------------------------------------------------------
# 5. The student is saved alone; the distiller round-trips
# --------------------------------------------------------------------------------------------

def test_student_exports_alone_and_reloads_in_a_fresh_process(rng, tmp_path):
    teacher, student = classifiers()
    distiller = Distiller(teacher, student, [LogitsDistillation(2.0),
                                             ObservableDistillation(["Z0*Z1"])])
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss=CROSS_ENTROPY)
    x, y = features(rng, 32), rng.integers(0, 3, 32)
    distiller.fit(x, y, epochs=1, batch_size=16, verbose=0)
    distiller.student.save(tmp_path / "student.keras")
    distiller.student.export(tmp_path / "student_savedmodel", verbose=False)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", student.predict(x, verbose=0))

    result = run_fresh_python("""
        import numpy as np, keras, tensorflow as tf
        import tfq_meta
        x, expected = np.load("x.npy"), np.load("expected.npy")
        model = keras.models.load_model("student.keras")
        served = tf.saved_model.load("student_savedmodel")
        print(model.count_params())
        print([layer.name for layer in model.layers])
        print(np.max(np.abs(model.predict(x, verbose=0) - expected)))
        print(np.max(np.abs(served.serve(x).numpy() - expected)))
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    count, names, keras_error, served_error = result.stdout.strip().splitlines()[-4:]
    assert int(count) == student.count_params() < teacher.count_params()
    assert names == str([layer.name for layer in student.layers])
    assert float(keras_error) < 1e-6 and float(served_error) < 1e-6


def test_distiller_round_trips_through_keras_file(rng, tmp_path):
    teacher, student = classifiers()
    distiller = Distiller(teacher, student,
                          [LogitsDistillation(2.5),
                           ObservableDistillation(["Z0", "0.5*X2"], qubit_map={0: 1, 2: 0}),
                           ExpectationDistillation()],
                          distillation_loss_weights=[1.0, 0.5, 0.1], student_loss_weight=0.2)
    distiller.compile(optimizer=keras.optimizers.Adam(0.05), loss=CROSS_ENTROPY,
                      metrics=["accuracy"])
    x, y = features(rng, 16), rng.integers(0, 3, 16)
    distiller.fit(x, y, epochs=1, batch_size=8, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    reloaded = keras.models.load_model(tmp_path / "distiller.keras")
    assert isinstance(reloaded, Distiller) and reloaded.compiled
    assert reloaded.student_loss_weight == 0.2
    assert reloaded.distillation_loss_weights == [1.0, 0.5, 0.1]
    assert reloaded.distillation_losses[1].qubit_map == {0: 1, 2: 0}
    expected = distiller.evaluate(x, y, return_dict=True, verbose=0)
    logs = reloaded.evaluate(x, y, return_dict=True, verbose=0)
    for key, value in expected.items():
        np.testing.assert_allclose(logs[key], value, rtol=1e-5, err_msg=key)
