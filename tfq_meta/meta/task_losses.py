"""Per-example losses and fresh metrics for the meta-learner's inner and outer loops."""
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


def fresh_metric(identifier, loss, prefix=""):
    """A fresh Metric for ``identifier``; "accuracy" follows the loss, as in Keras' compile."""
    if str(identifier).lower() in ("accuracy", "acc"):
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or str(loss)
        if "sparse_categorical" in name:
            metric = keras.metrics.SparseCategoricalAccuracy()
        elif "categorical" in name:
            metric = keras.metrics.CategoricalAccuracy()
        elif "binary" in name:
            metric = keras.metrics.BinaryAccuracy()
        else:
            metric = keras.metrics.Accuracy()
        base_name = str(identifier)
    else:
        metric = keras.metrics.get(identifier)
        if isinstance(metric, keras.metrics.Metric):
            metric = type(metric).from_config(metric.get_config())
        elif callable(metric):
            metric = keras.metrics.MeanMetricWrapper(metric)
        base_name = identifier if isinstance(identifier, str) else metric.name
    metric.name = prefix + base_name
    return metric


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
