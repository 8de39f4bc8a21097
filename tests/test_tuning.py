"""keras-tuner hypermodels: the trial's hyperparameters are in the built model, the stock tuners
(RandomSearch, BayesianOptimization, Hyperband) search every hypermodel kind, and the tuner's
``hyperparameters=`` and ``tune_new_entries`` override and fix the hypermodels' arguments.
Searches that meet failures: test_tuning_failures.py; bad arguments: test_tuning_errors.py.

Oracles: the circuits are inspected gate by gate (Cirq); a trial's score is recomputed from the
best model's predictions with NumPy (MSE, cross-entropy) or through another code path
(``MetaLearner.adaptation_losses`` instead of ``evaluate``).
"""

import cirq
import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models, tasks
from tfq_meta.distillation import ExpectationDistillation, LogitsDistillation
from tfq_meta.layers import PQC
from tfq_meta.tuning import (DistillerHyperModel, MetaLearnerHyperModel, StudentHyperModel,
                             TeacherHyperModel)
from tuning_searches import TINY, sine_examples, tiny, trials

TUNERS = [keras_tuner.RandomSearch, keras_tuner.BayesianOptimization, keras_tuner.Hyperband]


def make_tuner(tuner_class, hypermodel, directory, **kwargs):
    """Two trials (RandomSearch, BayesianOptimization) or one Hyperband iteration over 1–2 epochs
    whose second bracket continues its best trial from epoch 1."""
    common = dict(objective=hypermodel.objective, directory=str(directory),
                  project_name="search", seed=1, **kwargs)
    if tuner_class is keras_tuner.Hyperband:
        return tuner_class(hypermodel, max_epochs=2, factor=2, **common)
    return tuner_class(hypermodel, max_trials=2, **common)


def circuit_layer(model):
    return next(layer for layer in model._flatten_layers() if isinstance(layer, PQC))


def check_hyperband_continued_a_trial(tuner):
    """Hyperband's later round reloads an earlier trial's checkpoint and trains on from there."""
    if not isinstance(tuner, keras_tuner.Hyperband):
        return
    continued = [t for t in trials(tuner) if "tuner/trial_id" in t.hyperparameters.values]
    assert continued, [t.hyperparameters.values for t in trials(tuner)]
    for trial in continued:
        values = trial.hyperparameters.values
        parent = tuner.oracle.get_trial(values["tuner/trial_id"]).hyperparameters.values
        assert values["tuner/initial_epoch"] == 1 and values["tuner/epochs"] == 2
        assert {k: v for k, v in values.items() if not k.startswith("tuner/")} == \
            {k: v for k, v in parent.items() if not k.startswith("tuner/")}


def log_softmax(z):
    z = np.float64(z) - np.max(z, axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def sine():
    return sine_examples()


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, np.pi, (32, 2)).astype(np.float32)
    y = ((x[:, 0] > x[:, 1]).astype(np.int32) + (x[:, 0] > 2.0)).astype(np.int32)
    return x[:24], y[:24], x[24:], y[24:]


@pytest.fixture(scope="module")
def teacher():
    keras.utils.set_random_seed(0)
    return models.teacher(2, 3, "classification", n_qubits=2, n_layers=1)


# --------------------------------------------------------------------------------------------
# 1. The trial's hyperparameters are in the built model
# --------------------------------------------------------------------------------------------

