"""Per-example losses and labels for the meta-learner's inner and outer loops."""
import keras
import tensorflow as tf


def flatten_tasks(tensor):
    """``[tasks, shots, ...]`` → ``[tasks * shots, ...]``."""
    return tf.reshape(tensor, tf.concat([[-1], tf.shape(tensor)[2:]], 0))


def labels_like(y, predictions):
    return y if y.dtype.is_integer else tf.cast(y, predictions.dtype)


def per_example_loss(loss):
    """A function (y_true, y_pred) -> unreduced per-example losses."""
    loss = check_loss(loss)
    return loss.call if isinstance(loss, keras.losses.Loss) else loss


def check_loss(loss):
    """``keras.losses.get(loss)``, raising an error that names ``loss`` unless it is a Keras
    loss name, a function or a ``keras.losses.Loss``."""
    try:
        resolved = keras.losses.get(loss)
    except (ValueError, TypeError):
        resolved = None
    if not callable(resolved):
        raise ValueError(f"`loss` must be a Keras loss name, function or keras.losses.Loss; got "
                         f"{loss!r}.")
    return resolved


def labels_are_class_indices(loss):
    """Whether ``loss`` takes labels as class indices rather than targets shaped like the outputs.

    The one place that decides it, for the inner loop's metrics and for the label signature of an
    exported MetaLearner. True for Keras' sparse categorical cross-entropy (its name, function or
    ``Loss``, whatever the ``Loss`` is named) and for any loss whose name contains
    ``sparse_categorical``, Keras' naming of losses on class indices.

    Args:
        loss: a Keras loss name, function, ``keras.losses.Loss``, or a serialized loss.

    Example:
    >>> labels_are_class_indices(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    True
    >>> labels_are_class_indices("mse")
    False
    """
    if isinstance(loss, dict):
        loss = keras.saving.deserialize_keras_object(loss)
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if getattr(loss, "fn", loss) is keras.losses.sparse_categorical_crossentropy:
        return True
    return "sparse_categorical" in loss_name(loss)


def label_kind(loss):
    """What labels ``loss`` takes, for the label checks: True for class indices (see
    :func:`labels_are_class_indices`), False for targets shaped like the outputs (Keras' other
    built-in losses), None when it cannot be told (a loss of the user's own).

    Example:
    >>> label_kind("mse"), label_kind(lambda y, p: (y - p) ** 2)
    (False, None)
    """
    if labels_are_class_indices(loss):
        return True
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    function = getattr(loss, "fn", None) or (type(loss) if isinstance(loss, keras.losses.Loss)
                                             else loss)
    return False if (getattr(function, "__module__", None) or "").startswith("keras.") else None


def task_label_spec(loss, output_shape, name):
    """The ``tf.TensorSpec`` of one task's labels for a model trained with ``loss``.

    Args:
        loss: the MetaLearner's loss (see :func:`labels_are_class_indices`).
        output_shape: the model's output shape without the batch axis, e.g. ``(1,)``.
        name: the input's name in a signature, e.g. ``"support_y"``.

    Returns:
        int32 ``[shots]`` for class indices, else float32 ``[shots, *output_shape]``.

    Example:
    >>> task_label_spec("mse", (1,), "support_y")
    TensorSpec(shape=(None, 1), dtype=tf.float32, name='support_y')
    """
    if labels_are_class_indices(loss):
        return tf.TensorSpec((None,), tf.int32, name=name)
    return tf.TensorSpec((None, *output_shape), tf.float32, name=name)


def loss_name(loss):
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or loss)

