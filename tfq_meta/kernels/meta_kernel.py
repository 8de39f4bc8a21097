"""KernelMetaLearner: meta-learn a kernel's embedding across few-shot tasks."""
import keras
import tensorflow as tf

from tfq_meta._compat.keras import loss_tracker
from tfq_meta._validation import check_int_at_least, check_positive_float, checked_finite
from tfq_meta.kernels.base import trainable_kernel
from tfq_meta.meta.replicas import replica_share, weigh_by_share
from tfq_meta.tasks.episodes import EpisodicFit, unpack_episode
from tfq_meta.xla import XlaByDefault


def ridge_predictions(support_gram, support_y, query_gram, n_classes, ridge):
    """Kernel ridge regression onto one-hot labels, solved per task in closed form.

    ``α = (K_ss + λ I)⁻¹ Y_s`` and query scores ``K_qs α``: a differentiable stand-in for the SVM
    fitted at test time (R2-D2, Bertinetto et al. 2019), so the embedding is trained for the
    classifier that follows it.

    Args:
        support_gram: ``[T, S, S]``; support_y: int ``[T, S]``; query_gram: ``[T, Q, S]``.
        n_classes: classes per task (N ways); ridge: ``λ > 0``.

    Returns:
        ``[T, Q, n_classes]`` class scores.
    """
    _check_gram_shapes(tf.convert_to_tensor(support_gram).shape,
                       tf.convert_to_tensor(query_gram).shape)
    n_classes = check_int_at_least(n_classes, 1, "n_classes")
    ridge = check_positive_float(ridge, "ridge")
    targets = tf.one_hot(support_y, n_classes, dtype=support_gram.dtype)
    identity = tf.eye(tf.shape(support_gram)[-1], dtype=support_gram.dtype)
    coefficients = tf.linalg.solve(support_gram + ridge * identity, targets)
    return tf.matmul(query_gram, coefficients)


def _check_gram_shapes(support, query):
    if support.rank is not None and (support.rank != 3 or not support[-1:].is_compatible_with(
            support[-2:-1])):
        raise ValueError("`support_gram` must be square Gram matrices [tasks, S, S]; got shape "
                         f"{support}.")
    if query.rank is not None and (query.rank != 3 or not query[-1:].is_compatible_with(
            support[-1:])):
        raise ValueError(f"`query_gram` must have shape [tasks, Q, {support[-1]}] (one column "
                         f"per support example); got shape {query}.")


