"""The inner loop on a whole meta-batch: trained steps, then safeguarded steps past them."""
import tensorflow as tf

from tfq_meta.meta.functional import task_batched_call
from tfq_meta.meta.updates import clip_by_task_norm, inner_update, per_task


class InnerLoop:
    """Adapts every task of a meta-batch at once, one batched model call per step.

    Steps ``1 … inner_steps`` are those meta-training differentiates: a clipped gradient step
    with that step's rates. Steps past them reuse the last step's rates and are *safeguarded*
    per task: a step is kept only if it does not raise the task's support loss, and otherwise the
    task's rates are halved and the step retried from the kept weights. A fixed rate that is too
    large for a task thus costs a few halvings instead of a divergence.

    Args:
        model: the model whose ``variables`` are adapted.
        variables: the adapted variables.
        rates: an :class:`~tfq_meta.meta.inner_rates.InnerRates`.
        inner_steps: the steps meta-training runs.
        clipnorm: the largest global norm of a task's inner gradient, or None.
        second_order: whether the outer loop differentiates through the inner gradients (the
            default of :meth:`trajectory`).
        task_losses: function ``(y, predictions) -> [tasks]`` mean loss of each task.
    """

    def __init__(self, model, variables, rates, inner_steps, clipnorm, second_order,
                 task_losses):
        self.model, self.variables, self.rates = model, variables, rates
        self.inner_steps, self.clipnorm = inner_steps, clipnorm
        self.second_order, self.task_losses = second_order, task_losses

    def initial_weights(self, n_tasks):
        """The model's own values, one copy per task: ``[tasks, *shape]`` per variable."""
        return [tf.broadcast_to(v, tf.concat([[n_tasks], v.shape], 0)) for v in self.variables]

    def predictions(self, task_weights, x, training=False):
        return task_batched_call(self.model, self.variables, task_weights, x, training)

    def trajectory(self, support_x, support_y, steps, training=False, second_order=None):
        """Yields every task's adapted weights after each of ``steps`` inner steps; with
        ``second_order=False`` the inner gradients are constants to an outer tape."""
        second_order = self.second_order if second_order is None else second_order
        weights = self.initial_weights(tf.shape(support_x)[0])
        trained = self._trained_steps(weights, support_x, support_y,
                                      min(steps, self.inner_steps), training, second_order)
        yield from trained
        if steps > self.inner_steps:
            yield from self._safeguarded_steps(trained[-1], support_x, support_y,
                                               steps - self.inner_steps, training)

    def _trained_steps(self, weights, support_x, support_y, steps, training, second_order):
        """The weights after each of the first ``steps`` steps, as a list per step.

        The steps run as one ``tf.while_loop``, so that one step is traced, differentiated and
        compiled whatever their number: unrolled, each step added its own copy to the graph,
        and the first meta-step took twice as long. The loop carries every step's weights in a
        tensor ``[steps, tasks, *shape]`` per variable, written by a one-hot sum: plain
        arithmetic, differentiable to any order.

        The same step is unrolled when the support set's shape is only known at run time (a
        ``fit`` on arrays, which Keras batches with an unknown size): the gradient of a while
        loop through TensorFlow's own reduction gradients then needs shapes XLA cannot compile.
        """
        def step(i, weights, history):
            _, gradients = self._support_gradients(weights, support_x, support_y, training)
            if not second_order:
                gradients = [tf.stop_gradient(g) for g in gradients]
            weights = self._descend(weights, gradients, self.rates.for_step(i))
            history = [h + _at_step(i, steps, w) * w[tf.newaxis]
                       for h, w in zip(history, weights)]
            return i + 1, weights, history

        loop = (tf.constant(0), weights,
                [tf.zeros(tf.concat([[steps], tf.shape(w)], 0), w.dtype) for w in weights])
        if support_x.shape.is_fully_defined() and support_y.shape.is_fully_defined():
            loop = tf.while_loop(lambda i, *_: i < steps, step, loop, maximum_iterations=steps)
        else:
            for _ in range(steps):
                loop = step(*loop)
        return [list(values) for values in zip(*[tf.unstack(h, num=steps) for h in loop[2]])]

    def _safeguarded_steps(self, weights, support_x, support_y, steps, training):
        rates = self.rates.for_step(self.inner_steps - 1)
        losses, gradients = self._support_gradients(weights, support_x, support_y, training)
        factors = tf.ones_like(losses)
        for _ in range(steps):
            candidate = self._descend(weights, gradients, rates, factors)
            new_losses, new_gradients = self._support_gradients(candidate, support_x, support_y,
                                                                training)
            kept = new_losses <= losses  # False for NaN: a step to NaN is never kept
            weights = _where_kept(kept, candidate, weights)
            gradients = _where_kept(kept, new_gradients, gradients)
            losses = tf.where(kept, new_losses, losses)
            factors = tf.where(kept, factors, factors / 2)
            yield weights

    def _support_gradients(self, weights, support_x, support_y, training):
        """Every task's support loss ``[tasks]`` and its gradient w.r.t. its weights."""
        with tf.GradientTape() as tape:
            tape.watch(weights)
            losses = self.task_losses(support_y, self.predictions(weights, support_x, training))
            # Tasks do not share adapted weights, so the gradient of the summed task losses holds
            # every task's own gradient.
            total = tf.reduce_sum(losses)
        return losses, tape.gradient(total, weights,
                                     unconnected_gradients=tf.UnconnectedGradients.ZERO)

    def _descend(self, weights, gradients, rates, task_factors=None):
        """One clipped gradient step of every task; ``task_factors`` ``[tasks]`` scale its rates."""
        gradients = clip_by_task_norm(gradients, self.clipnorm)
        if task_factors is not None:
            gradients = [g * per_task(task_factors, g) for g in gradients]
        return inner_update(weights, gradients, rates)


def _at_step(i, steps, weights):
    """One-hot ``[steps, 1, …]`` of step ``i``, to broadcast against ``weights[tf.newaxis]``."""
    return tf.reshape(tf.one_hot(i, steps, dtype=weights.dtype),
                      [steps] + [1] * weights.shape.rank)


def _where_kept(kept, new, old):
    return [tf.where(per_task(kept, o), n, o) for n, o in zip(new, old)]
