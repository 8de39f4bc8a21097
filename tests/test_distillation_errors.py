"""Bad input to distillation gets a clear error naming the argument, raised before any
simulation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import Distiller, models
from tfq_meta.distillation import (ExpectationDistillation, LogitsDistillation,
                                   ObservableDistillation)


@pytest.fixture(scope="module")
def pair():
    keras.utils.set_random_seed(0)
    teacher = models.teacher(2, 3, "classification", n_qubits=3, n_layers=1)
    student = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    return teacher, student


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), True, "3"])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="`temperature` must be a positive finite number"):
        LogitsDistillation(temperature)


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_student_loss_weight_must_be_in_unit_interval(pair, weight):
    with pytest.raises(ValueError, match=r"`student_loss_weight` must be a number in \[0, 1\]"):
        Distiller(*pair, LogitsDistillation(), student_loss_weight=weight)


@pytest.mark.parametrize("weights", [[-1.0], [float("nan")], [1.0, 1.0], 0.5, [True]])
def test_distillation_loss_weights_are_checked(pair, weights):
    with pytest.raises(ValueError, match="`distillation_loss_weights` must be"):
        Distiller(*pair, [LogitsDistillation()], distillation_loss_weights=weights)


@pytest.mark.parametrize("losses, error", [
    ([], ValueError), ("kl_divergence", TypeError), ([keras.losses.MeanSquaredError()], TypeError)])
def test_distillation_losses_must_be_distillation_losses(pair, losses, error):
    with pytest.raises(error, match="`distillation_losses`"):
        Distiller(*pair, losses)


def test_output_shapes_that_cannot_be_matched(pair):
    teacher, _ = pair
    student = models.student(2, 4, "classification", n_qubits=2, n_layers=1)
    with pytest.raises(ValueError, match="output shapes are incompatible"):
        Distiller(teacher, student, LogitsDistillation())
    with pytest.raises(ValueError, match=r"same shape.*teacher \(None, 3\) and student "
                                         r"\(None, 2\).*ObservableDistillation"):
        Distiller(*pair, ExpectationDistillation("circuit", "circuit"))
    with pytest.raises(ValueError, match="`student_layer_name`: the student has no layer 'pqc'"):
        Distiller(*pair, ExpectationDistillation("circuit", "pqc"))


@pytest.mark.parametrize("observables, qubit_map, message", [
    (["Z0", "X2"], None, r"acts on teacher qubit 2, but the student's circuit has only 2 qubits"),
    (["Z0*Z1"], {0: 0}, r"acts on teacher qubit 1, which `qubit_map` does not map"),
    (["Z0"], {0: 2}, r"maps teacher qubit 0 to student qubit 2, but the student's circuit has "
                     r"only 2 qubits"),
    (["Z3"], None, r"`observables`.*qubit"),
])
def test_observable_on_a_qubit_the_student_lacks(pair, observables, qubit_map, message):
    with pytest.raises(ValueError, match=message):
        Distiller(*pair, ObservableDistillation(observables, qubit_map=qubit_map))


@pytest.mark.parametrize("qubit_map, message", [
    ({0: 0, 1: 0}, "one-to-one"), ({0: -1}, "non-negative ints"), ([0, 1], "must be a dict"),
    ({"0": 1}, "non-negative ints")])
def test_qubit_map_is_checked(qubit_map, message):
    with pytest.raises(ValueError, match=f"`qubit_map`.*{message}|{message}"):
        ObservableDistillation(["Z0"], qubit_map=qubit_map)


def test_observable_matching_needs_a_pqc_layer(pair):
    teacher, student = pair
    classical = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="The teacher has 0 top-level PQC layers"):
        Distiller(classical, student, ObservableDistillation(["Z0"]))
    with pytest.raises(ValueError, match="`student_layer_name`: the student has no top-level PQC "
                                         "layer named 'logits'"):
        Distiller(teacher, student, ObservableDistillation(["Z0"], student_layer_name="logits"))
    subclassed = Subclassed()
    subclassed(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="needs a Functional or Sequential student"):
        ObservableDistillation(["Z0"]).validate_model_compatibility(teacher, subclassed)


def test_unknown_student_loss(pair):
    with pytest.raises(ValueError, match="`loss` must be a Keras loss name, function or "
                                         "keras.losses.Loss; got 'nope'"):
        Distiller(*pair, LogitsDistillation()).compile(optimizer="adam", loss="nope")


def test_labels_without_a_loss_and_data_without_labels(pair):
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int32)
    distiller = Distiller(*pair, LogitsDistillation(), student_loss_weight=0.5)
    distiller.compile(optimizer="adam")
    with pytest.raises(ValueError, match="compile\\(\\) got no `loss`"):
        distiller.fit(x, y, verbose=0)
    only_labels = Distiller(*pair, LogitsDistillation(), student_loss_weight=1.0)
    only_labels.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="no labels, but student_loss_weight=1.0"):
        only_labels.fit(x, verbose=0)


def test_teacher_must_be_built():
    student = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="`teacher` must be a built, trained keras.Model; model "
                                         "'.*' is not built.*random weights"):
        Distiller(unbuilt, student, LogitsDistillation())
    with pytest.raises(TypeError, match="`teacher` must be a trained keras.Model; got str"):
        Distiller("teacher.keras", student, LogitsDistillation())


def test_teacher_and_student_must_be_different_models():
    model = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    with pytest.raises(ValueError, match="`teacher` and `student` must be different models; got "
                                         "the same model twice"):
        Distiller(model, model, LogitsDistillation())
    inputs = keras.Input((2,))
    shared = keras.layers.Dense(3)
    teacher = keras.Model(inputs, shared(inputs))
    student = keras.Model(inputs, keras.layers.Dense(3)(shared(inputs)))
    with pytest.raises(ValueError, match="`student` shares 2 weights with `teacher`"):
        Distiller(teacher, student, LogitsDistillation())
    assert model.trainable and teacher.trainable  # refused before anything was frozen


def test_a_frozen_student_is_refused(pair):
    teacher, _ = pair
    frozen = models.student(2, 3, "classification", n_qubits=2, n_layers=1)
    frozen.trainable = False
    with pytest.raises(ValueError, match="`student` has no trainable weights.*set "
                                         "student.trainable = True"):
        Distiller(teacher, frozen, LogitsDistillation())


def test_logits_distillation_needs_several_outputs():
    teacher = models.teacher(2, 1, n_qubits=3, n_layers=1)
    student = models.student(2, 1, n_qubits=2, n_layers=1)
    message = ("LogitsDistillation needs class logits, one output per class; the teacher has one "
               r"output \(shape \((None|4), 1\)\), whose softmax is always 1.*"
               "ExpectationDistillation")
    with pytest.raises(ValueError, match=message):
        Distiller(teacher, student, LogitsDistillation())
    with pytest.raises(ValueError, match=message):
        LogitsDistillation().validate_outputs(np.zeros((4, 1), np.float32),
                                              np.zeros((4, 1), np.float32))
    # What it says to use trains: a non-zero loss on the same pair.
    distiller = Distiller(teacher, student, ExpectationDistillation(), student_loss_weight=0.0)
    distiller.compile(optimizer="adam", jit_compile=False)
    x = np.random.default_rng(0).uniform(0, np.pi, (8, 2)).astype(np.float32)
    expected = np.mean((teacher.predict(x, verbose=0) - student.predict(x, verbose=0)) ** 2)
    logs = distiller.evaluate(x, verbose=0, return_dict=True)
    assert expected > 1e-6
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-5)


@pytest.fixture(scope="module")
def distiller(pair):
    teacher, student = pair
    distiller = Distiller(teacher, student, LogitsDistillation(), student_loss_weight=0.5)
    distiller.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)
    return distiller


X = np.random.default_rng(1).uniform(0, np.pi, (8, 2)).astype(np.float32)


@pytest.mark.parametrize("x, y, error, message", [
    (np.zeros((8, 5), np.float32), None, ValueError,
     r"`x` must be shaped \[batch, 2\] \(the model's input shape is \(None, 2\)\); got shape "
     r"\(8, 5\)"),
    (np.full((8, 2), np.nan, np.float32), None, ValueError, "`x` holds NaN or infinite features"),
    (np.full((8, 2), "a"), None, TypeError, "`x` must hold float or int features"),
    (X, np.full(8, np.nan, np.float32), ValueError, "`y` holds NaN or infinite labels"),
    (X, np.array(["cat"] * 8), TypeError, "`y` must hold numbers \\(int class indices\\); got "
                                          "dtype string"),
    (X, np.full(8, 7, np.int32), ValueError, r"`y` holds class labels outside \[0, 3\)"),
    (X, np.full(8, 0.5, np.float32), ValueError, "`y` must hold whole class indices"),
    (X, np.zeros((8, 3), np.float32), ValueError,
     r"`y` must be shaped \[batch\], one class index per example; got shape \(8, 3\)"),
])
def test_bad_training_data_is_refused_before_training(distiller, x, y, error, message):
    before = [w.copy() for w in distiller.student.get_weights()]
    with pytest.raises(error, match=message):
        distiller.fit(x, y, verbose=0)
    with pytest.raises(error, match=message):
        distiller.evaluate(x, y, verbose=0)
    for old, new in zip(before, distiller.student.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_bad_labels_in_a_dataset_fail_with_a_clear_error(distiller):
    dataset = tf.data.Dataset.from_tensor_slices((X, np.full(8, 1.5, np.float32))).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`y` must hold whole class indices"):
        distiller.fit(dataset, verbose=0)
