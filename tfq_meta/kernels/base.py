"""What every kernel layer shares: Gram matrices of NumPy data, with the inputs checked."""
import keras
import numpy as np
import tensorflow as tf

from tfq_meta.serialization import circuit_from_json


class KernelLayer(keras.layers.Layer):
    """Base of the quantum kernels: ``call(x, y=None)`` returns the Gram matrix ``[N, M]``.

    Subclasses set ``n_features`` and implement ``call``; ``gram`` is the NumPy entry point that
    scikit-learn code (:class:`tfq_meta.kernels.QSVC`) uses.
    """

    def gram(self, x, y=None):
        """The Gram matrix ``k(x_i, y_j)`` ``[N, M]`` as a float64 NumPy array.

        Args:
            x: ``[N, n_features]`` array.
            y: ``[M, n_features]`` array; default ``x`` (the symmetric train Gram matrix).
        """
        x = self.check_features(x, "x")
        y = None if y is None else self.check_features(y, "y")
        return np.asarray(self(x) if y is None else self(x, y), np.float64)

    def check_differentiable(self, user):
        """Raises a ValueError when ``user`` (a trainer's name) cannot get exact gradients from
        this kernel; every kernel whose Gram matrices are autodiff-able can be trained."""

    def task_grams(self, support_x, query_x):
        """Gram matrices of a meta-batch of tasks: ``k(support, support)`` ``[T, S, S]`` and
        ``k(query, support)`` ``[T, Q, S]``, from one embedding call for every point of every
        task. ``support_x`` is ``[T, S, n_features]``, ``query_x`` ``[T, Q, n_features]``."""
        n_tasks, n_support = tf.shape(support_x)[0], tf.shape(support_x)[1]
        points = tf.concat([tf.reshape(support_x, [-1, self.n_features]),
                            tf.reshape(query_x, [-1, self.n_features])], axis=0)
        embedded = self.embed(points)
        n_points = n_tasks * n_support
        support = tf.reshape(embedded[:n_points], [n_tasks, n_support, -1])
        query = tf.reshape(embedded[n_points:], [n_tasks, -1, tf.shape(embedded)[1]])
        return self.kernel_of_embeddings(support, support), self.kernel_of_embeddings(query,
                                                                                      support)

    @classmethod
    def from_config(cls, config):
        # Subclasses' get_config store the circuit as JSON and the initializer serialized.
        config = dict(config)
        config["circuit"] = circuit_from_json(config["circuit"])
        config["initializer"] = keras.initializers.deserialize(config["initializer"])
        return cls(**config)

    def check_features(self, values, argument):
        """``values`` as a float32 array ``[batch, n_features]``; clear errors otherwise."""
        array = np.asarray(values)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                         or array.dtype == bool):
            raise TypeError(f"`{argument}` must be numeric features; got dtype {array.dtype}.")
        if array.ndim != 2 or array.shape[1] != self.n_features:
            raise ValueError(f"`{argument}` must have shape [n_samples, {self.n_features}] (one "
                             f"column per data symbol of the circuit); got shape "
                             f"{list(array.shape)}.")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"`{argument}` contains NaN or infinite values; circuit angles must "
                             "be finite.")
        return tf.constant(array, tf.float32)

    def check_feature_shape(self, values, argument):
        """Raises a ValueError unless the static shape of ``values`` (a tensor, possibly symbolic)
        can be ``[batch, n_features]``; a wrong width would otherwise surface as a size error
        deep inside the simulation."""
        shape = tf.TensorShape(getattr(values, "shape", np.shape(values)))
        if shape.rank is None:
            return
        if shape.rank != 2 or shape[1] not in (None, self.n_features):
            raise ValueError(f"`{argument}` must have shape [n_samples, {self.n_features}] (one "
                             f"column per data symbol of the circuit); got shape "
                             f"{shape.as_list()}.")


def trainable_kernel(kernel, trainer):
    """``kernel``, checked to be a kernel that ``trainer`` (its name) can train, and built.

    It is built now, so that its weights exist, and are the trainer's, before ``compile``.
    """
    if not isinstance(kernel, KernelLayer):
        raise TypeError("`kernel` must be a tfq_meta QuantumKernel or ProjectedQuantumKernel; "
                        f"got {type(kernel).__name__}.")
    kernel.check_differentiable(trainer)
    if not kernel.built:
        kernel.build()
    return kernel
