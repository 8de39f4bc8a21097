"""DistillerHyperModel: keras-tuner search space of distilling a teacher into a student."""
import warnings

import keras
import keras_tuner
from keras_tuner.engine import hyperparameters as hp_types

from tfq_meta._validation import check_choice, check_positive_float, check_unit_interval
from tfq_meta.distillation import Distiller, ExpectationDistillation, LogitsDistillation
from tfq_meta.distillation.distiller import check_teacher
from tfq_meta.distillation.losses import check_several_logits
from tfq_meta.tuning._space import (build_function, build_wrapped_model, declare,
                                    failed_trial_on_invalid_model, search_space, tuned_names)

DISTILLATIONS = ("logits", "expectation")
# Logged values that mix in the distillation loss, whose scale moves with the temperature and
# the loss weight: trials with different values cannot be ranked by them.
_MIXED_OBJECTIVES = ("loss", "total_loss", "distillation_loss")


class DistillerHyperModel(keras_tuner.HyperModel):
    """Searches the temperature, loss weight and student size of a :class:`tfq_meta.Distiller`.

    Each trial builds a student from ``student`` (a hypermodel: its search space, e.g. the
    student's qubits, layers and learning rate, joins this one) and a
    ``Distiller(teacher, student, distillation_loss, student_loss_weight=…)`` compiled with the
    student's compile arguments (its optimizer, loss on labels and metrics). The teacher is
    the same trained model in every trial, frozen.

    **Objective.** The Distiller's ``val_loss`` is its total loss ``w · student_loss + (1 − w)
    · distillation_loss``, whose scale changes with the temperature (the ``T²`` factor) and the
    weight ``w``: it cannot rank trials that differ in them. Rank by how well the student does
    on labeled validation data instead: ``objective=hypermodel.objective``
    (``"val_student_loss"``, the student's own loss) or
    ``keras_tuner.Objective("val_accuracy", "max")``. ``fit`` warns when the tuner's objective
    is a total loss while the temperature or the weight are tuned.

    Tuned arguments take ``None`` (the default space), a fixed value, a list of choices or a
    keras-tuner hyperparameter, as in :class:`tfq_meta.tuning.StudentHyperModel`.

    Args:
        teacher: a trained ``keras.Model`` (e.g. the best model of a ``TeacherHyperModel``
            search), shared by every trial.
        student: a hypermodel whose ``build(hp)`` returns a compiled student with the teacher's
            inputs and output shape, e.g. ``StudentHyperModel(n_features, n_outputs, task,
            n_qubits=[2, 3, 4])``, or a function ``hp -> model``.
        temperature: of :class:`tfq_meta.distillation.LogitsDistillation`; default
            ``Float(1.0, 10.0, sampling="log")``, starting at 3.0. Only with
            ``distillation="logits"``.
        student_loss_weight: ``w`` in ``[0, 1]``, 0 distills only, 1 trains on labels only;
            default ``Float(0.0, 1.0)``, starting at 0.5.
        distillation: ``"logits"`` (``LogitsDistillation``, class logits) or ``"expectation"``
            (``ExpectationDistillation``, regression outputs); default from ``student.task``
            (classification: logits).
        name, tunable: as for ``keras_tuner.HyperModel``.

    Attributes:
        objective: ``keras_tuner.Objective("val_student_loss", "min")``.
        hyperparameters: the search space of ``student_loss_weight`` and ``temperature``, a
            ``keras_tuner.HyperParameters`` that ``build(hp)`` declares after the student's.

    Example:
    >>> import keras_tuner, tfq_meta
    >>> from tfq_meta.tuning import StudentHyperModel
    >>> teacher = tfq_meta.models.teacher(2, 3, "classification", n_qubits=3, n_layers=1)
    >>> hypermodel = DistillerHyperModel(
    ...     teacher, StudentHyperModel(2, 3, "classification", n_qubits=[2, 1], n_layers=1),
    ...     temperature=[4.0, 2.0], student_loss_weight=0.25)
    >>> distiller = hypermodel.build(keras_tuner.HyperParameters())
    >>> distiller.distillation_losses[0].temperature, distiller.student_loss_weight
    (4.0, 0.25)

    A search, ranked by the student's loss on labeled validation data:

    ```python
    tuner = keras_tuner.BayesianOptimization(hypermodel, objective=hypermodel.objective,
                                             max_trials=10, directory="tuning",
                                             project_name="distill")
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=20)
    student = tuner.get_best_models()[0].student
    ```
    """

    # The objective to give the tuner: the student's loss on the validation labels.
    objective = keras_tuner.Objective("val_student_loss", direction="min")

    def __init__(self, teacher, student, temperature=None, student_loss_weight=None,
                 distillation=None, name=None, tunable=True):
        super().__init__(name=name, tunable=tunable)
        check_teacher(teacher)
        self.teacher = teacher
        self.student = student
        self._build_student = build_function(student, "student")
        _check_student_matches_teacher(student, teacher)
        self.distillation = _distillation(distillation, student, temperature)
        if self.distillation == "logits" and getattr(teacher, "outputs", None):
            check_several_logits(teacher.outputs[0], "teacher")
        default_weight = hp_types.Float("student_loss_weight", 0.0, 1.0, default=0.5)
        tuned_arguments = [(student_loss_weight, default_weight, check_unit_interval)]
        if self.distillation == "logits":  # the only distillation with a temperature
            default_temperature = hp_types.Float("temperature", 1.0, 10.0, sampling="log",
                                                 default=3.0)
            tuned_arguments.append((temperature, default_temperature, check_positive_float))
        self.hyperparameters = search_space(*tuned_arguments)

    def build(self, hp):
        """Builds the student of this trial and compiles its Distiller."""
        student, compiled_with = build_wrapped_model(self._build_student, hp, "student")
        values = declare(hp, self.hyperparameters)
        loss = (LogitsDistillation(values["temperature"]) if self.distillation == "logits"
                else ExpectationDistillation())
        with failed_trial_on_invalid_model(hp):
            distiller = Distiller(self.teacher, student, loss,
                                  student_loss_weight=values["student_loss_weight"])
        if getattr(student, "inputs", None):
            # A symbolic call marks the Distiller built (its weights are the two models'), which
            # keras-tuner needs to load a trial's checkpoint into it (get_best_models, Hyperband).
            distiller(keras.Input(student.inputs[0].shape[1:]))
        distiller.compile(**compiled_with)
        # As in StudentHyperModel: Hyperband restores optimizer variables that already exist.
        distiller.optimizer.build(distiller.trainable_variables)
        return distiller

    def fit(self, hp, model, *args, **kwargs):
        """Trains the Distiller as ``model.fit``; warns when the objective cannot rank trials."""
        oracle = _tuner_oracle(kwargs.get("callbacks"))
        if oracle is not None:
            self._warn_if_the_objective_cannot_rank_trials(oracle)
        return model.fit(*args, **kwargs)

    def _warn_if_the_objective_cannot_rank_trials(self, oracle):
        """Warns if the tuner's objective mixes in a distillation loss whose scale it tunes."""
        objective = getattr(oracle.objective, "name", None) or ""
        if objective.removeprefix("val_") not in _MIXED_OBJECTIVES:
            return
        # What the oracle tunes, which the tuner's hyperparameters= and tune_new_entries decide.
        tuned = tuned_names([h.name for h in self.hyperparameters.space], oracle.get_space())
        if tuned:
            warnings.warn(
                f"The tuner's objective {objective!r} includes the distillation loss, whose scale "
                f"changes with the tuned {tuned}: it cannot rank these trials. Use "
                "objective=hypermodel.objective ('val_student_loss') or "
                "keras_tuner.Objective('val_accuracy', 'max').", stacklevel=3)


