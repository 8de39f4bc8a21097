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
    loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    if callable(loss):
        return loss
    raise TypeError(f"`loss` must be a Keras loss name, function or Loss; got {loss!r}.")


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


def check_labels(labels, model, key):
    """Integer labels must index the model's outputs (N ways → N logits); raises, in graphs
    through assertions, naming the episode entry ``key``."""
    n_outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if not labels.dtype.is_integer or not n_outputs or n_outputs < 2:
        return labels
    message = (f"`{key}` holds class labels outside [0, {n_outputs}): the model has "
               f"{n_outputs} outputs, one per class of an N-way task.")
    if tf.executing_eagerly():
        values = labels.numpy()
        if values.size and (values.min() < 0 or values.max() >= n_outputs):
            raise ValueError(message + f" Got labels from {values.min()} to {values.max()}.")
        return labels
    with tf.control_dependencies([
            tf.debugging.assert_non_negative(labels, message=message),
            tf.debugging.assert_less(labels, tf.cast(n_outputs, labels.dtype), message=message)]):
        return tf.identity(labels)
