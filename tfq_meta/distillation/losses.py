"""Distillation losses on class logits and on expectation values.

Both follow ``keras.distillation``'s ``DistillationLoss`` protocol (``compute_loss(teacher_outputs,
student_outputs)`` returning a scalar), so they work in :class:`tfq_meta.Distiller` and in Keras'
own ``keras.distillation.Distiller``.
"""
import keras
from keras import ops

from tfq_meta._validation import check_positive_float


@keras.saving.register_keras_serializable(package="tfq_meta")
class LogitsDistillation(keras.distillation.DistillationLoss):
    """Temperature-scaled KL divergence between teacher and student class probabilities.

    ``L = T² · mean over examples of KL(softmax(t / T) ‖ softmax(s / T))`` for teacher logits
    ``t`` and student logits ``s`` (Hinton et al. 2015). The ``T²`` keeps the gradient's size
    independent of ``T``, so the weight between this loss and the hard-label loss need not change
    with the temperature.

    Keras' ``keras.distillation.LogitsDistillation`` applies the softmax and ``T²`` only when its
    ``loss`` is a ``keras.losses.KLDivergence`` instance; with its default ``loss="kl_divergence"``
    (a plain function) it takes the KL of the scaled logits themselves, which is not a divergence
    (16.4 instead of 1.69 on one example). This class always computes the formula above, from
    log-softmaxes, without clipping probabilities.

    Args:
        temperature: positive float; higher values soften both distributions.

    Example:
    >>> import numpy as np
    >>> loss = LogitsDistillation(temperature=2.0)
    >>> teacher = np.array([[1.0, 2.0, 0.5]], np.float32)
    >>> round(float(loss.compute_loss(teacher, teacher)), 6)
    0.0
    """

    def __init__(self, temperature=3.0):
        self.temperature = check_positive_float(temperature, "temperature")

    def validate_model_compatibility(self, teacher, student):
        for role, model in (("teacher", teacher), ("student", student)):
            output = getattr(model, "outputs", None) and model.outputs[0]
            if output is not None:
                check_several_logits(output, role)

    def validate_outputs(self, teacher_outputs, student_outputs):
        check_several_logits(teacher_outputs, "teacher")
        check_same_shape(teacher_outputs, student_outputs, "logits")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        teacher = ops.log_softmax(ops.divide(teacher_outputs, self.temperature), axis=-1)
        student = ops.log_softmax(ops.divide(student_outputs, self.temperature), axis=-1)
        divergence = ops.sum(ops.exp(teacher) * (teacher - student), axis=-1)
        return self.temperature ** 2 * ops.mean(divergence)

    def get_config(self):
        return {"temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="tfq_meta")
class ExpectationDistillation(keras.distillation.DistillationLoss):
    """Squared distance between teacher and student expectation values (regression outputs).

    ``L = mean over examples x of ‖M(x) − m(x)‖²``: ``M`` and ``m`` are the teacher's and the
    student's outputs, or the outputs of the layers named here (e.g. their PQC layers, whose
    outputs are expectation values). The squared norm sums over the outputs, so each added
    observable adds to the loss rather than diluting a mean.

    To compare circuits on observables they do not output, or circuits of different sizes, use
    :class:`tfq_meta.distillation.ObservableDistillation`.

    Args:
        teacher_layer_name: a layer of the teacher whose output is matched; default its output.
        student_layer_name: a layer of the student whose output is matched; default its output.
            The two outputs must have the same shape.

    Example:
    >>> import numpy as np
    >>> loss = ExpectationDistillation()
    >>> teacher = np.array([[0.5, -0.5], [1.0, 0.0]], np.float32)
    >>> student = np.array([[0.5, 0.5], [0.0, 0.0]], np.float32)
    >>> float(loss.compute_loss(teacher, student))    # (1 + 1) / 2 examples
    1.0
    """

    def __init__(self, teacher_layer_name=None, student_layer_name=None):
        self.teacher_layer_name = teacher_layer_name
        self.student_layer_name = student_layer_name

    def validate_model_compatibility(self, teacher, student):
        teacher_output = _output(teacher, self.teacher_layer_name, "teacher")
        student_output = _output(student, self.student_layer_name, "student")
        if teacher_output is not None and student_output is not None:
            check_same_shape(teacher_output, student_output, "matched outputs")

    def validate_outputs(self, teacher_outputs, student_outputs):
        check_same_shape(teacher_outputs, student_outputs, "expectation values")

    def compute_loss(self, teacher_outputs, student_outputs, **kwargs):
        return ops.mean(squared_distance(teacher_outputs, student_outputs))

    def get_config(self):
        return {"teacher_layer_name": self.teacher_layer_name,
                "student_layer_name": self.student_layer_name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def squared_distance(teacher_outputs, student_outputs):
    """``‖t − s‖²`` of each example: the sum over every axis but the first."""
    difference = ops.square(ops.subtract(teacher_outputs, student_outputs))
    return ops.sum(ops.reshape(difference, (ops.shape(difference)[0], -1)), axis=1)


def check_same_shape(teacher_outputs, student_outputs, what):
    """Raises a ValueError when the known dimensions of two outputs differ."""
    teacher_shape, student_shape = tuple(teacher_outputs.shape), tuple(student_outputs.shape)
    if len(teacher_shape) != len(student_shape) or any(
            t is not None and s is not None and t != s
            for t, s in zip(teacher_shape, student_shape)):
        raise ValueError(
            f"The teacher's and the student's {what} must have the same shape to be matched; got "
            f"teacher {teacher_shape} and student {student_shape}. To compare circuits of "
            "different sizes, measure chosen observables on both with ObservableDistillation "
            "(and a qubit_map).")


def check_several_logits(outputs, role):
    """A softmax over one logit is 1 whatever the logit: the loss would be 0 and train nothing."""
    if outputs.shape and outputs.shape[-1] == 1:
        raise ValueError(
            f"LogitsDistillation needs class logits, one output per class; the {role} has one "
            f"output (shape {tuple(outputs.shape)}), whose softmax is always 1, so the loss would "
            "be 0 and nothing would train. Use ExpectationDistillation() to match one regression "
            "output or expectation value (squared distance).")


def _output(model, layer_name, role):
    """The symbolic output of ``model`` or of its layer ``layer_name``; None when unknown."""
    if layer_name is None:
        return getattr(model, "outputs", None) and model.outputs[0]
    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(f"`{role}_layer_name`: the {role} has no layer {layer_name!r}; its "
                         f"layers are {names}.") from None
    return layer.output