def test_student_circuit_follows_the_trial_values():
    hypermodel = StudentHyperModel(1, n_qubits=[2, 3], n_layers=[1, 2], encoding=["rx", "ry"],
                                   entangler=["cnot", "cz"], trainable_scaling=[True, False],
                                   learning_rate=[0.1, 0.02])
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)  # declares the space; the tuner's oracle then sets the values
    hp.values.update(n_qubits=3, n_layers=2, encoding="ry", entangler="cz",
                     trainable_scaling=False, learning_rate=0.02)
    model = hypermodel.build(hp)

    circuit = circuit_layer(model).circuit
    data_gates = [op.gate for op in circuit.all_operations()
                  if any(str(s).startswith("x") for s in cirq.parameter_symbols(op))]
    assert len(circuit.all_qubits()) == 3
    assert len(data_gates) == 2 * 3                       # n_layers encodings of every qubit
    assert all(isinstance(gate, cirq.Ry) for gate in data_gates)
    assert sum(isinstance(op.gate, cirq.CZPowGate) for op in circuit.all_operations()) == 3 * 2
    assert not any(isinstance(op.gate, cirq.CNotPowGate) for op in circuit.all_operations())
    # (n_layers + 1) blocks of ry, rz on each qubit, and no input scales.
    assert circuit_layer(model).n_weights == 3 * 3 * 2
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    assert model.name == "student" and model.loss == "mse"


def test_teacher_default_space_starts_at_teacher_size():
    model = TeacherHyperModel(2, 3, "classification").build(keras_tuner.HyperParameters())
    summary = models.circuit_summary(model)
    assert (model.name, summary["qubits"]) == ("teacher", 8)
    assert len(circuit_layer(model).data_symbols) == 2
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_keras_tuner_hyperparameters_are_renamed_and_keep_their_range():
    hypermodel = StudentHyperModel(1, n_qubits=hp_types.Int("any name", 1, 5, step=2),
                                   learning_rate=hp_types.Float("lr", 1e-3, 1e-1, sampling="log"),
                                   **TINY)
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    (qubits,) = [h for h in hp.space if h.name == "n_qubits"]
    assert (type(qubits), qubits.min_value, qubits.max_value, qubits.step) == \
        (hp_types.Int, 1, 5, 2)
    assert "any name" not in hp.values and hp.values["learning_rate"] == pytest.approx(1e-3)
    hp.values["n_qubits"] = 5
    assert models.circuit_summary(hypermodel.build(hp))["qubits"] == 5


def test_meta_learner_follows_the_trial_values():
    hypermodel = MetaLearnerHyperModel(
        StudentHyperModel(1, n_qubits=[1, 2], learning_rate=[0.01, 0.03], **TINY),
        algorithm=["maml", "anil"], inner_steps=[1, 3], inner_lr=[0.1, 0.4], head="readout")
    hp = keras_tuner.HyperParameters()
    first = hypermodel.build(hp)
    assert (first.algorithm, first.head) == ("maml", None)  # `head` only goes to ANIL trials
    hp.values.update(n_qubits=2, learning_rate=0.03, algorithm="anil", inner_steps=3,
                     inner_lr=0.4)
    meta = hypermodel.build(hp)
    assert (meta.algorithm, meta.inner_steps, meta.inner_lr, meta.head) == \
        ("anil", 3, 0.4, ["readout"])
    assert float(meta.optimizer.learning_rate) == pytest.approx(0.03)   # the outer loop's
    assert models.circuit_summary(meta.model)["qubits"] == 2
    assert [m.name for m in meta.metrics] == ["loss", "mae", "pre_adapt_loss", "pre_adapt_mae"]


def test_meta_learner_of_a_model_building_function():
    def classical(hp):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(hp.Int("units", 2, 4)),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mae")
        return model

    hp = keras_tuner.HyperParameters()
    meta = MetaLearnerHyperModel(classical, algorithm="fomaml").build(hp)
    assert meta.model.layers[0].units == 2 and "units" in hp.values
    assert isinstance(meta.optimizer, keras.optimizers.SGD)
    assert meta.get_compile_config()["loss"] == "mae"


