"""The options that make MAML trainable in practice ("How to train your MAML", Antoniou et al.,
ICLR 2019): their resolution against each algorithm, their checks and their epoch schedules."""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfq_meta._validation import check_non_negative_int, check_positive_float

EPOCHS = " (a number of epochs)"


@dataclasses.dataclass(frozen=True)
class Stabilisers:
    """Resolved stabiliser options of a MetaLearner:

    - **learned per-step rates** (``learn_inner_lr``, LSLR): one positive inner rate per weight
      group and inner step, learned by the outer loop from ``inner_lr``. A group is a variable,
      except that a PQC's input scales (weights that multiply a feature) have a rate apart from
      its rotation angles: their gradients are larger by the size of the features. Meta-SGD
      learns one rate per weight instead.
    - **multi-step loss** (``multi_step_loss``): the outer objective weighs the query loss after
      every inner step, uniformly, or annealed toward the last step over
      ``multi_step_loss_epochs`` epochs. ``loss`` in the logs is always the last step's.
      With ``multi_step_loss_initial`` it also weighs the query loss of the initialization
      itself (0 steps), as one more early step.
    - **derivative-order annealing** (``first_order_epochs``): first-order meta-gradients for the
      first epochs, at first-order cost, then exact second order.
    - **inner-gradient clipping** (``inner_clipnorm``): each task's inner gradient is scaled to a
      global norm of at most ``inner_clipnorm``, so a task with large errors cannot take a huge
      step. Without it MAML learns nothing on the default student.
    """
    learn_inner_lr: bool
    multi_step_loss: bool
    multi_step_loss_epochs: int | None
    first_order_epochs: int
    inner_clipnorm: float | None
    multi_step_loss_initial: bool = False

    @classmethod
    def resolve(cls, algorithm, spec, learn_inner_lr=None, multi_step_loss=None,
                multi_step_loss_epochs=None, first_order_epochs=0, inner_clipnorm="auto",
                multi_step_loss_initial=False):
        """Fills in the algorithm's defaults (``None``) and checks every option.

        Args:
            algorithm: the algorithm's name, for messages.
            spec: its :class:`~tfq_meta.meta.algorithms.Algorithm` entry.
        """
        queries = not spec.reptile  # the outer loop descends query losses
        learn_inner_lr = _flag(learn_inner_lr, "learn_inner_lr", default=queries)
        if learn_inner_lr and spec.reptile:
            raise ValueError("`learn_inner_lr=True` needs query-loss meta-gradients, which "
                             "algorithm='reptile' does not take; use maml, fomaml or anil.")
        if spec.learned_rates and not learn_inner_lr:
            raise ValueError("algorithm='metasgd' always learns its inner rates (one per weight); "
                             "`learn_inner_lr=False` would make it maml: use algorithm='maml'.")
        multi_step_loss = _flag(multi_step_loss, "multi_step_loss", default=queries)
        if multi_step_loss and spec.reptile:
            raise ValueError("`multi_step_loss=True` weighs query losses, which "
                             "algorithm='reptile' does not descend; leave it None or False.")
        multi_step_loss_epochs = check_non_negative_int(
            multi_step_loss_epochs, "multi_step_loss_epochs", allow_none=True, meaning=EPOCHS)
        if multi_step_loss_epochs is not None and not multi_step_loss:
            raise ValueError("`multi_step_loss_epochs` anneals the multi-step loss, which is off; "
                             "set multi_step_loss=True or leave multi_step_loss_epochs None.")
        multi_step_loss_initial = _flag(multi_step_loss_initial, "multi_step_loss_initial",
                                        default=False)
        if multi_step_loss_initial and not multi_step_loss:
            raise ValueError("`multi_step_loss_initial=True` adds the initialization's query loss "
                             "to the multi-step loss, which is off; set multi_step_loss=True "
                             "(reptile takes neither).")
        first_order_epochs = check_non_negative_int(first_order_epochs, "first_order_epochs",
                                                    meaning=EPOCHS)
        if first_order_epochs and not spec.second_order:
            raise ValueError(f"`first_order_epochs` anneals second-order meta-gradients, which "
                             f"algorithm={algorithm!r} never takes; use 0, or maml, metasgd or "
                             "anil.")
        if isinstance(inner_clipnorm, str) and inner_clipnorm == "auto":
            inner_clipnorm = spec.inner_clipnorm
        if inner_clipnorm is not None:
            try:
                inner_clipnorm = check_positive_float(inner_clipnorm, "inner_clipnorm")
            except ValueError:
                raise ValueError(f"`inner_clipnorm` must be a positive number, None (no clipping) "
                                 f"or 'auto' (the algorithm's default); got {inner_clipnorm!r}.") \
                    from None
        return cls(learn_inner_lr, multi_step_loss, multi_step_loss_epochs, first_order_epochs,
                   inner_clipnorm, multi_step_loss_initial)

    @property
    def schedules(self):
        """Whether an option changes with the epoch."""
        return bool(self.first_order_epochs) or self.multi_step_loss_epochs is not None

    def check_training_length(self, epochs):
        """Raises if ``fit(epochs=...)`` ends before a schedule does."""
        if self.first_order_epochs and self.first_order_epochs >= epochs:
            raise ValueError(
                f"`first_order_epochs={self.first_order_epochs}` is as long as training or longer: "
                f"fit(epochs={epochs}) would never reach exact second-order meta-gradients. Train "
                f"for more than {self.first_order_epochs} epochs or lower first_order_epochs.")
        if (self.multi_step_loss_epochs or 0) > epochs:
            raise ValueError(
                f"`multi_step_loss_epochs={self.multi_step_loss_epochs}` is longer than training: "
                f"fit(epochs={epochs}) ends before the multi-step loss is annealed. Train for at "
                "least that many epochs, lower multi_step_loss_epochs, or leave it None.")

    def step_loss_weights(self, n_steps, epoch):
        """Weights of the ``n_steps`` query losses the outer loop scores (after inner steps
        1 … ``n_steps``, or 0 … ``n_steps - 1`` with ``multi_step_loss_initial``; see
        :func:`multi_step_loss_weights`); only the last step's without the multi-step loss."""
        if not self.multi_step_loss:
            return tf.one_hot(n_steps - 1, n_steps)
        return multi_step_loss_weights(n_steps, epoch, self.multi_step_loss_epochs)


