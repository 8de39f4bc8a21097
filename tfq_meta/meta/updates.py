"""Small functional updates of the inner and outer loops, on per-task weights ``[tasks, ...]``."""
import tensorflow as tf


def inner_update(task_weights, gradients, learning_rates):
    """One gradient-descent step per task: ``φ ← φ − α ∘ ∇``.

    Args:
        task_weights: list of ``[tasks, *shape]`` tensors.
        gradients: their gradients, same shapes.
        learning_rates: one per tensor: a float, or a ``[*shape]`` tensor of per-parameter rates
            (Meta-SGD), shared by all tasks.
    """
    # dtype_hint keeps a Python float at the weights' precision (tf.cast would round it to float32).
    return [w - tf.cast(tf.convert_to_tensor(rate, dtype_hint=w.dtype), w.dtype) * g
            for w, g, rate in zip(task_weights, gradients, learning_rates)]


def reptile_gradients(variables, task_weights):
    """Reptile's outer gradient, ``θ − mean_t φ_t``: a step along it moves θ toward the tasks'
    adapted weights."""
    return [tf.convert_to_tensor(v) - tf.reduce_mean(w, axis=0)
            for v, w in zip(variables, task_weights)]
