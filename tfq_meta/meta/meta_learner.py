"""MetaLearner: a keras.Model whose train_step meta-learns the initialization of another model."""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfq_meta._validation import (check_choice, check_positive_float,
                                  check_positive_int)
from tfq_meta.distribute import DistributedFit, step_logs
from tfq_meta.layers import PQC
from tfq_meta.meta.functional import task_batched_call
from tfq_meta.meta.updates import inner_update, reptile_gradients
from tfq_meta.tasks.episodes import EpisodicFit, check_episode


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """How one meta-learning algorithm runs the inner and outer loops."""
    second_order: bool    # differentiate through the inner loop's gradients
    head_only: bool       # adapt only the head's weights in the inner loop
    learned_rates: bool   # per-parameter inner learning rates, meta-learned
    reptile: bool         # outer gradient θ − mean φ instead of the query-loss gradient


ALGORITHMS = {
    "maml": Algorithm(second_order=True, head_only=False, learned_rates=False, reptile=False),
    "fomaml": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=False),
    "reptile": Algorithm(second_order=False, head_only=False, learned_rates=False, reptile=True),
    "metasgd": Algorithm(second_order=True, head_only=False, learned_rates=True, reptile=False),
    "anil": Algorithm(second_order=True, head_only=True, learned_rates=False, reptile=False),
}


