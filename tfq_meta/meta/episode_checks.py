"""What a MetaLearner checks of an episode's values against its model and loss.

:func:`tfq_meta.tasks.episodes.check_episode` checks an episode's structure (keys, tasks, shots);
this module checks what only the model and the loss can tell: that the examples have the
model's feature shape, that labels are numbers (class indices for a loss on class indices,
inside the model's N ways), and that nothing is NaN or infinite. A NaN target or a fractional
class index would otherwise train on silently: the first turns every weight into NaN, the second
is truncated to a class by the loss.

:class:`tfq_meta.Distiller` checks its ``x`` and ``y`` batches with the same functions
(``axes=("batch",)``).

Checks raise a ValueError or TypeError naming the episode entry. Eagerly they look at the values;
in a graph (a ``tf.data`` map, a traced step, an exported signature) shapes and dtypes are still
checked while tracing, and values through ``tf.debugging`` assertions.
"""
import numpy as np
import tensorflow as tf

from tfq_meta._validation import checked_finite

X_KEYS, Y_KEYS = ("support_x", "query_x"), ("support_y", "query_y")
TASK_AXES = ("tasks", "shots")


def check_single_input_and_output(model):
    """Raises unless ``model`` takes one input tensor and gives one output tensor: an episode's
    ``x`` and ``y`` are one array each (several outputs would be stacked into one silently)."""
    inputs = getattr(model, "inputs", None)
    if inputs is not None and len(inputs) != 1:
        raise ValueError(f"`model` must take one input, as an episode's support_x and query_x "
                         f"are one array each; got a model with {len(inputs)} inputs. Combine "
                         "them into one feature array (e.g. concatenate the features).")
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(outputs) != 1:
        raise ValueError(f"`model` must have one output, as an episode's support_y and query_y "
                         f"are one array each; got a model with {len(outputs)} outputs. "
                         "Concatenate them into one output layer.")


def check_episode_values(episode, model, class_indices):
    """The episode's tensors, checked; the labels with assertions attached in graphs.

    Args:
        episode: dict of tensors with the four episode keys (a structurally checked episode).
        model: the MetaLearner's model.
        class_indices: the loss's label kind, see :func:`check_labels`.
    """
    episode = dict(episode)
    for key in X_KEYS:
        if key in episode:
            episode[key] = check_examples(episode[key], model, key)
    for key in Y_KEYS:
        if key in episode:
            episode[key] = check_labels(episode[key], model, key, class_indices)
    return episode


def check_support(support_x, support_y, model, class_indices, axes=TASK_AXES):
    """``(support_x, support_y)`` for the inner loop, checked as an episode's support set: shaped
    ``[tasks, shots, ...]`` (or ``[*axes, ...]``), with one label per example (asserted in graphs
    when the shapes are not known while tracing)."""
    support_x = check_examples(tf.convert_to_tensor(support_x), model, "support_x", axes)
    support_y = check_labels(tf.convert_to_tensor(support_y), model, "support_y", class_indices,
                             axes)
    lead = len(axes)
    if support_y.shape.rank is None or support_y.shape.rank < lead:
        raise ValueError(f"`support_y` must be shaped {_layout(axes)}...]; got shape "
                         f"{tuple(support_y.shape)}.")
    message = (f"`support_x` and `support_y` must have the same number of "
               f"{' and '.join(axes)} (one label per example); got "
               f"shapes {tuple(support_x.shape)} and {tuple(support_y.shape)}.")
    static = [(a, b) for a, b in zip(support_x.shape[:lead], support_y.shape[:lead])
              if a is not None and b is not None]
    if any(a != b for a, b in static):
        raise ValueError(message)
    empty = ("`support_x` has no examples (0 shots): adaptation needs at least one support "
             "example per task.")
    if support_x.shape[lead - 1] == 0:
        raise ValueError(empty)
    if len(static) < lead or support_x.shape[lead - 1] is None:
        with tf.control_dependencies([
                tf.debugging.assert_equal(tf.shape(support_x)[:lead], tf.shape(support_y)[:lead],
                                          message=message),
                tf.debugging.assert_positive(tf.shape(support_x)[lead - 1], message=empty)]):
            support_y = tf.identity(support_y)
    return support_x, support_y


