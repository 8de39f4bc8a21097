"""Distiller: trains a student model to reproduce a frozen teacher, driven by ``fit``."""
import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfq_meta._compat.keras import (DistributedFit, compiled_loss, compiled_metrics,
                                    loss_tracker, step_logs, tracked_metrics)
from tfq_meta._validation import check_unit_interval, is_finite_number
from tfq_meta.distillation.features import FeatureExtractor, declared_features
from tfq_meta.meta.episode_checks import check_examples, check_labels
from tfq_meta.meta.replicas import per_replica_loss
from tfq_meta.meta.task_losses import check_loss, label_kind
from tfq_meta.xla import XlaByDefault, resolve_jit_compile


@keras.saving.register_keras_serializable(package="tfq_meta")
class Distiller(DistributedFit, XlaByDefault, keras.distillation.Distiller):
    """Knowledge distillation from a teacher model into a smaller student, by ``compile``/``fit``.

    Keras' ``keras.distillation.Distiller`` with the same arguments, plus what training quantum
    students needs: losses on expectation values and on observables of the circuits
    (:mod:`tfq_meta.distillation`), training on unlabeled transfer data, and sample weights
    that mark which examples have labels.

    Each step minimizes::

        total = w · student_loss + (1 − w) · Σ_i λ_i · distillation_loss_i + regularization

    ``w`` is ``student_loss_weight``, ``λ_i`` the ``distillation_loss_weights``; the student loss
    is the ``loss`` given to ``compile``, on the labels. On batches without labels (``fit(x)``) the
    total is the distillation loss alone. ``sample_weight`` weights only the student loss, so
    ``sample_weight = 0`` marks unlabeled examples that still take part in the distillation. (As
    in any Keras loss, weighted losses are summed and divided by the batch size.)

    The teacher is frozen (``teacher.trainable = False``, run in inference mode): only the
    student's weights change. Any Keras model can teach: a PQC model, a classical network, or a
    model returned by :meth:`tfq_meta.MetaLearner.adapt`. After training, ``distiller.student``
    is a plain Keras model, saved and exported without the teacher.

    Logs: ``loss`` (= ``total_loss``), ``student_loss`` (0 when there are no labels or no compiled
    loss), ``distillation_loss`` and the compiled metrics of the student's predictions (only on
    labeled batches).

    Args:
        teacher: a ``keras.Model``, trained; frozen by the distiller.
        student: a ``keras.Model`` with the same inputs and output shape.
        distillation_losses: one loss or a list: :class:`LogitsDistillation` (class logits),
            :class:`ExpectationDistillation` (expectation values or regression outputs),
            :class:`ObservableDistillation` (chosen observables of both circuits), or any
            ``keras.distillation.DistillationLoss``. Each loss says what it compares (see
            :mod:`tfq_meta.distillation.features`); all the teacher's features come from one
            forward pass per step, so its circuit is simulated once whatever the losses.
        distillation_loss_weights: non-negative weights of the distillation losses; default 1
            each.
        student_loss_weight: ``w`` in ``[0, 1]``: 0 distills only, 1 trains on labels only.
        name: the model's name.

    Example:
    >>> import keras, numpy as np, tfq_meta
    >>> from tfq_meta.distillation import LogitsDistillation
    >>> teacher = tfq_meta.models.teacher(n_features=2, n_outputs=3, task="classification",
    ...                                   n_qubits=3, n_layers=2)
    >>> student = tfq_meta.models.student(n_features=2, n_outputs=3, task="classification",
    ...                                   n_qubits=2, n_layers=1)
    >>> distiller = Distiller(teacher, student, LogitsDistillation(temperature=2.0),
    ...                       student_loss_weight=0.3)
    >>> distiller.compile(optimizer="adam",
    ...                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    ...                   metrics=["accuracy"])
    >>> x = np.random.default_rng(0).uniform(0, np.pi, (32, 2)).astype("float32")
    >>> history = distiller.fit(x, epochs=1, batch_size=16, verbose=0)   # unlabeled transfer set
    >>> sorted(history.history)
    ['distillation_loss', 'loss', 'student_loss', 'total_loss']
    """

    def __init__(self, teacher, student, distillation_losses, distillation_loss_weights=None,
                 student_loss_weight=0.5, name="distiller", **kwargs):
        losses = distillation_losses if isinstance(distillation_losses, (list, tuple)) \
            else [distillation_losses]
        check_teacher(teacher)
        _check_student(student, teacher)
        _check_losses(losses)
        _check_loss_weights(distillation_loss_weights, len(losses))
        check_unit_interval(student_loss_weight, "student_loss_weight",
                            " (0 distills only, 1 trains on labels only)")
        super().__init__(teacher, student, list(losses), distillation_loss_weights,
                         float(student_loss_weight), name=name, **kwargs)
        self._build_feature_extractors()
        self._class_indices = None

    def compile(self, optimizer="adam", loss=None, metrics=None, jit_compile="auto", **kwargs):
        """Configures training of the student.

        Args:
            optimizer: the student's optimizer.
            loss: the student's loss on labels (a Keras loss; ``from_logits=True`` for logits).
                May be None when ``student_loss_weight`` is 0 or no labels are given.
            metrics: Keras metrics of the student's predictions on labeled batches.
            jit_compile: ``"auto"`` (default): XLA wherever the teacher and student can be
                compiled by it, on a CPU too (see :mod:`tfq_meta.xla`); or True, False.
            **kwargs: other ``keras.Model.compile`` arguments.
        """
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            check_loss(loss)
        # keras.Model.compile, not Keras' Distiller.compile: the latter refuses loss=None and
        # keeps the loss outside Keras' compiled loss, which then loses sample weights and does
        # not survive saving.
        keras.Model.compile(self, optimizer=optimizer, loss=loss, metrics=metrics,
                            jit_compile=resolve_jit_compile(self, jit_compile,
                                                            kwargs.get("run_eagerly", False)),
                            **kwargs)
        self._class_indices = _label_kind(loss)
        if self.student.built:
            # Optimizer variables now, not in the first traced step: a step whose trace failed
            # on bad data must not leave the next fit unable to create them.
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_labeled_arrays(x, y)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_labeled_arrays(x, y)
        return super().evaluate(x, y, *args, **kwargs)

    def check_inputs(self, data):
        """``x``, or ``(x, y[, sample_weight])``: features of the student's input shape and
        labels that the compiled loss can take (whole class indices inside the student's outputs
        for a loss on class indices), all finite; see :class:`tfq_meta.xla.XlaByDefault`."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
            tuple(data) if isinstance(data, list) else data)
        if not isinstance(x, tf.Tensor) or not isinstance(y, (tf.Tensor, type(None))):
            return super().check_inputs(data)
        x = check_examples(x, self.student, "x", axes=("batch",))
        if y is not None:
            y = check_labels(y, self.student, "y", self._class_indices, axes=("batch",))
        return keras.utils.pack_x_y_sample_weight(x, y, super().check_inputs(sample_weight))

    def _check_labeled_arrays(self, x, y):
        """``fit``/``evaluate`` check ``x`` alone (:class:`~tfq_meta.xla.XlaByDefault`); labels
        given as arrays beside it are checked with it here."""
        if y is not None and all(isinstance(v, (np.ndarray, tf.Tensor)) for v in (x, y)):
            self.check_inputs((tf.convert_to_tensor(x), tf.convert_to_tensor(y)))

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               overwrite=False):
        """Writes the student alone (no teacher) as a SavedModel: Keras' ``Model.export``.

        Args:
            filepath: the SavedModel directory to create.
            format: ``"tf_saved_model"``; for others, ``distiller.student.export``.
            verbose: print the endpoints; default True, as in Keras.
            input_signature: the ``serve`` input spec; default the student's input.
            overwrite: replace a SavedModel already at ``filepath`` (never other files).

        Example:

        ```python
        distiller.export("student_savedmodel")
        tfq_meta.export.load("student_savedmodel").serve(x)   # in any process
        ```
        """
        # Imported here: tfq_meta.export imports this module.
        from tfq_meta.export import export as export_saved_model
        export_saved_model(self, filepath, overwrite=overwrite, format=format,
                           verbose=True if verbose is None else verbose,
                           input_signature=input_signature)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        student_weight = self._student_weight(y)
        student_loss = 0.0
        if y is not None and compiled_loss(self) is not None:
            # Keras' compiled loss comes divided by the number of replicas of a tf.distribute
            # strategy (their gradients are summed); undone here, redone on the total.
            student_loss = per_replica_loss(compiled_loss(self)(y, y_pred, sample_weight),
                                               undo=True)
        distillation_loss = 0.0
        if student_weight < 1.0:
            distillation_loss = self._distillation_loss(x, y_pred, training)
        total_loss = student_weight * student_loss + (1.0 - student_weight) * distillation_loss
        if self.student.losses:
            total_loss = total_loss + ops.sum(self.student.losses)
        self.student_loss_tracker.update_state(student_loss)
        self.distillation_loss_tracker.update_state(distillation_loss)
        self.total_loss_tracker.update_state(total_loss)
        return per_replica_loss(total_loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None:  # Unlabeled transfer data: only the losses have something to log.
            own = [loss_tracker(self), *tracked_metrics(self)]
            return step_logs(dict(_results(m for m in self.metrics if any(m is o for o in own))))
        return step_logs(super().compute_metrics(x, y, y_pred, sample_weight))

    def get_metrics_result(self):
        # Compiled metrics are built by the first labeled batch: before it they have no result.
        compiled = compiled_metrics(self)
        unbuilt = compiled is not None and not compiled.built
        return {name: value for name, value in _results(
            m for m in self.metrics if not (unbuilt and m is compiled))}

    def _student_weight(self, y):
        """``w`` of this batch: the configured weight with labels, 0 without them."""
        if y is None:
            if self.student_loss_weight == 1.0:
                raise ValueError("The data has no labels, but student_loss_weight=1.0 gives the "
                                 "distillation loss no weight: there is nothing to train on. "
                                 "Lower student_loss_weight or pass labels.")
            return 0.0
        if compiled_loss(self) is None and self.student_loss_weight > 0.0:
            raise ValueError(
                f"The data has labels and student_loss_weight={self.student_loss_weight}, but "
                "compile() got no `loss` for them: pass one (e.g. "
                "keras.losses.SparseCategoricalCrossentropy(from_logits=True)), or set "
                "student_loss_weight=0 to distill only.")
        return self.student_loss_weight

    def _build_feature_extractors(self):
        """One extractor per model, computing every feature the losses compare in one pass.

        The student's output features are ``y_pred`` itself; only its other features (if any)
        need a pass of their own.
        """
        pairs = [declared_features(loss) for loss in self.distillation_losses]
        teacher_features = _unique(teacher for teacher, _ in pairs)
        student_features = _unique(student for _, student in pairs
                                   if not student.is_model_output)
        self._teacher_extractor = FeatureExtractor(self.teacher, teacher_features)
        self._student_extractor = FeatureExtractor(self.student, student_features)
        self._feature_indices = [
            (teacher_features.index(teacher),
             None if student.is_model_output else student_features.index(student))
            for teacher, student in pairs]

    def _distillation_loss(self, x, y_pred, training):
        teacher_values = self._teacher_extractor(x, training=False)
        student_values = self._student_extractor(x, training=training) \
            if self._student_extractor.features else []
        total = 0.0
        for loss, weight, (teacher_index, student_index) in zip(
                self.distillation_losses, self.distillation_loss_weights, self._feature_indices):
            teacher_outputs = teacher_values[teacher_index]
            student_outputs = y_pred if student_index is None else student_values[student_index]
            loss.validate_outputs(teacher_outputs, student_outputs)
            total = total + weight * loss.compute_loss(ops.stop_gradient(teacher_outputs),
                                                       student_outputs)
        return total


def _label_kind(loss):
    """The :func:`~tfq_meta.meta.task_losses.label_kind` of the student's loss; None (labels
    not checked against the outputs) for no loss or several."""
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return None
    return label_kind(loss)


def _unique(features):
    unique = []
    for feature in features:
        if feature not in unique:
            unique.append(feature)
    return unique


def _results(metrics):
    """(name, value) of each metric, with the entries of metrics whose result is a dict."""
    for metric in metrics:
        result = metric.result()
        yield from result.items() if isinstance(result, dict) else [(metric.name, result)]


def check_teacher(teacher):
    """Raises unless ``teacher`` is a keras.Model whose weights exist: an unbuilt model has
    none yet, and would be built with random weights on the first batch and taught from them."""
    if not isinstance(teacher, keras.Model):
        raise TypeError(f"`teacher` must be a trained keras.Model; got {type(teacher).__name__}.")
    if not teacher.built:
        raise ValueError(
            f"`teacher` must be a built, trained keras.Model; model {teacher.name!r} is not built, "
            "so its weights do not exist yet (e.g. a keras.Sequential without a keras.Input) and "
            "the student would learn from random weights. Build it with an Input and train it "
            "first.")


def _check_student(student, teacher):
    if not isinstance(student, keras.Model):
        raise TypeError(f"`student` must be a keras.Model; got {type(student).__name__}.")
    if student is teacher:
        raise ValueError("`teacher` and `student` must be different models; got the same model "
                         "twice. The Distiller freezes the teacher, so a student that is its "
                         "teacher has nothing left to train.")
    shared = {id(v) for v in teacher.weights} & {id(v) for v in student.weights}
    if shared:
        raise ValueError(f"`student` shares {len(shared)} weights with `teacher` (common layers): "
                         "the Distiller freezes the teacher's weights, so they would not train. "
                         "Give the student layers of its own (e.g. keras.models.clone_model).")
    if student.built and not student.trainable_weights:
        raise ValueError(f"`student` has no trainable weights: model {student.name!r} is frozen "
                         "(trainable=False, e.g. the teacher of another Distiller) or has none; "
                         "set student.trainable = True.")


def _check_losses(losses):
    if not losses:
        raise ValueError("`distillation_losses` is empty: give at least one, e.g. "
                         "LogitsDistillation(temperature=3.0) or ExpectationDistillation().")
    for loss in losses:
        if not isinstance(loss, keras.distillation.DistillationLoss):
            raise TypeError(
                "`distillation_losses` must be DistillationLoss instances (LogitsDistillation, "
                "ExpectationDistillation, ObservableDistillation or a keras.distillation loss); "
                f"got {type(loss).__name__}: {loss!r}.")


def _check_loss_weights(weights, n_losses):
    if weights is None:
        return
    if not isinstance(weights, (list, tuple)) or len(weights) != n_losses:
        raise ValueError(f"`distillation_loss_weights` must be a list of {n_losses} weights, one "
                         f"per distillation loss; got {weights!r}.")
    for weight in weights:
        if not is_finite_number(weight) or weight < 0:
            raise ValueError("`distillation_loss_weights` must be non-negative finite numbers; "
                             f"got {weights!r}.")
