"""Small functional updates of the inner and outer loops, on per-task weights ``[tasks, ...]``."""
import tensorflow as tf


def inner_update(task_weights, gradients, learning_rates):
    """One gradient-descent step per task: ``φ ← φ − α ∘ ∇``.

    Args:
        task_weights: list of ``[tasks, *shape]`` tensors.
        gradients: their gradients, same shapes.
        learning_rates: one per tensor: a float, or a tensor broadcastable to ``[tasks, *shape]``
            (e.g. ``[*shape]`` per-parameter rates shared by all tasks).
    """
    # dtype_hint keeps a Python float at the weights' precision (tf.cast would round it to float32).
    return [w - tf.cast(tf.convert_to_tensor(rate, dtype_hint=w.dtype), w.dtype) * g
            for w, g, rate in zip(task_weights, gradients, learning_rates)]


def clip_by_task_norm(gradients, clipnorm):
    """Scales each task's gradient down to a global norm of at most ``clipnorm``.

    The norm of task ``t`` is taken over all its tensors together, as ``global_clipnorm`` does
    for one model in Keras' optimizers. The scale is differentiable, so second-order
    meta-gradients see the clipped step.

    Args:
        gradients: list of ``[tasks, *shape]`` tensors.
        clipnorm: a positive float, or None for no clipping.
    """
    if clipnorm is None:
        return gradients
    squares = tf.add_n([tf.reduce_sum(tf.reshape(tf.square(g), [tf.shape(g)[0], -1]), axis=1)
                        for g in gradients])
    # The norm's derivative at 0 is undefined; the max keeps a zero gradient's meta-gradient finite.
    norms = tf.sqrt(tf.maximum(squares, 1e-24))
    scale = tf.minimum(tf.cast(1.0, norms.dtype), tf.cast(clipnorm, norms.dtype) / norms)
    return [g * per_task(scale, g) for g in gradients]


def per_task(values, like):
    """``[tasks]`` values shaped to broadcast against ``like``, ``[tasks, *shape]``."""
    values = tf.cast(values, like.dtype) if values.dtype.is_floating else values
    return tf.reshape(values, tf.concat([[-1], tf.ones([tf.rank(like) - 1], tf.int32)], 0))


def reptile_gradients(variables, task_weights):
    """Reptile's outer gradient, ``θ − mean_t φ_t``: a step along it moves θ toward the tasks'
    adapted weights."""
    return [tf.convert_to_tensor(v) - tf.reduce_mean(w, axis=0)
            for v, w in zip(variables, task_weights)]
