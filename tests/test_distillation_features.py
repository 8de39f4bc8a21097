"""Features the distillation losses compare: every one computed in one pass, the teacher's circuit
simulated once per step whatever the losses.

Oracles: the models' own outputs, Cirq's exact simulator for observables, NumPy formulas for the
losses.
"""
import keras
import numpy as np
import pytest

from tfq_meta import Distiller
from tfq_meta.distillation import LogitsDistillation, ObservableDistillation
from tfq_meta.distillation.features import Feature, FeatureExtractor, declared_features
from distillation_oracle import classifiers, cirq_observables, features, kl_with_temperature

OBSERVABLES = ["Z0", "0.5*Z0*Z1 - X1"]


def count_simulations(monkeypatch, layer):
    """A list that grows by one each time ``layer``'s circuit is simulated."""
    calls, expectations = [], layer.compiled_circuit.expectations

    def counted(*args, **kwargs):
        calls.append(1)
        return expectations(*args, **kwargs)

    monkeypatch.setattr(layer.compiled_circuit, "expectations", counted)
    return calls


def test_one_pass_gives_the_output_a_layer_output_and_observables(rng):
    teacher, _ = classifiers()
    circuit = teacher.get_layer("circuit")
    observables = tuple(circuit.compiled_circuit.prepare(OBSERVABLES))
    extractor = FeatureExtractor(teacher, [Feature(), Feature("circuit"),
                                           Feature("circuit", observables)])
    x = features(rng, 6)
    output, circuit_output, measured = (v.numpy() for v in extractor(x))
    np.testing.assert_allclose(output, teacher(x), rtol=1e-6)
    np.testing.assert_allclose(circuit_output, keras.Model(teacher.input, circuit.output)(x),
                               rtol=1e-6)
    np.testing.assert_allclose(measured, cirq_observables(circuit, x, list(observables)),
                               atol=1e-5)


def test_two_measured_features_of_one_circuit_are_its_columns(rng):
    teacher, _ = classifiers()
    circuit = teacher.get_layer("circuit")
    first, second = (tuple(circuit.compiled_circuit.prepare([o])) for o in OBSERVABLES)
    x = features(rng, 4)
    values = FeatureExtractor(teacher, [Feature("circuit", first), Feature("circuit", second)])(x)
    expected = cirq_observables(circuit, x, [first[0], second[0]])
    np.testing.assert_allclose(np.concatenate([v.numpy() for v in values], axis=1), expected,
                               atol=1e-5)


def test_teacher_circuit_runs_once_per_step_whatever_the_losses(rng, monkeypatch):
    teacher, student = classifiers()
    observable_loss = ObservableDistillation(OBSERVABLES)
    layer_loss = keras.distillation.FeatureDistillation(
        loss="mse", teacher_layer_name="logits", student_layer_name="logits")
    distiller = Distiller(teacher, student, [LogitsDistillation(2.0), observable_loss, layer_loss],
                          distillation_loss_weights=[1.0, 0.5, 0.25], student_loss_weight=0.0)
    teacher_runs = count_simulations(monkeypatch, teacher.get_layer("circuit"))
    x = features(rng, 5)
    total = float(distiller.compute_loss(x))
    assert len(teacher_runs) == 1

    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    teacher_values = cirq_observables(teacher.get_layer("circuit"), x,
                                      observable_loss.teacher_observables)
    student_values = cirq_observables(student.get_layer("circuit"), x,
                                      observable_loss.student_observables)
    matched = np.mean(np.sum((teacher_values - student_values) ** 2, axis=1))
    expected = (kl_with_temperature(t, s, 2.0) + 0.5 * matched
                + 0.25 * np.mean((t.astype(np.float64) - s) ** 2))
    np.testing.assert_allclose(total, expected, rtol=1e-5)


def test_observable_matching_alone_simulates_the_teacher_once(rng, monkeypatch):
    teacher, student = classifiers()
    distiller = Distiller(teacher, student, ObservableDistillation(OBSERVABLES),
                          student_loss_weight=0.0)
    teacher_runs = count_simulations(monkeypatch, teacher.get_layer("circuit"))
    distiller.compute_loss(features(rng, 3))
    assert len(teacher_runs) == 1


def test_keras_losses_declare_features_by_layer_name():
    loss = keras.distillation.FeatureDistillation(teacher_layer_name="a", student_layer_name="b")
    assert declared_features(loss) == (Feature("a"), Feature("b"))
    assert declared_features(LogitsDistillation()) == (Feature(), Feature())


def test_a_layer_feature_of_a_subclassed_model_is_an_error():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="needs a Functional or Sequential model.*Subclassed"):
        FeatureExtractor(Subclassed(), [Feature("dense")])


def test_observables_of_a_layer_that_is_not_a_circuit_are_an_error():
    teacher, _ = classifiers()
    observables = tuple(teacher.get_layer("circuit").compiled_circuit.prepare(["Z0"]))
    with pytest.raises(ValueError, match="only be measured on a PQC layer; layer 'logits' is a "
                                         "Dense"):
        FeatureExtractor(teacher, [Feature("logits", observables)])
