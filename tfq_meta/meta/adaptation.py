"""What a trained MetaLearner does with a new task: adapt to its support set, then predict."""
import keras
import numpy as np
import tensorflow as tf

from tfq_meta._validation import check_positive_int
from tfq_meta.meta.episode_checks import check_examples, check_support
from tfq_meta.meta.finite_steps import check_adapted_weights


class FewShotAdaptation:
    """A MetaLearner mixin: its inner loop run on new tasks, as adapted weights, predictions,
    adaptation curves or an adapted copy of the model. The MetaLearner provides ``model``,
    ``adapted_variables``, ``inner_steps``, ``inner_lr``, ``_inner_loop``, ``_episode``,
    ``_task_losses``, ``_class_indices`` and ``_require_compiled``."""

    def adapt_task_weights(self, support_x, support_y, steps=None, training=False):
        """The inner loop: per-task adapted values of :attr:`adapted_variables`.

        Args:
            support_x, support_y: ``[tasks, shots, ...]``.
            steps: inner steps; default ``inner_steps``. Steps past ``inner_steps`` are
                safeguarded (see :class:`~tfq_meta.meta.MetaLearner`).
            training: passed to the model's layers.

        Returns:
            list of tensors ``[tasks, *variable.shape]``, one per adapted variable. Under a
            ``GradientTape`` they are differentiable w.r.t. the model's weights: through the inner
            gradients for second-order algorithms, with the inner gradients held constant
            otherwise.
        """
        self._require_compiled()
        support_x, support_y = check_support(support_x, support_y, self.model,
                                             self._class_indices)
        return self._adapted_weights(support_x, support_y, steps, training)

    def _adapted_weights(self, support_x, support_y, steps=None, training=False):
        steps = self.inner_steps if steps is None else check_positive_int(steps, "steps")
        for weights in self._inner_loop.trajectory(support_x, support_y, steps, training):
            pass
        return weights

    def adapt_and_predict(self, support_x, support_y, query_x, steps=None):
        """Predictions on ``query_x`` of each task's adapted model, all tasks at once.

        Args:
            support_x, support_y: ``[tasks, shots, ...]``.
            query_x: ``[tasks, queries, ...]``.
            steps: inner steps; default ``inner_steps``.

        Returns:
            ``[tasks, queries, ...]`` predictions.
        """
        weights = self.adapt_task_weights(support_x, support_y, steps)
        query_x = check_examples(tf.convert_to_tensor(query_x), self.model, "query_x")
        return self._inner_loop.predictions(weights, query_x, False)

    def adaptation_losses(self, episode, steps):
        """Query loss of every task after 0, 1, …, ``steps`` inner steps (adaptation curves).

        Args:
            episode: dict of ``[tasks, shots, ...]`` arrays, as ``fit`` takes.
            steps: the last number of inner steps to evaluate (may exceed ``inner_steps``: see
                :class:`~tfq_meta.meta.MetaLearner`).

        Returns:
            NumPy array ``[steps + 1, tasks]``; row 0 is the loss of the initialization.
        """
        steps = check_positive_int(steps, "steps")
        episode = self._episode(episode)
        trajectory = [self._inner_loop.initial_weights(tf.shape(episode["support_x"])[0]),
                      *self._inner_loop.trajectory(episode["support_x"], episode["support_y"],
                                                   steps)]
        return np.stack([self._task_losses(episode["query_y"], self._inner_loop.predictions(
            weights, episode["query_x"])).numpy() for weights in trajectory])

    def adapt(self, support_x, support_y, steps=None):
        """A copy of the model adapted to one task by the inner loop.

        Args:
            support_x: the task's examples ``[shots, ...]``.
            support_y: their targets ``[shots, ...]``.
            steps: inner steps; default ``inner_steps``.

        Returns:
            an uncompiled ``keras.Model`` like ``model`` with the adapted weights; it can be
            saved, exported or fine-tuned like any Keras model.
        """
        self._require_compiled()
        support_x, support_y = check_support(np.asarray(support_x), np.asarray(support_y),
                                             self.model, self._class_indices, axes=("shots",))
        adapted = self._adapted_weights(support_x[tf.newaxis], support_y[tf.newaxis], steps)
        check_adapted_weights(adapted, self.inner_lr)
        copy = keras.models.clone_model(self.model)
        copy.set_weights(self.model.get_weights())
        index = {id(v): i for i, v in enumerate(self.model.weights)}
        for variable, value in zip(self.adapted_variables, adapted):
            copy.weights[index[id(variable)]].assign(value[0])
        return copy
