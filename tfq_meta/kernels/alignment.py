"""KernelAlignment: train a kernel's embedding by kernel-target alignment, with ``fit``."""
import keras
import numpy as np
import tensorflow as tf

from tfq_meta._compat.keras import loss_tracker
from tfq_meta._validation import checked_finite
from tfq_meta.kernels.base import trainable_kernel
from tfq_meta.meta.replicas import per_replica_loss
from tfq_meta.xla import XlaByDefault


def kernel_target_alignment(gram, labels):
    """``A(K, T) = ⟨K, T⟩_F / (‖K‖_F ‖T‖_F)``, with ``T_ij = +1`` for equal labels, ``-1`` else.

    1 means the kernel separates the classes perfectly (it is a multiple of ``T``); the ideal
    kernel of ``±1`` labels is ``T = y yᵀ`` (Cristianini et al. 2001). It is undefined for a
    zero Gram matrix (a cosine with a zero vector), so given one eagerly it raises a ValueError
    rather than returning NaN; a quantum kernel's Gram matrices have a unit diagonal and are
    never zero.

    Args:
        gram: ``[..., N, N]`` Gram matrices.
        labels: ``[..., N]`` integer class labels (any number of classes).

    Example:
    >>> labels = tf.constant([0, 0, 1])
    >>> ideal = tf.constant([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    >>> float(kernel_target_alignment(ideal, labels))
    1.0
    """
    gram = tf.convert_to_tensor(gram)
    labels = tf.convert_to_tensor(labels)
    _check_gram_and_labels(gram, labels)
    same = tf.cast(tf.equal(labels[..., :, tf.newaxis], labels[..., tf.newaxis, :]), gram.dtype)
    target = 2.0 * same - 1.0
    inner = tf.reduce_sum(gram * target, axis=[-2, -1])
    return inner / (tf.norm(gram, axis=[-2, -1]) * tf.norm(target, axis=[-2, -1]))


def _check_gram_and_labels(gram, labels):
    shape, label_shape = gram.shape, labels.shape
    if shape.rank is not None and (shape.rank < 2 or not shape[-1:].is_compatible_with(
            shape[-2:-1])):
        raise ValueError(f"`gram` must be square Gram matrices [..., N, N]; got shape {shape}.")
    if not label_shape.is_compatible_with(shape[:-1]):
        raise ValueError(f"`labels` must have shape {shape[:-1]} (one label per row of `gram`); "
                         f"got shape {label_shape}.")
    if not tf.executing_eagerly():
        return
    checked_finite(gram, "`gram` holds NaN or infinite values; Gram matrices must be finite.")
    if not bool(tf.reduce_all(tf.reduce_any(gram != 0, [-2, -1]))):
        raise ValueError("`gram` is a zero matrix: kernel-target alignment is undefined for it "
                         "(it is normalized by the Gram matrix's norm).")


def check_labels(labels):
    """Raises unless ``labels`` can be the class labels ``y`` of a batch; values are checked
    only eagerly."""
    shape = tf.TensorShape(np.shape(labels) if isinstance(labels, (list, tuple))
                           else labels.shape)
    if shape.rank is not None and (shape.rank not in (1, 2) or shape.rank == 2 and shape[1] not
                                   in (None, 1)):
        raise ValueError("`y` must be class labels shaped [n_samples] (or [n_samples, 1]), one "
                         f"per example; got shape {shape.as_list()}.")
    if not tf.executing_eagerly():
        return
    labels = tf.convert_to_tensor(labels)
    if not (labels.dtype.is_integer or labels.dtype.is_floating or labels.dtype.is_bool):
        raise TypeError(f"`y` must be integer class labels; got dtype {labels.dtype.name}.")
    if labels.dtype.is_floating and not bool(tf.reduce_all(tf.equal(labels, tf.round(labels)))):
        raise ValueError("`y` must be integer class labels; got non-integer (or NaN) values.")


@keras.saving.register_keras_serializable(package="tfq_meta")
class KernelAlignment(XlaByDefault, keras.Model):
    """Maximizes the kernel-target alignment of a trainable quantum kernel, driven by ``fit``.

    Each training step takes a batch of labeled examples, computes their Gram matrix and descends
    ``1 − A(K, T)`` (:func:`kernel_target_alignment`) with respect to the kernel's weights, so
    batches are random subsets of the data, as in Hubregtsen et al. (2021). Progress bars,
    callbacks and ``evaluate`` work as for any Keras model; logs show ``alignment``.

    Args:
        kernel: a :class:`QuantumKernel` (statevector method) or :class:`ProjectedQuantumKernel`
            with trainable weights; trained in place.

    Example:
    >>> import numpy as np
    >>> from tfq_meta import circuits
    >>> from tfq_meta.kernels import QuantumKernel
    >>> kernel = QuantumKernel(circuits.reuploading_circuit(2, 1))
    >>> aligner = KernelAlignment(kernel)
    >>> aligner.compile(optimizer=keras.optimizers.Adam(0.05))
    >>> x = np.random.default_rng(0).uniform(0, np.pi, (16, 2)).astype("float32")
    >>> history = aligner.fit(x, (x[:, 0] > x[:, 1]).astype("int32"), batch_size=8, verbose=0)
    >>> sorted(history.history)
    ['alignment', 'loss']
    """

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self.kernel = trainable_kernel(kernel, "KernelAlignment")
        self.built = True  # its only weights are the kernel's
        self.alignment_tracker = keras.metrics.Mean(name="alignment")

    def call(self, x):
        return self.kernel(x)

    def check_inputs(self, data):
        # The compiled step would only log a NaN loss: bad features are refused before it.
        x = data[0] if isinstance(data, tuple) else data
        self.kernel.check_feature_shape(x, "x")
        if isinstance(data, tuple) and len(data) > 1 and data[1] is not None:
            check_labels(data[1])
        if tf.executing_eagerly():
            self.kernel.check_features(x, "x")
        return super().check_inputs(data)

    def fit(self, x=None, y=None, *args, **kwargs):
        # The base class checks only ``x`` of array data; the labels are checked here.
        if y is not None:
            check_labels(y)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if y is not None:
            check_labels(y)
        return super().evaluate(x, y, *args, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is None:
            raise ValueError("KernelAlignment needs class labels: fit(x, y).")
        gram = self(x) if y_pred is None else y_pred
        alignment = kernel_target_alignment(gram, tf.reshape(y, [-1]))
        self.alignment_tracker.update_state(alignment)
        return per_replica_loss(1.0 - alignment)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [loss_tracker(self), self.alignment_tracker]

    def get_config(self):
        return {**super().get_config(), "kernel": keras.saving.serialize_keras_object(self.kernel)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel"] = keras.saving.deserialize_keras_object(config["kernel"])
        return cls(**config)