def test_distiller_follows_the_trial_values(teacher):
    hypermodel = DistillerHyperModel(
        teacher, StudentHyperModel(2, 3, "classification", n_qubits=[1, 2], **TINY),
        temperature=[2.0, 5.0], student_loss_weight=[0.5, 0.1])
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    hp.values.update(n_qubits=2, temperature=5.0, student_loss_weight=0.1)
    distiller = hypermodel.build(hp)
    (loss,) = distiller.distillation_losses
    assert isinstance(loss, LogitsDistillation) and loss.temperature == 5.0
    assert distiller.student_loss_weight == pytest.approx(0.1)
    assert models.circuit_summary(distiller.student)["qubits"] == 2
    assert distiller.teacher is teacher and distiller.built


def test_distiller_of_a_student_building_function(teacher):
    def student(hp):
        model = models.student(2, 3, "classification", n_qubits=hp.Int("qubits", 1, 2),
                               n_layers=1)
        model.compile(optimizer=keras.optimizers.SGD(0.1), weighted_metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    hp = keras_tuner.HyperParameters()
    distiller = DistillerHyperModel(teacher, student, distillation="logits",
                                    temperature=3.0).build(hp)
    assert sorted(hp.values) == ["qubits", "student_loss_weight", "temperature"]
    assert isinstance(distiller.optimizer, keras.optimizers.SGD)
    assert distiller.get_compile_config()["weighted_metrics"] == ["accuracy"]


def test_regression_distiller_matches_outputs_and_has_no_temperature():
    regression_teacher = models.teacher(1, n_qubits=2, n_layers=1)
    hypermodel = DistillerHyperModel(regression_teacher, StudentHyperModel(1, n_qubits=1, **TINY))
    hp = keras_tuner.HyperParameters()
    distiller = hypermodel.build(hp)
    assert isinstance(distiller.distillation_losses[0], ExpectationDistillation)
    assert "temperature" not in hp.values and hp.values["student_loss_weight"] == 0.5


def test_hyperparameters_hold_the_tuned_arguments_in_order():
    hypermodel = StudentHyperModel(1, n_qubits=[1, 2], n_layers=hp_types.Int("n", 1, 3),
                                   encoding="rx", trainable_scaling=[True, False])
    space = [(h.name, type(h)) for h in hypermodel.hyperparameters.space]
    assert space == [("n_qubits", hp_types.Choice), ("n_layers", hp_types.Int),
                     ("encoding", hp_types.Fixed), ("entangler", hp_types.Choice),
                     ("trainable_scaling", hp_types.Boolean), ("learning_rate", hp_types.Float)]
    assert hypermodel.hyperparameters.values == {
        "n_qubits": 1, "n_layers": 1, "encoding": "rx", "entangler": "cnot",
        "trainable_scaling": True, "learning_rate": pytest.approx(0.01)}


def test_entries_declared_before_build_take_the_place_of_the_arguments(teacher):
    # What a tuner's `hyperparameters=` does: its entries are in `hp` before build(hp) runs.
    hp = keras_tuner.HyperParameters()
    hp.Fixed("n_qubits", 2)
    hp.Fixed("learning_rate", 0.2)
    hp.Fixed("algorithm", "reptile")
    hp.Fixed("temperature", 7.0)
    student = StudentHyperModel(2, 3, "classification", n_qubits=1, learning_rate=[0.01, 0.03],
                                **TINY)
    meta = MetaLearnerHyperModel(student, algorithm=["maml", "anil"]).build(hp)
    distiller = DistillerHyperModel(teacher, student, temperature=[2.0, 4.0]).build(hp)

    assert meta.algorithm == "reptile"
    for model in (meta.model, distiller.student):
        assert models.circuit_summary(model)["qubits"] == 2
    assert float(distiller.optimizer.learning_rate) == pytest.approx(0.2)
    assert distiller.distillation_losses[0].temperature == 7.0


# --------------------------------------------------------------------------------------------
# 2. Every stock tuner searches every hypermodel kind; scores match the best model
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tuner_class", TUNERS, ids=lambda t: t.__name__)
def test_student_search(tuner_class, sine, tmp_path):
    x, y, x_val, y_val = sine
    # One search in compiled (graph) mode, as users run it.
    hypermodel = StudentHyperModel(1, n_qubits=[1, 2], learning_rate=0.05,
                                   **tiny(eager=tuner_class is not keras_tuner.Hyperband))
    tuner = make_tuner(tuner_class, hypermodel, tmp_path)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=2, batch_size=16, verbose=0)

    assert all(t.status == "COMPLETED" for t in trials(tuner))
    assert {t.hyperparameters["n_qubits"] for t in trials(tuner)} == {1, 2}
    best_trial = tuner.oracle.get_best_trials()[0]
    best = tuner.get_best_models()[0]
    assert models.circuit_summary(best)["qubits"] == best_trial.hyperparameters["n_qubits"]
    mse = np.mean((best.predict(x_val, verbose=0) - y_val) ** 2)
    assert best_trial.score == pytest.approx(mse, rel=1e-5)
    check_hyperband_continued_a_trial(tuner)


