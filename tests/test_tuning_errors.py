"""Bad arguments to the tuning hypermodels get a clear error naming the argument, raised when the
hypermodel is created rather than by every trial of a search."""
import keras
import keras_tuner
import pytest
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta import models
from tfq_meta.tuning import DistillerHyperModel, MetaLearnerHyperModel, StudentHyperModel


def student(**options):
    return StudentHyperModel(2, **{"n_qubits": 2, "n_layers": 1, **options})


@pytest.mark.parametrize("argument, hyperparameter", [
    ("n_qubits", hp_types.Int("n_qubits", 2, 4, step=0)),
    ("n_layers", hp_types.Int("n_layers", 1, 3, step=-1)),
    ("learning_rate", hp_types.Float("learning_rate", 0.01, 0.1, step=0.0)),
])
def test_ranges_need_a_positive_step(argument, hyperparameter):
    with pytest.raises(ValueError, match=f"`{argument}` must have a positive `step`"):
        student(**{argument: hyperparameter})


def test_a_float_range_without_step_is_accepted():
    space = student(learning_rate=hp_types.Float("lr", 0.01, 0.1, sampling="log")).hyperparameters
    assert space.values["learning_rate"] == pytest.approx(0.01)


@pytest.mark.parametrize("options, message", [
    (dict(loss="nope"), "`loss` must be a Keras loss name, function or keras.losses.Loss; got "
                        "'nope'"),
    (dict(loss=3), "`loss` must be a Keras loss"),
    (dict(metrics=["mae", "nope"]), r"`metrics` must be Keras metrics \(names, functions or "
                                    r"keras.metrics.Metric\); got 'nope'"),
])
def test_unknown_losses_and_metrics_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        student(**options)


def test_metric_names_that_compile_resolves_are_accepted():
    model = StudentHyperModel(2, 3, "classification", n_qubits=2, n_layers=1,
                              metrics=["acc", "crossentropy"]).build(keras_tuner.HyperParameters())
    assert model.compiled


def test_meta_learner_head():
    with pytest.raises(TypeError, match="`head` must be a layer name or a non-empty list of "
                                        "layer names; got 3"):
        MetaLearnerHyperModel(student(), algorithm="anil", head=3)
    with pytest.raises(ValueError, match=r"`head` only applies to algorithm='anil' trials, which "
                                         r"`algorithm` \['maml', 'fomaml'\] does not include"):
        MetaLearnerHyperModel(student(), algorithm=["maml", "fomaml"], head="readout")
    meta = MetaLearnerHyperModel(student(), algorithm="anil", head="readout",
                                 inner_steps=1).build(keras_tuner.HyperParameters())
    assert meta.head == ["readout"]


def test_distiller_teacher_must_be_built():
    with pytest.raises(ValueError, match="`teacher` must be a built, trained keras.Model"):
        DistillerHyperModel(keras.Sequential([keras.layers.Dense(3)]),
                            student(n_outputs=3, task="classification"))


def test_logits_distillation_of_a_one_output_teacher_is_refused():
    teacher = models.teacher(2, 1, n_qubits=3, n_layers=1)
    with pytest.raises(ValueError, match="LogitsDistillation needs class logits.*the teacher has "
                                         "one output"):
        DistillerHyperModel(teacher, student(), distillation="logits")
    assert DistillerHyperModel(teacher, student()).distillation == "expectation"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(entangler=["cnot", "swap"]), ValueError, r"`entangler` must be one of \["),
    (dict(encoding="rw"), ValueError, "`encoding` must be one of"),
    (dict(n_qubits=0), ValueError, "`n_qubits` must be a positive int"),
    (dict(n_qubits=[2, 2.5]), ValueError, "`n_qubits` must be a positive int"),
    (dict(n_layers=hp_types.Int("n", 0, 3)), ValueError, "`n_layers` must be a positive int"),
    (dict(n_qubits=[]), ValueError, "`n_qubits` is an empty list"),
    (dict(n_qubits={"min": 2}), TypeError, "`n_qubits` must be a value, a list of values"),
    (dict(learning_rate=-0.1), ValueError, "`learning_rate` must be a positive finite number"),
    (dict(trainable_scaling="yes"), ValueError, "`trainable_scaling` must be True or False"),
    (dict(optimizer="adamm"), ValueError, "`optimizer` 'adamm' is not the name"),
    (dict(optimizer=keras.optimizers.Adam(0.1)), TypeError, "`optimizer` must be a Keras "
                                                           "optimizer name"),
    (dict(compile_options={"loss": "mae"}), ValueError, r"`compile_options` must not set \['loss'"),
    (dict(qubits=3), TypeError, r"Unknown arguments \['qubits'\]"),
    (dict(task="classification"), ValueError, "`n_outputs` is the number of classes"),
    (dict(task="ranking"), ValueError, "`task` must be one of"),
    (dict(n_features=0), ValueError, "`n_features` must be a positive int"),
])
def test_student_hypermodel_rejects_bad_arguments(kwargs, error, message):
    kwargs = {"n_features": 1, **kwargs}
    with pytest.raises(error, match=message):
        StudentHyperModel(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(algorithm=["maml", "mamal"]), ValueError, "`algorithm` must be one of"),
    (dict(inner_steps=0), ValueError, "`inner_steps` must be a positive int"),
    (dict(inner_lr=[0.1, 0.0]), ValueError, "`inner_lr` must be a positive finite number"),
    (dict(model="student"), TypeError, "`model` must be a keras_tuner.HyperModel"),
])
def test_meta_learner_hypermodel_rejects_bad_arguments(kwargs, error, message):
    kwargs = {"model": StudentHyperModel(1), **kwargs}
    with pytest.raises(error, match=message):
        MetaLearnerHyperModel(**kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(teacher="teacher.keras"), TypeError, "`teacher` must be a trained keras.Model"),
    (dict(student=StudentHyperModel(1, 3, "classification")), ValueError,
     "builds models with 1 features and 3 outputs, but the teacher has 2 features"),
    (dict(temperature=0.0), ValueError, "`temperature` must be a positive finite number"),
    (dict(student_loss_weight=[0.5, 1.5]), ValueError, r"`student_loss_weight` must be a number "
                                                       r"in \[0, 1\]"),
    (dict(distillation="hints"), ValueError, "`distillation` must be one of"),
    (dict(distillation="expectation", temperature=2.0), ValueError,
     "`temperature` only applies to distillation='logits'"),
    (dict(student=lambda hp: None), ValueError, "`distillation` is required"),
])
def test_distiller_hypermodel_rejects_bad_arguments(kwargs, error, message):
    teacher = models.teacher(2, 3, "classification", n_qubits=2, n_layers=1)
    kwargs = {"teacher": teacher, "student": StudentHyperModel(2, 3, "classification"), **kwargs}
    with pytest.raises(error, match=message):
        DistillerHyperModel(**kwargs)


def test_model_hypermodel_must_build_a_compiled_model():
    hypermodel = MetaLearnerHyperModel(lambda hp: models.student(1, n_qubits=1, n_layers=1))
    with pytest.raises(keras_tuner.errors.FatalValueError, match="must return a compiled model"):
        hypermodel.build(keras_tuner.HyperParameters())