def _tuner_oracle(callbacks):
    """The oracle of the tuner running this fit, if it can be told."""
    for callback in callbacks or ():
        # keras-tuner adds a callback holding the tuner to every fit of a search.
        oracle = getattr(getattr(callback, "tuner", None), "oracle", None)
        if oracle is not None:
            return oracle
    return None


def _distillation(distillation, student, temperature):
    if distillation is None:
        task = getattr(student, "task", None)
        if task is None:
            raise ValueError("`distillation` is required when `student` is not a "
                             "StudentHyperModel: 'logits' for class logits, 'expectation' for "
                             "regression outputs.")
        distillation = "logits" if task == "classification" else "expectation"
    check_choice(distillation, DISTILLATIONS, "distillation")
    if distillation != "logits" and temperature is not None:
        raise ValueError(f"`temperature` only applies to distillation='logits'; this "
                         f"hypermodel distills with {distillation!r}.")
    return distillation


def _check_student_matches_teacher(student, teacher):
    """Catches, before any trial, a student space that cannot take the teacher's place."""
    if not getattr(teacher, "outputs", None) or not hasattr(student, "n_features"):
        return
    teacher_features = teacher.inputs[0].shape[-1]
    teacher_outputs = teacher.outputs[0].shape[-1]
    if (student.n_features, student.n_outputs) != (teacher_features, teacher_outputs):
        raise ValueError(
            f"`student` builds models with {student.n_features} features and "
            f"{student.n_outputs} outputs, but the teacher has {teacher_features} features and "
            f"{teacher_outputs} outputs: give the student hypermodel the teacher's n_features "
            "and n_outputs.")