def multi_step_loss_weights(n_steps, epoch, anneal_epochs):
    """Weights of the query losses after inner steps ``1 … n_steps`` in the outer objective.

    The schedule of Antoniou et al. (2019): uniform weights at epoch 0, the earlier steps' weights
    falling linearly to a floor of ``0.03 / n_steps`` by epoch ``anneal_epochs`` and the last
    step's rising to take what they give up. ``anneal_epochs=None`` keeps the uniform weights, so
    that every number of steps adapts well; ``0`` starts at the final weights.

    Args:
        n_steps: inner steps.
        epoch: the current epoch, a scalar tensor.
        anneal_epochs: None or a non-negative int.

    Returns:
        float32 ``[n_steps]``, summing to 1.
    """
    uniform = tf.fill([n_steps], 1.0 / n_steps)
    if anneal_epochs is None or n_steps == 1:
        return uniform
    floor = 0.03 / n_steps
    progress = (tf.constant(1.0) if anneal_epochs == 0 else
                tf.minimum(tf.cast(epoch, tf.float32) / anneal_epochs, 1.0))
    earlier = tf.fill([n_steps - 1], 1.0 / n_steps - progress * (1.0 / n_steps - floor))
    return tf.concat([earlier, [1.0 - tf.reduce_sum(earlier)]], axis=0)


class EpochCounter(keras.callbacks.Callback):
    """Keeps the model's ``epoch`` variable at the epoch ``fit`` is in, for in-graph schedules.

    Keras numbers epochs from ``initial_epoch``, so a resumed run continues its schedules.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.model.epoch.assign(epoch)


def _flag(value, argument, default):
    if value is None:
        return default
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{argument}` must be True, False or None (the algorithm's default); "
                         f"got {value!r}.")
    return bool(value)