def check_examples(x, model, key, axes=TASK_AXES):
    """Features must be numbers shaped ``[tasks, shots, *model input shape]`` (or
    ``[*axes, ...]``, e.g. ``("batch",)``), and finite."""
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"`{key}` must hold float or int features; got dtype {x.dtype.name}.")
    inputs = getattr(model, "inputs", None)
    expected = tuple(inputs[0].shape[1:]) if inputs else None
    lead = len(axes)
    if x.shape.rank is None or x.shape.rank < lead + 1 or expected is not None and (
            x.shape.rank != lead + len(expected) or any(
                a is not None and b is not None and a != b
                for a, b in zip(x.shape[lead:], expected))):
        shape = "features..." if expected is None else ", ".join(map(str, expected))
        model_shape = "" if expected is None else \
            f" (the model's input shape is {(None, *expected)})"
        raise ValueError(f"`{key}` must be shaped {_layout(axes)}{shape}]{model_shape}; got "
                         f"shape {tuple(x.shape)}.")
    return _finite(x, key, "features")


def _layout(axes):
    return f"[{', '.join(axes)}, "


def check_labels(labels, model, key, class_indices, axes=TASK_AXES):
    """Labels must be numbers and finite. ``class_indices`` (see
    :func:`~tfq_meta.meta.task_losses.label_kind`) True: one whole number per example that
    indexes the model's outputs (N ways → N logits); False: targets shaped ``[*axes, ...]`` like
    the outputs (a loss would broadcast other shapes against them); None: a loss of the user's
    own, whose labels are only checked to be finite numbers (int ones in the N ways)."""
    if not (labels.dtype.is_floating or labels.dtype.is_integer):
        accepted = "int class indices" if class_indices else "float targets"
        raise TypeError(f"`{key}` must hold numbers ({accepted}); got dtype {labels.dtype.name}. "
                        "Encode string labels as class indices 0 … N-1.")
    if class_indices is not None:
        _check_label_shape(labels, model, key, class_indices, axes)
    labels = _finite(labels, key, "labels")
    if class_indices and labels.dtype.is_floating:
        labels = _whole_numbers(labels, key)
    n_outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if not (class_indices or labels.dtype.is_integer) or not n_outputs or n_outputs < 2:
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


def _check_label_shape(labels, model, key, class_indices, axes):
    outputs = getattr(model, "outputs", None)
    if not outputs or labels.shape.rank is None or labels.shape.rank < len(axes):
        return
    per_example = tuple(labels.shape[len(axes):])
    output_shape = tuple(outputs[0].shape[1:])
    accepted = [(), (1,)] if class_indices else [output_shape]
    if output_shape == (1,):
        accepted.append(())
    if not any(len(per_example) == len(shape) and all(
            a is None or b is None or a == b for a, b in zip(per_example, shape))
            for shape in accepted):
        what = ("one class index per example" if class_indices else
                f"one target per output (the model's output shape is {(None, *output_shape)})")
        layout = ", ".join([*axes, *map(str, accepted[0])])
        raise ValueError(f"`{key}` must be shaped [{layout}], {what}; got shape "
                         f"{tuple(labels.shape)}.")


def _whole_numbers(labels, key):
    message = (f"`{key}` must hold whole class indices for a loss on class indices (sparse "
               "categorical cross-entropy); it holds fractional values. Give int labels, or use "
               "a loss on targets shaped like the outputs (e.g. categorical cross-entropy on "
               "one-hot or soft labels).")
    if tf.executing_eagerly():
        values = labels.numpy()
        fractional = values[values != np.round(values)]
        if fractional.size:
            raise ValueError(message + f" Got e.g. {fractional[0]}.")
        return labels
    with tf.control_dependencies([tf.debugging.assert_equal(labels, tf.round(labels),
                                                            message=message)]):
        return tf.identity(labels)


def _finite(values, key, what):
    return checked_finite(
        values, f"`{key}` holds NaN or infinite {what}; every value of the data must be finite.")