# Hyperband continues trials from checkpoints, which each hypermodel kind must survive; the other
# tuners only propose values, so each of them searches the student and one more kind.
@pytest.mark.parametrize("tuner_class", [keras_tuner.RandomSearch, keras_tuner.Hyperband],
                         ids=lambda t: t.__name__)
def test_meta_learner_search(tuner_class, tmp_path):
    family = tasks.Sinusoid(shots=4)
    hypermodel = MetaLearnerHyperModel(
        StudentHyperModel(1, n_qubits=1, learning_rate=0.02, **tiny()),
        algorithm=["fomaml", "maml"], inner_steps=1, inner_lr=0.3)
    tuner = make_tuner(tuner_class, hypermodel, tmp_path)
    tuner.search(family.episodes(2, seed=0), epochs=2, steps_per_epoch=2,
                 validation_data=family.episodes(2, seed=1, n_episodes=2), verbose=0)

    assert all(t.status == "COMPLETED" for t in trials(tuner))
    assert {t.hyperparameters["algorithm"] for t in trials(tuner)} == {"fomaml", "maml"}
    best_trial = tuner.oracle.get_best_trials()[0]
    best = tuner.get_best_models()[0]
    assert (best.algorithm, best.inner_steps, best.inner_lr) == \
        (best_trial.hyperparameters["algorithm"], 1, 0.3)
    # The validation query loss after one inner step, recomputed outside test_step: episode i
    # of seed 1 is family.sample(2, seed=[1, i]).
    query_loss = np.mean([best.adaptation_losses(family.sample(2, seed=[1, i]), steps=1)[1].mean()
                          for i in range(2)])
    assert best_trial.score == pytest.approx(query_loss, rel=1e-5)
    check_hyperband_continued_a_trial(tuner)


@pytest.mark.parametrize("tuner_class", [keras_tuner.BayesianOptimization, keras_tuner.Hyperband],
                         ids=lambda t: t.__name__)
def test_distiller_search(tuner_class, three_classes, teacher, tmp_path):
    x, y, x_val, y_val = three_classes
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    hypermodel = DistillerHyperModel(
        teacher, StudentHyperModel(2, 3, "classification", n_qubits=1, learning_rate=0.05,
                                   **tiny()),
        temperature=[2.0, 4.0], student_loss_weight=0.5)
    tuner = make_tuner(tuner_class, hypermodel, tmp_path)
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=2, batch_size=24, verbose=0)

    assert all(t.status == "COMPLETED" for t in trials(tuner))
    assert {t.hyperparameters["temperature"] for t in trials(tuner)} == {2.0, 4.0}
    best_trial = tuner.oracle.get_best_trials()[0]
    best = tuner.get_best_models()[0]
    assert best.distillation_losses[0].temperature == best_trial.hyperparameters["temperature"]
    # The objective is the student's own cross-entropy on the validation labels.
    logits = best.student.predict(x_val, verbose=0)
    cross_entropy = -np.mean(log_softmax(logits)[np.arange(len(y_val)), y_val])
    assert best_trial.score == pytest.approx(cross_entropy, rel=1e-5)
    for before, after in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # frozen in every trial
    check_hyperband_continued_a_trial(tuner)


