"""The outer loop: an episode's meta-gradients, from the query losses after the inner loop."""
import tensorflow as tf

from tfq_meta.meta.updates import reptile_gradients


class OuterLoop:
    """Meta-gradients of a whole meta-batch: the gradient of the mean query loss after
    adaptation, or with the multi-step loss of the weighted query losses after every inner step
    (and before the first, with ``multi_step_loss_initial``); Reptile's θ − mean_t φ_t.

    Args:
        inner_loop: the :class:`~tfq_meta.meta.inner_loop.InnerLoop` that adapts the tasks.
        algorithm: the :class:`~tfq_meta.meta.algorithms.Algorithm`.
        stabilisers: the resolved :class:`~tfq_meta.meta.stabilisers.Stabilisers`.
        epoch: int variable, the current epoch (for the schedules).
        inner_steps: the inner steps trained.
    """

    def __init__(self, inner_loop, algorithm, stabilisers, epoch, inner_steps):
        self.inner_loop, self.algorithm, self.stabilisers = inner_loop, algorithm, stabilisers
        self.epoch, self.inner_steps = epoch, inner_steps

    def gradients(self, episode, variables, training):
        """``(gradients, query predictions [tasks, queries, ...], mean query loss)``, one
        gradient per entry of ``variables``."""
        first_order_epochs = self.stabilisers.first_order_epochs
        if not first_order_epochs:
            return self._gradients(episode, variables, training, self.algorithm.second_order)
        # Only the branch taken runs: first-order epochs cost what FOMAML costs.
        return tf.cond(self.epoch >= first_order_epochs,
                       lambda: self._gradients(episode, variables, training, True),
                       lambda: self._gradients(episode, variables, training, False))

    def _gradients(self, episode, variables, training, second_order):
        inner_loop = self.inner_loop
        with tf.GradientTape(watch_accessed_variables=not self.algorithm.reptile) as tape:
            trajectory = list(inner_loop.trajectory(episode["support_x"], episode["support_y"],
                                                    self.inner_steps, training, second_order))
            scored = trajectory if self.stabilisers.multi_step_loss else trajectory[-1:]
            if self.stabilisers.multi_step_loss_initial:
                scored = [inner_loop.initial_weights(tf.shape(episode["support_x"])[0]),
                          *scored]
            step_losses, query_predictions = self.query_losses(
                scored, episode["query_x"], episode["query_y"], training)
            step_weights = self.stabilisers.step_loss_weights(len(scored), self.epoch)
            objective = tf.reduce_sum(tf.cast(step_weights, step_losses.dtype) *
                                      tf.reduce_mean(step_losses, axis=1))
            objective += sum(inner_loop.model.losses)
        query_loss = tf.reduce_mean(step_losses[-1])
        if self.algorithm.reptile:
            by_id = {id(v): g for v, g in zip(inner_loop.variables, reptile_gradients(
                inner_loop.variables, trajectory[-1]))}
            gradients = [by_id.get(id(v), tf.zeros_like(v)) for v in variables]
        else:
            gradients = tape.gradient(objective, variables,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return gradients, query_predictions, query_loss

    def query_losses(self, trajectory, query_x, query_y, training):
        """Query losses ``[len(trajectory), tasks]`` of several adapted weights in one batched
        call, and the last one's predictions ``[tasks, queries, ...]``."""
        n_steps = len(trajectory)
        stacked = [tf.concat(step_values, axis=0) for step_values in zip(*trajectory)]
        predictions = self.inner_loop.predictions(
            stacked, tf.concat([query_x] * n_steps, 0), training)
        losses = self.inner_loop.task_losses(tf.concat([query_y] * n_steps, 0), predictions)
        n_tasks = tf.shape(query_x)[0]
        return tf.reshape(losses, [n_steps, n_tasks]), predictions[(n_steps - 1) * n_tasks:]