@keras.saving.register_keras_serializable(package="tfq_meta")
class MetaLearner(DistributedFit, EpisodicFit, keras.Model):
    """Meta-learns a model's initial weights so that a few gradient steps fit a new task.

    Each ``fit`` step takes an episode, a meta-batch of tasks ``{"support_x", "support_y",
    "query_x", "query_y"}`` shaped ``[tasks, shots, ...]`` (see :mod:`tfq_meta.tasks`):

    - **inner loop**: starting from the model's weights θ, every task takes ``inner_steps`` steps
      of gradient descent on its support loss, giving adapted weights φ_t. All tasks run together:
      their examples form one batch and each circuit sees its task's weights as symbol values, so
      each inner step is one circuit-simulation call for the whole meta-batch;
    - **outer loop**: the optimizer given to ``compile`` updates θ (and, for Meta-SGD, the inner
      learning rates) to lower the query loss of the adapted weights, averaged over tasks.

    Algorithms:

    - ``"maml"``: exact second-order MAML; the meta-gradient flows through the inner gradients.
    - ``"fomaml"``: first-order MAML; the inner gradients are treated as constants.
    - ``"reptile"``: the outer gradient is θ − mean_t φ_t (Nichol et al., 2018); query sets are
      only used for the logs.
    - ``"metasgd"``: second-order MAML with a learned inner learning rate per parameter, started at
      ``inner_lr`` (Li et al., 2017).
    - ``"anil"``: second-order MAML that adapts only the head (``head``) in the inner loop
      (Raghu et al., 2020); the body is learned by the outer loop only.

    The model may be any built Sequential or functional Keras model: PQC layers, classical layers,
    or both. ``fit``/``evaluate`` log the query loss and metrics after adaptation (``loss``, and
    the compiled metrics by their names) and before it (``pre_adapt_loss``, ``pre_adapt_<name>``).
    Predictions (``meta(x)``, ``predict``) use the meta-learned initialization; :meth:`adapt` gives
    a plain Keras model adapted to a new task.

    Under a ``tf.distribute`` strategy (build and compile inside ``strategy.scope()``), ``fit``
    splits each episode's tasks among the replicas and averages their meta-gradients weighted by
    their numbers of tasks, which equals single-process training up to float rounding; see
    :mod:`tfq_meta.distribute`.

    Args:
        model: a built ``keras.Model`` (Sequential or functional).
        algorithm: ``"maml"``, ``"fomaml"``, ``"reptile"``, ``"metasgd"`` or ``"anil"``.
        inner_steps: gradient steps of the inner loop (and the default of :meth:`adapt`).
        inner_lr: step size of the inner loop (for ``"metasgd"``: the initial per-parameter rates).
        head: for ``"anil"``, the names of the layers adapted in the inner loop; default the last
            layer with trainable weights.

    Example:
    >>> from tfq_meta import models, tasks
    >>> meta = MetaLearner(models.student(n_features=1), algorithm="maml", inner_steps=1,
    ...                    inner_lr=0.1)
    >>> meta.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    >>> episodes = tasks.Sinusoid(shots=5).episodes(meta_batch_size=4, seed=0)
    >>> history = meta.fit(episodes, epochs=1, steps_per_epoch=2, verbose=0)
    >>> sorted(history.history)
    ['loss', 'pre_adapt_loss']
    >>> episode = tasks.Sinusoid(shots=5).sample(n_tasks=1, seed=1)
    >>> adapted = meta.adapt(episode["support_x"][0], episode["support_y"][0], steps=3)
    >>> adapted(episode["query_x"][0]).shape
    TensorShape([5, 1])
    """

    def __init__(self, model, algorithm="maml", inner_steps=5, inner_lr=0.1, head=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        if not model.built:
            raise ValueError("`model` must be built before meta-learning: give it a keras.Input "
                             "(or call it once on data) so that its weights exist.")
        self.model = model
        self.algorithm = check_choice(algorithm, ALGORITHMS, "algorithm")
        self._algorithm = ALGORITHMS[algorithm]
        self.inner_steps = check_positive_int(inner_steps, "inner_steps")
        self.inner_lr = check_positive_float(inner_lr, "inner_lr")
        self.head = _head_layers(model, head, algorithm, self._algorithm.head_only)
        self.adapted_variables = self._find_adapted_variables()
        self._check_second_order()
        self.inner_learning_rates = [
            self.add_weight(shape=v.shape, initializer=keras.initializers.Constant(self.inner_lr),
                            name=f"inner_lr_{v.path.replace('/', '_')}")
            for v in self.adapted_variables] if self._algorithm.learned_rates else []
        self._task_loss = None
        self._meta_metrics = ()
        self.built = True

    def _find_adapted_variables(self):
        variables = (self.model.trainable_variables if self.head is None else
                     [v for name in self.head for v in self.model.get_layer(name).trainable_variables])
        if not variables:
            raise ValueError("`model` has no trainable weights to adapt.")
        return variables

    def _check_second_order(self):
        if not self._algorithm.second_order:
            return
        for layer in self.model._flatten_layers():
            if isinstance(layer, PQC) and layer.second_order_blocker is not None:
                raise ValueError(
                    f"algorithm={self.algorithm!r} needs second derivatives of layer "
                    f"{layer.name!r}, which runs on engine='qsim' where they come from the "
                    f"parameter-shift rule; it does not hold for {layer.second_order_blocker!r}. "
                    "Use algorithm='fomaml' (or 'reptile'), or engine='statevector' for the layer.")

    # ----------------------------------------------------------------------------------- compile

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Configures the outer loop; ``loss`` (required) is used by both loops.

        Args:
            optimizer: the outer-loop optimizer.
            loss: a Keras loss (name, function or ``keras.losses.Loss``). Losses on class logits
                need ``from_logits=True``, e.g. ``SparseCategoricalCrossentropy(from_logits=True)``.
            metrics: Keras metrics of the query predictions, logged after and before adaptation.
            **kwargs: other ``keras.Model.compile`` arguments (``jit_compile``, ``run_eagerly``,
                ``steps_per_execution`` …), except ``loss_weights`` and ``weighted_metrics``.
        """
        if loss is None:
            raise ValueError("`loss` is required: the inner loop descends it on the support set "
                             "and the outer loop on the query set.")
        for unsupported in ("loss_weights", "weighted_metrics"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(f"MetaLearner.compile does not take `{unsupported}`.")
        super().compile(optimizer=optimizer, **kwargs)
        # Optimizer variables now, not in the first traced step: a step whose trace failed on a
        # bad episode must not leave the next fit unable to create them.
        self.optimizer.build(self.trainable_variables)
        self._compile_arguments = dict(optimizer=self.optimizer, loss=loss, metrics=metrics,
                                       **kwargs)
        self._task_loss = _per_example_loss(loss)
        metrics = [] if metrics is None else list(metrics) if isinstance(metrics, (list, tuple)) \
            else [metrics]
        after = [_metric(m, loss) for m in metrics]
        before = [_metric(m, loss, prefix="pre_adapt_") for m in metrics]
        self._pre_adapt_loss = keras.metrics.Mean(name="pre_adapt_loss")
        self._meta_metrics = (self._loss_tracker, *after, self._pre_adapt_loss, *before)

    def fit(self, x=None, *args, **kwargs):
        _check_replica_split(self, x, "x", kwargs.get("batch_size"))
        _check_replica_split(self, kwargs.get("validation_data"), "validation_data",
                             kwargs.get("validation_batch_size") or kwargs.get("batch_size"))
        return super().fit(x, *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        _check_replica_split(self, x, "x", kwargs.get("batch_size"))
        return super().evaluate(x, *args, **kwargs)

    def get_compile_config(self):
        if self._task_loss is None:
            return {}
        return {key: keras.saving.serialize_keras_object(value)
                for key, value in self._compile_arguments.items()}

    def compile_from_config(self, config):
        self.compile(**{key: keras.saving.deserialize_keras_object(value)
                        for key, value in config.items()})

    @property
    def metrics(self):
        return list(self._meta_metrics)

    # ----------------------------------------------------------------------------- the two loops

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def train_step(self, data):
        episode = self._episode(data)
        gradients, query_predictions, query_loss = self._meta_gradients(episode, training=True)
        share = _replica_share(episode)
        if share is not None:
            # Under a tf.distribute strategy each replica holds some of the episode's tasks and
            # the optimizer sums the replicas' gradients: weigh each by its share of the tasks,
            # so the sum is the gradient of the mean over all tasks (also for uneven splits).
            gradients = [g * tf.cast(share, g.dtype) for g in gradients]
        self.optimizer.apply(gradients, self.trainable_variables)
        return self._update_metrics(episode, query_predictions, query_loss, share)

    def meta_gradients(self, episode):
        """The outer-loop gradients of one episode, one per ``trainable_variables`` entry.

        This is what ``fit`` hands to the optimizer: the gradient of the mean query loss after
        adaptation (Reptile: θ − mean_t φ_t).
        """
        gradients, _, _ = self._meta_gradients(self._episode(episode), training=False)
        return gradients

    def _meta_gradients(self, episode, training):
        with tf.GradientTape(watch_accessed_variables=not self._algorithm.reptile) as tape:
            adapted = self.adapt_task_weights(episode["support_x"], episode["support_y"],
                                              training=training)
            query_predictions = self._task_predictions(adapted, episode["query_x"], training)
            query_loss = tf.reduce_mean(self._task_losses(episode["query_y"], query_predictions))
            objective = query_loss + sum(self.model.losses)
        if self._algorithm.reptile:
            by_id = {id(v): g for v, g in
                     zip(self.adapted_variables, reptile_gradients(self.adapted_variables, adapted))}
            gradients = [by_id[id(v)] for v in self.trainable_variables]
        else:
            gradients = tape.gradient(objective, self.trainable_variables,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return gradients, query_predictions, query_loss

    def test_step(self, data):
        episode = self._episode(data)
        adapted = self.adapt_task_weights(episode["support_x"], episode["support_y"])
        query_predictions = self._task_predictions(adapted, episode["query_x"], False)
        query_loss = tf.reduce_mean(self._task_losses(episode["query_y"], query_predictions))
        return self._update_metrics(episode, query_predictions, query_loss,
                                    _replica_share(episode))

    def adapt_task_weights(self, support_x, support_y, steps=None, training=False):
        """The inner loop: per-task adapted values of :attr:`adapted_variables`.

        Args:
            support_x, support_y: ``[tasks, shots, ...]``.
            steps: inner steps; default ``inner_steps``.
            training: passed to the model's layers.

        Returns:
            list of tensors ``[tasks, *variable.shape]``, one per adapted variable. Under a
            ``GradientTape`` they are differentiable w.r.t. the model's weights: through the inner
            gradients for second-order algorithms, with the inner gradients held constant
            otherwise.
        """
        self._require_compiled()
        steps = self.inner_steps if steps is None else check_positive_int(steps, "steps")
        support_x, support_y = tf.convert_to_tensor(support_x), tf.convert_to_tensor(support_y)
        weights = self._initial_task_weights(tf.shape(support_x)[0])
        for _ in range(steps):
            weights = self._inner_step(weights, support_x, support_y, training)
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
        return self._task_predictions(weights, tf.convert_to_tensor(query_x), False)

    def adaptation_losses(self, episode, steps):
        """Query loss of every task after 0, 1, …, ``steps`` inner steps (adaptation curves).

        Args:
            episode: dict of ``[tasks, shots, ...]`` arrays, as ``fit`` takes.
            steps: the last number of inner steps to evaluate (may differ from ``inner_steps``).

        Returns:
            NumPy array ``[steps + 1, tasks]``; row 0 is the loss of the initialization.
        """
        steps = check_positive_int(steps, "steps")
        episode = self._episode(episode)
        weights = self._initial_task_weights(tf.shape(episode["support_x"])[0])
        losses = []
        for step in range(steps + 1):
            predictions = self._task_predictions(weights, episode["query_x"], False)
            losses.append(self._task_losses(episode["query_y"], predictions).numpy())
            if step < steps:
                weights = self._inner_step(weights, episode["support_x"], episode["support_y"],
                                           False)
        return np.stack(losses)

    def _initial_task_weights(self, n_tasks):
        return [tf.broadcast_to(v, tf.concat([[n_tasks], v.shape], 0))
                for v in self.adapted_variables]

    def _inner_step(self, weights, support_x, support_y, training):
        """One gradient step of every task on its support loss."""
        with tf.GradientTape() as tape:
            tape.watch(weights)
            predictions = self._task_predictions(weights, support_x, training)
            # Tasks do not share adapted weights, so the gradient of the summed task losses holds
            # every task's own gradient.
            loss = tf.reduce_sum(self._task_losses(support_y, predictions))
        gradients = tape.gradient(loss, weights, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if not self._algorithm.second_order:
            gradients = [tf.stop_gradient(g) for g in gradients]
        rates = self.inner_learning_rates or [self.inner_lr] * len(weights)
        return inner_update(weights, gradients, rates)

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
        support_x, support_y = np.asarray(support_x), np.asarray(support_y)
        episode = {"support_x": support_x[None], "support_y": support_y[None],
                   "query_x": support_x[None], "query_y": support_y[None]}
        episode = self._episode(episode, argument="support_x/support_y")
        adapted = self.adapt_task_weights(episode["support_x"], episode["support_y"], steps)
        copy = keras.models.clone_model(self.model)
        copy.set_weights(self.model.get_weights())
        index = {id(v): i for i, v in enumerate(self.model.weights)}
        for variable, value in zip(self.adapted_variables, adapted):
            copy.weights[index[id(variable)]].assign(value[0])
        return copy

    # ------------------------------------------------------------------------------------ helpers

    def _task_predictions(self, task_weights, x, training):
        return task_batched_call(self.model, self.adapted_variables, task_weights, x, training)

    def _task_losses(self, y, predictions):
        """Mean loss of each task, ``[tasks]``."""
        losses = self._task_loss(_labels_like(y, predictions), predictions)
        return tf.reduce_mean(tf.reshape(losses, [tf.shape(y)[0], -1]), axis=1)

    def _episode(self, data, argument="episodes"):
        self._require_compiled()
        if isinstance(data, (tuple, list)) and data and all(d is None for d in data[1:]):
            data = data[0]  # train_on_batch(episode) and fit(dict of arrays) pack it as (x,)
        check_episode(data, argument)
        episode = {key: tf.convert_to_tensor(data[key]) for key in
                   ("support_x", "support_y", "query_x", "query_y")}
        for key in ("support_y", "query_y"):
            episode[key] = self._check_labels(episode[key], key)
        return episode

    def _check_labels(self, labels, key):
        """Integer labels must index the model's outputs (N ways → N logits)."""
        n_outputs = self.model.outputs[0].shape[-1] if getattr(self.model, "outputs", None) \
            else None
        if not labels.dtype.is_integer or not n_outputs or n_outputs < 2:
            return labels
        message = (f"`{key}` holds class labels outside [0, {n_outputs}): the model has "
                   f"{n_outputs} outputs, one per class of an N-way task.")
        if tf.executing_eagerly():
            values = labels.numpy()
            if values.size and (values.min() < 0 or values.max() >= n_outputs):
                raise ValueError(message + f" Got labels from {values.min()} to {values.max()}.")
            return labels
        with tf.control_dependencies([
                tf.debugging.assert_non_negative(labels, message=message),
                tf.debugging.assert_less(labels, tf.cast(n_outputs, labels.dtype),
                                         message=message)]):
            return tf.identity(labels)

    def _update_metrics(self, episode, query_predictions, query_loss, share=None):
        query_y = _flatten_tasks(episode["query_y"])
        query_x = _flatten_tasks(episode["query_x"])
        pre_adapt_predictions = self.model(query_x, training=False)
        pre_adapt_loss = tf.reduce_mean(self._task_loss(_labels_like(query_y, pre_adapt_predictions),
                                                        pre_adapt_predictions))
        # Across replicas, whose metric variables are summed when read, the replicas' shares of
        # the meta-batch add up to one step, as without a strategy.
        self._loss_tracker.update_state(query_loss, sample_weight=share)
        self._pre_adapt_loss.update_state(pre_adapt_loss, sample_weight=share)
        n_metrics = (len(self._meta_metrics) - 2) // 2
        after = self._meta_metrics[1:1 + n_metrics]
        before = self._meta_metrics[2 + n_metrics:]
        for metric in after:
            metric.update_state(query_y, _flatten_tasks(query_predictions))
        for metric in before:
            metric.update_state(query_y, pre_adapt_predictions)
        return step_logs({m.name: m.result() for m in self._meta_metrics})

    def _require_compiled(self):
        if self._task_loss is None:
            raise RuntimeError("Call `compile(optimizer, loss, metrics)` on the MetaLearner "
                               "first: the inner loop needs the loss.")

    def get_config(self):
        config = super().get_config()
        config.update(model=keras.saving.serialize_keras_object(self.model),
                      algorithm=self.algorithm, inner_steps=self.inner_steps,
                      inner_lr=self.inner_lr, head=self.head)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"],
                                                                custom_objects=custom_objects)
        return cls(**config)


