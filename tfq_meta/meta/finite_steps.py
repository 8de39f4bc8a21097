"""Non-finite meta-steps never reach the model's weights.

A too large inner learning rate (or a loss that overflows) makes the adapted weights, and with
them the meta-loss and the meta-gradient, NaN or infinite. An optimizer step with that gradient
would write NaN into every weight of the model and of the optimizer's state, from which training
cannot recover. So a meta-step whose gradient or loss is not finite is skipped: the weights and
the optimizer's state (its moments, step count and moving average) stay as they were, the
step's logged loss is NaN, and :class:`StopOnNonFinite` ends ``fit`` with a warning saying why,
as ``keras.callbacks.TerminateOnNaN`` would, but with the weights intact. A step whose gradient
is finite but whose update is not (Adam squares the gradient) is undone the same way.
"""
import warnings

import keras
import numpy as np
import tensorflow as tf


def apply_if_finite(optimizer, gradients, variables, loss):
    """``optimizer.apply(gradients, variables)``, kept only if it leaves the weights finite.

    The step is skipped when the gradients or ``loss`` are not finite, and undone when finite
    but huge gradients still overflow the update (Adam squares them).

    Returns:
        ``loss``, or NaN when the step was skipped or undone (so that the logs show it).
    """
    finite = _all_finite([loss, *gradients])
    context = tf.distribute.get_replica_context()
    if not tf.distribute.has_strategy() or context is None:
        kept = _kept_step(lambda: optimizer.apply(gradients, variables), finite, optimizer,
                          variables)
    else:
        # Under a strategy the optimizer all-reduces the replicas' gradients through a
        # merge_call, which cannot sit in a replica-context branch, and the replicas must agree
        # on skipping: the flag is reduced first and the branch taken across replicas.
        finite = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                    1.0 - tf.cast(finite, tf.float32)) == 0.0

        def across_replicas(strategy, gradients, variables):
            return _kept_step(
                lambda: strategy.extended.call_for_each_replica(optimizer.apply,
                                                                args=(gradients, variables)),
                strategy.experimental_local_results(finite)[0], optimizer, variables)

        kept = context.merge_call(across_replicas, args=(gradients, variables))
    return tf.where(kept, loss, tf.constant(np.nan, loss.dtype))


def _kept_step(apply, finite, optimizer, variables):
    """Runs ``apply`` if ``finite``; restores the weights and the optimizer's state if the step
    left any of them non-finite (an infinite second moment would freeze the weights for good).
    Returns whether the step was kept."""
    state = [*variables, *optimizer.variables]
    saved = [tf.identity(v) for v in state]

    def step():
        apply()
        return _all_finite(state)

    kept = tf.cond(finite, step, lambda: tf.constant(False))

    def restore():
        for variable, value in zip(state, saved):
            variable.assign(value)

    tf.cond(kept, lambda: None, restore)
    return kept


def _all_finite(tensors):
    """Whether every float tensor of ``tensors`` is finite (step counters are ints)."""
    tensors = [tf.convert_to_tensor(t) for t in tensors]
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(t)) for t in tensors
                          if t.dtype.is_floating])


class StopOnNonFinite(keras.callbacks.Callback):
    """Ends ``fit`` with a RuntimeWarning at the first non-finite loss (a skipped meta-step)."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(float(np.asarray(loss).reshape(-1)[0])):
            return
        self.model.stop_training = True
        warnings.warn(
            f"MetaLearner.fit stopped at batch {batch}: the meta-loss, the meta-gradient or the "
            "update they gave was NaN or infinite, so the step was undone and the weights left "
            "as they were before it. The usual cause is an inner loop that diverges: lower "
            f"`inner_lr` (now {self.model.inner_lr}) or `inner_steps`, or clip the inner "
            "gradients (`inner_clipnorm`); otherwise a loss that overflows.",
            RuntimeWarning, stacklevel=2)


def check_adapted_weights(weights, inner_lr):
    """Raises when adapted weights (eager tensors) are NaN or infinite: adaptation diverged."""
    if bool(_all_finite(weights)):
        return
    raise ValueError(f"Adaptation diverged: the adapted weights are NaN or infinite. Lower the "
                     f"inner learning rate (`inner_lr`={inner_lr}) or the number of `steps`.")
