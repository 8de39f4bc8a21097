"""Bad input to distillation gets a clear error naming the argument, raised before any
simulation."""
import keras
import numpy as np
import pytest

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