@keras.saving.register_keras_serializable(package="tfq_meta")
class KernelMetaLearner(EpisodicFit, XlaByDefault, keras.Model):
    """Meta-learns a quantum kernel's embedding so that few-shot classifiers on it generalize.

    Each step takes an episode of few-shot tasks (``support_x``, ``support_y``, ``query_x``,
    ``query_y``, each ``[tasks, shots, ...]``, from :mod:`tfq_meta.tasks`), embeds every point of
    every task in one call, builds each task's support and query Gram matrices, fits kernel ridge
    regression on the support set (closed form, :func:`ridge_predictions`) and descends the
    query loss through the solve to the embedding's weights. After meta-training, a
    :class:`QSVC` with the kernel classifies a new task's queries from its few support examples.

    Logs: ``loss`` (query cross-entropy of the ridge scores) and ``accuracy`` (query accuracy).

    Args:
        kernel: a :class:`QuantumKernel` (statevector method) or :class:`ProjectedQuantumKernel`
            with trainable weights; trained in place.
        n_ways: classes per task.
        ridge: the ridge regularization ``λ`` (positive).
        temperature: query scores are divided by it before the softmax (positive).

    Example:
    >>> from tfq_meta import circuits, tasks
    >>> from tfq_meta.kernels import QuantumKernel
    >>> family = tasks.digits(n_ways=2, shots=3, n_features=2)["train"]
    >>> learner = KernelMetaLearner(QuantumKernel(circuits.reuploading_circuit(2, 1)), n_ways=2)
    >>> learner.compile(optimizer=keras.optimizers.Adam(0.05))
    >>> history = learner.fit(family.episodes(4, seed=0), epochs=1, steps_per_epoch=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
    """

    def __init__(self, kernel, n_ways, ridge=0.1, temperature=0.1, **kwargs):
        super().__init__(**kwargs)
        self.kernel = trainable_kernel(kernel, "KernelMetaLearner")
        self.n_ways = check_int_at_least(n_ways, 2, "n_ways", " (classes per task)")
        self.built = True  # its only weights are the kernel's
        self.ridge = check_positive_float(ridge, "ridge")
        self.temperature = check_positive_float(temperature, "temperature")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def call(self, x):
        return self.kernel(x)

    def check_inputs(self, data):
        # Checked before the compiled step, where a wrong width is a shape error inside the
        # ridge solve and a NaN a singular matrix or a NaN loss.
        episode = data[0] if isinstance(data, (tuple, list)) else data
        if isinstance(episode, dict):
            for key in ("support_x", "query_x"):
                if key in episode:
                    episode = {**episode, key: self._checked_points(episode[key], key)}
            for key in ("support_y", "query_y"):
                if key in episode:
                    episode = {**episode, key: self._checked_labels(episode[key], key)}
            data = (episode, *data[1:]) if isinstance(data, (tuple, list)) else episode
        return super().check_inputs(data)

    def _checked_points(self, points, key):
        shape = tf.TensorShape(points.shape)
        if shape.rank is not None and (shape.rank != 3 or shape[-1] not in (
                None, self.kernel.n_features)):
            raise ValueError(f"`episodes['{key}']` must be shaped [tasks, shots, "
                             f"{self.kernel.n_features}] (the kernel's feature count); got shape "
                             f"{shape.as_list()}.")
        message = (f"`episodes['{key}']` holds NaN or infinite values; circuit angles must be "
                   "finite.")
        checked = checked_finite(tf.cast(points, tf.float32), message)
        return points if tf.executing_eagerly() else checked

    def _checked_labels(self, labels, key):
        # Out of range, a support label is silently one-hot to zeros and a query label gives a
        # NaN loss under XLA.
        labels = tf.convert_to_tensor(labels)
        message = (f"`episodes['{key}']` must be class labels in [0, {self.n_ways}) (n_ways="
                   f"{self.n_ways}); got a label outside it.")
        if not (labels.dtype.is_integer or labels.dtype.is_floating or labels.dtype.is_bool):
            raise TypeError(f"`episodes['{key}']` must be integer class labels; got dtype "
                            f"{labels.dtype.name}.")
        values = tf.cast(labels, tf.float64)
        valid = tf.reduce_all((values >= 0) & (values < self.n_ways)
                              & tf.equal(values, tf.round(values)))
        if tf.executing_eagerly():
            if not bool(valid):
                raise ValueError(message)
            return labels
        with tf.control_dependencies([tf.debugging.assert_equal(valid, True, message)]):
            return tf.identity(labels)

    def query_scores(self, episode):
        """``[tasks, queries, n_ways]`` ridge scores of an episode's query points."""
        support_gram, query_gram = self.kernel.task_grams(
            tf.convert_to_tensor(episode["support_x"], tf.float32),
            tf.convert_to_tensor(episode["query_x"], tf.float32))
        return ridge_predictions(support_gram, tf.cast(episode["support_y"], tf.int32),
                                 query_gram, self.n_ways, self.ridge)

    def train_step(self, data):
        episode = unpack_episode(data)
        with tf.GradientTape() as tape:
            loss = self._query_loss(episode)
        variables = self.trainable_variables
        share = replica_share(episode)
        self.optimizer.apply(weigh_by_share(tape.gradient(loss, variables), share), variables)
        return self._log(loss, share)

    def test_step(self, data):
        episode = unpack_episode(data)
        return self._log(self._query_loss(episode), replica_share(episode))

    def _query_loss(self, episode):
        scores = self.query_scores(episode) / self.temperature
        labels = tf.cast(episode["query_y"], tf.int32)
        correct = tf.equal(tf.argmax(scores, -1, output_type=tf.int32), labels)
        self.accuracy_tracker.update_state(tf.cast(correct, tf.float32))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, scores))

    def _log(self, loss, share):
        # Under a strategy the replicas' metric variables are summed: their shares add up to one.
        loss_tracker(self).update_state(loss, sample_weight=share)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [loss_tracker(self), self.accuracy_tracker]

    def get_config(self):
        return {**super().get_config(),
                "kernel": keras.saving.serialize_keras_object(self.kernel),
                "n_ways": self.n_ways, "ridge": self.ridge, "temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel"] = keras.saving.deserialize_keras_object(config["kernel"])
        return cls(**config)