def test_distiller_warns_when_the_objective_mixes_in_the_distillation_loss(three_classes,
                                                                           teacher, tmp_path):
    x, y, x_val, y_val = three_classes
    hypermodel = DistillerHyperModel(
        teacher, StudentHyperModel(2, 3, "classification", n_qubits=1, **tiny()),
        temperature=[2.0, 4.0])
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=1,
                                     directory=str(tmp_path), project_name="search")
    with pytest.warns(UserWarning, match=r"'val_loss' includes the distillation loss, whose "
                                         r"scale changes with the tuned \['student_loss_weight', "
                                         r"'temperature'\]"):
        tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=24, verbose=0)


class RecordingStudent(StudentHyperModel):
    """Records every model build() returns, including the one built when the tuner is created."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.built_models = []

    def build(self, hp):
        self.built_models.append(super().build(hp))
        return self.built_models[-1]


def encoding_layers(model):
    """n_layers, read from the circuit: every layer encodes the feature once on every qubit."""
    circuit = circuit_layer(model).circuit
    data_gates = [op for op in circuit.all_operations()
                  if any(str(s).startswith("x") for s in cirq.parameter_symbols(op))]
    return len(data_gates) // len(circuit.all_qubits())


def test_tuner_hyperparameters_fix_entries_and_tune_new_entries_false_keeps_defaults(sine,
                                                                                     tmp_path):
    x, y, x_val, y_val = sine
    space = keras_tuner.HyperParameters()
    space.Fixed("n_layers", 2)                # in place of the hypermodel's choice of 1 or 3
    space.Choice("n_qubits", [1, 2])
    hypermodel = RecordingStudent(1, n_layers=[1, 3], learning_rate=[0.05, 0.1], encoding="rx",
                                  compile_options={"run_eagerly": True})
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=2,
                                     hyperparameters=space, tune_new_entries=False, seed=1,
                                     directory=str(tmp_path), project_name="search")
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0)

    assert [h.name for h in tuner.oracle.get_space().space] == ["n_layers", "n_qubits"]
    assert all(t.status == "COMPLETED" for t in trials(tuner))
    assert {t.hyperparameters["n_qubits"] for t in trials(tuner)} == {1, 2}
    # The entries the tuner does not hold keep the hypermodel's defaults: its fixed values and
    # first choices, the default space's defaults otherwise.
    defaults = dict(n_layers=2, encoding="rx", entangler="cnot", trainable_scaling=True,
                    learning_rate=0.05)
    for trial in trials(tuner):
        assert {k: trial.hyperparameters[k] for k in defaults} == defaults
    assert len(hypermodel.built_models) == 3  # the tuner's first build, then one per trial
    assert {encoding_layers(model) for model in hypermodel.built_models} == {2}
    assert all(float(model.optimizer.learning_rate) == pytest.approx(0.05)
               for model in hypermodel.built_models)


def test_distiller_does_not_warn_when_the_tuner_fixes_what_scales_the_distillation_loss(
        three_classes, teacher, tmp_path, recwarn):
    x, y, x_val, y_val = three_classes
    hypermodel = DistillerHyperModel(
        teacher, StudentHyperModel(2, 3, "classification", n_qubits=[1, 2], **tiny()),
        temperature=[2.0, 4.0])
    space = keras_tuner.HyperParameters()
    space.Choice("n_qubits", [1, 2])
    # tune_new_entries=False: the temperature and the loss weight keep their defaults.
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=1,
                                     hyperparameters=space, tune_new_entries=False,
                                     directory=str(tmp_path), project_name="search")
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=24, verbose=0)

    assert [t.status for t in trials(tuner)] == ["COMPLETED"]
    assert not [w for w in recwarn if "includes the distillation loss" in str(w.message)]
