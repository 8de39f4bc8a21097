"""Run a Keras model on a meta-batch of tasks, each task with its own values of some weights.

The inner loop of meta-learning adapts a copy of the weights per task. Rather than looping over
tasks in Python, :func:`task_batched_call` evaluates every task in one pass: examples of all tasks
are stacked into one batch ``[tasks * shots, ...]``, and each layer whose weights are adapted gets
them as per-task tensors ``[tasks, *weight.shape]``:

- a :class:`~tfq_meta.layers.PQC` receives one weight row per example in its symbol values, so a
  whole meta-batch is one circuit-simulation call;
- a ``Dense`` layer becomes one batched matrix product;
- any other layer runs under ``tf.vectorized_map`` with its weights substituted through a
  ``keras.StatelessScope``.

Layers without adapted weights run unchanged on the stacked batch. Sequential and functional
models (also nested) are walked layer by layer.
"""
import keras
import tensorflow as tf

from tfq_meta._compat.keras import is_functional, run_through_graph
from tfq_meta.layers import PQC


def task_batched_call(model, variables, task_values, inputs, training=False):
    """The model's outputs on a meta-batch, each task with its own weight values.

    Args:
        model: a built Sequential or functional ``keras.Model`` (or a single layer).
        variables: the model variables that take per-task values; the others keep their own.
        task_values: one tensor per variable, ``[tasks, *variable.shape]``.
        inputs: ``[tasks, shots, ...]``.
        training: passed to the layers.

    Returns:
        The outputs, ``[tasks, shots, ...]``.
    """
    inputs = tf.convert_to_tensor(inputs)
    n_tasks, n_shots = tf.shape(inputs)[0], tf.shape(inputs)[1]
    flat = tf.reshape(inputs, tf.concat([[n_tasks * n_shots], tf.shape(inputs)[2:]], 0))
    by_id = {id(v): value for v, value in zip(variables, task_values)}
    outputs = _call(model, by_id, flat, n_tasks, training)
    return tf.reshape(outputs, tf.concat([[n_tasks, n_shots], tf.shape(outputs)[1:]], 0))


def _call(layer, by_id, inputs, n_tasks, training):
    """``layer(inputs)`` on the stacked batch ``[tasks * shots, ...]``."""
    if not any(id(v) in by_id for v in layer.trainable_variables):
        return layer(inputs, training=training)
    if isinstance(layer, keras.Sequential):
        for sublayer in layer.layers:
            inputs = _call(sublayer, by_id, inputs, n_tasks, training)
        return inputs
    if isinstance(layer, keras.Model) and is_functional(layer):
        # Keras' own functional call, with each node's layer replaced by its task-batched call.
        # Single-input functional models only, as meta-learning episodes carry one `x`.
        def operation_fn(operation):
            return lambda x, **kwargs: _call(operation, by_id, x, n_tasks, training)
        return run_through_graph(layer, inputs, operation_fn)
    if isinstance(layer, keras.Model):
        raise TypeError(
            f"Meta-learning adapts weights inside model {layer.name!r}, a subclassed "
            f"{type(layer).__name__}, whose layers cannot be run per task: build it as a "
            "keras.Sequential or functional model.")
    if isinstance(layer, PQC):
        return _pqc_call(layer, by_id, inputs, n_tasks)
    if type(layer) is keras.layers.Dense and not layer.lora_enabled and not layer.quantization_mode:
        return _dense_call(layer, by_id, inputs, n_tasks)
    return _vectorized_call(layer, by_id, inputs, n_tasks, training)


def _per_example(values, n_examples, n_tasks):
    """Repeat each task's values for its examples: ``[tasks, ...]`` → ``[tasks * shots, ...]``."""
    # A broadcast product rather than tf.repeat: the gradient of tf.repeat (a tile) needs its
    # multiples as a compile-time constant, which XLA cannot trace once the inner loop's
    # while loop is differentiated.
    ones = tf.ones(tf.concat([[n_examples // n_tasks], [1] * (values.shape.rank - 1)], 0),
                   values.dtype)
    return tf.reshape(values[:, tf.newaxis] * ones, [-1, *values.shape[1:]])


def _pqc_call(layer, by_id, inputs, n_tasks):
    weights = by_id[id(layer.circuit_weights)]
    n_examples = tf.shape(inputs[1] if isinstance(inputs, (list, tuple)) else inputs)[0]
    return layer.call_with_weights(inputs, _per_example(weights, n_examples, n_tasks))


def _dense_call(layer, by_id, inputs, n_tasks):
    kernel = by_id.get(id(layer.kernel), layer.kernel)
    flat_shape = tf.shape(inputs)
    per_task = tf.reshape(inputs, [n_tasks, -1, flat_shape[-1]])
    equation = "tsi,io->tso" if kernel.shape.rank == 2 else "tsi,tio->tso"  # shared or per task
    outputs = tf.einsum(equation, tf.cast(per_task, kernel.dtype), kernel)
    if layer.use_bias:
        bias = by_id.get(id(layer.bias), layer.bias)
        outputs += bias[:, tf.newaxis] if bias.shape.rank == 2 else bias
    outputs = tf.reshape(outputs, tf.concat([flat_shape[:-1], [layer.units]], 0))
    return layer.activation(outputs)


def _vectorized_call(layer, by_id, inputs, n_tasks, training):
    variables = [v for v in layer.trainable_variables if id(v) in by_id]
    per_task = tf.reshape(inputs, tf.concat([[n_tasks, -1], tf.shape(inputs)[1:]], 0))

    def one_task(args):
        values, task_inputs = args
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return layer(task_inputs, training=training)

    outputs = tf.vectorized_map(one_task, ([by_id[id(v)] for v in variables], per_task))
    return tf.reshape(outputs, tf.concat([[-1], tf.shape(outputs)[2:]], 0))