def _replica_share(episode):
    """Under a tf.distribute strategy with several replicas, this replica's share of the
    meta-batch, its tasks / all replicas' tasks; None otherwise, so that training without a
    strategy is unchanged.

    tf.data gives the replicas' parts of a distributed batch a static size only when the batch
    splits evenly (as Keras assumes for its own losses): then the share is 1 / replicas. Otherwise
    (e.g. 5 tasks on 2 replicas, a last partial batch) it takes an all-reduce of the task counts.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    if episode["query_y"].shape[0] is not None:
        return tf.constant(1.0 / context.num_replicas_in_sync)
    tasks_here = tf.cast(tf.shape(episode["query_y"])[0], tf.float32)
    return tasks_here / context.all_reduce(tf.distribute.ReduceOp.SUM, tasks_here)


def _check_replica_split(meta, data, argument, batch_size=None):
    """Under a tf.distribute strategy, which splits each episode's tasks among the replicas, every
    replica needs at least one task of every episode."""
    replicas = meta.distribute_strategy.num_replicas_in_sync
    n_tasks = _fewest_tasks(data, batch_size) if replicas > 1 else None
    if n_tasks is not None and n_tasks < replicas:
        raise ValueError(
            f"`{argument}` gives episodes of {n_tasks} tasks, fewer than the {replicas} replicas "
            "of the distribution strategy, which split each episode's tasks among them: use "
            f"episodes of at least {replicas} tasks (best a multiple of {replicas}).")


def _fewest_tasks(data, batch_size):
    """Tasks of the smallest episode that fit/evaluate take from ``data``, when known."""
    spec = getattr(data, "element_spec", None)
    if isinstance(spec, dict) and "support_x" in spec and spec["support_x"].shape.rank:
        return spec["support_x"].shape[0]
    if isinstance(data, dict) and "support_x" in data:  # sliced into meta-batches by Keras
        n_tasks, batch_size = len(data["support_x"]), batch_size or 32
        return min(n_tasks, batch_size, n_tasks % batch_size or batch_size)
    return None


def _flatten_tasks(tensor):
    """``[tasks, shots, ...]`` → ``[tasks * shots, ...]``."""
    return tf.reshape(tensor, tf.concat([[-1], tf.shape(tensor)[2:]], 0))


def _labels_like(y, predictions):
    return y if y.dtype.is_integer else tf.cast(y, predictions.dtype)


def _per_example_loss(loss):
    """A function (y_true, y_pred) -> unreduced per-example losses."""
    loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    if callable(loss):
        return loss
    raise TypeError(f"`loss` must be a Keras loss name, function or Loss; got {loss!r}.")


def _metric(identifier, loss, prefix=""):
    """A fresh Metric for ``identifier``; "accuracy" follows the loss, as in Keras' compile."""
    if str(identifier).lower() in ("accuracy", "acc"):
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or str(loss)
        if "sparse_categorical" in name:
            metric = keras.metrics.SparseCategoricalAccuracy()
        elif "categorical" in name:
            metric = keras.metrics.CategoricalAccuracy()
        elif "binary" in name:
            metric = keras.metrics.BinaryAccuracy()
        else:
            metric = keras.metrics.Accuracy()
        base_name = str(identifier)
    else:
        metric = keras.metrics.get(identifier)
        if isinstance(metric, keras.metrics.Metric):
            metric = type(metric).from_config(metric.get_config())
        elif callable(metric):
            metric = keras.metrics.MeanMetricWrapper(metric)
        base_name = identifier if isinstance(identifier, str) else metric.name
    metric.name = prefix + base_name
    return metric


def _head_layers(model, head, algorithm, head_only):
    if not head_only:
        if head is not None:
            raise ValueError(f"`head` only applies to algorithm='anil'; got algorithm="
                             f"{algorithm!r}.")
        return None
    if head is None:
        weighted = [layer for layer in model.layers if layer.trainable_weights]
        if not weighted:
            raise ValueError("`model` has no trainable layers to adapt.")
        return [weighted[-1].name]
    head = [head] if isinstance(head, str) else list(head)
    names = [layer.name for layer in model.layers]
    unknown = [name for name in head if name not in names]
    if unknown:
        raise ValueError(f"`head` names layers {unknown} that are not in the model; its layers "
                         f"are {names}.")
    return head
