"""MetaLearner: a keras.Model whose train_step meta-learns the initialization of another model."""
import dataclasses

import keras
import tensorflow as tf

from tfq_meta._compat.keras import DistributedFit, loss_tracker, step_logs
from tfq_meta._validation import check_choice, check_positive_float, check_positive_int
from tfq_meta.meta.adaptation import FewShotAdaptation
from tfq_meta.meta.algorithms import ALGORITHMS, adapted_variables, check_second_order, head_layers
from tfq_meta.meta.episode_checks import check_episode_values, check_single_input_and_output
from tfq_meta.meta.finite_steps import StopOnNonFinite, apply_if_finite
from tfq_meta.meta.inner_loop import InnerLoop
from tfq_meta.meta.inner_rates import InnerRates
from tfq_meta.meta.outer_loop import OuterLoop
from tfq_meta.meta.query_metrics import PRE_ADAPT_METRICS, QueryMetrics
from tfq_meta.meta.replicas import (check_fit_split, check_replica_split, replica_share,
                                    weigh_by_share)
from tfq_meta.meta.stabilisers import EpochCounter, Stabilisers
from tfq_meta.meta.task_losses import flatten_tasks, label_kind, labels_like, per_example_loss
from tfq_meta.meta.task_shards import TaskShardedTraining, TaskShards
from tfq_meta.tasks.episodes import EpisodicFit, fit_arguments, unpack_episode
from tfq_meta.xla import XlaByDefault


@keras.saving.register_keras_serializable(package="tfq_meta")
class MetaLearner(DistributedFit, EpisodicFit, TaskShardedTraining, FewShotAdaptation,
                  XlaByDefault, keras.Model):
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

    The second-order ones need second derivatives of every circuit. On qsim they come from the
    parameter-shift rule, which holds for rotations but not, e.g., for ISWAP powers: such a layer is
    refused when constructed, or, if ``engine="auto"`` runs it on statevector under XLA (14 to 16
    qubits), when compiled without XLA.

    The model may be any built Sequential or functional Keras model: PQC layers, classical layers,
    or both. ``fit``/``evaluate`` log the query loss and metrics after adaptation (``loss``, and
    the compiled metrics by their names); ``evaluate`` and the validation logs also before it
    (``pre_adapt_loss``, ``pre_adapt_<name>``; see ``compile``).
    Predictions (``meta(x)``, ``predict``) use the meta-learned initialization; :meth:`adapt` gives
    a plain Keras model adapted to a new task.

    Under a ``tf.distribute`` strategy (build and compile inside ``strategy.scope()``), ``fit``
    splits each episode's tasks among the replicas and averages their meta-gradients weighted by
    their numbers of tasks, which equals single-process training up to float rounding; see
    :mod:`tfq_meta.distributed`.

    Stabilisers (Antoniou et al., "How to train your MAML", 2019) are on by default where the
    algorithm takes them: learned per-step inner rates, the multi-step loss, derivative-order
    annealing and inner-gradient clipping (see :class:`~tfq_meta.meta.stabilisers.Stabilisers`).

    **Adapting for more steps than were trained.** ``adapt(steps=k)`` and its siblings run the
    ``inner_steps`` trained steps as in training; each further step reuses the last trained
    step's rates and is kept for a task only if it does not raise its support loss (otherwise
    the task's rates are halved and the step retried), so adaptation never diverges (see
    :class:`~tfq_meta.meta.inner_loop.InnerLoop`).

    Args:
        model: a built ``keras.Model`` (Sequential or functional).
        algorithm: ``"maml"``, ``"fomaml"``, ``"reptile"``, ``"metasgd"`` or ``"anil"``.
        inner_steps: gradient steps of the inner loop (and the default of :meth:`adapt`);
            default 5, and 1 for ``"metasgd"`` (its paper's single step).
        inner_lr: initial step size of the inner loop (the fixed one without learned rates);
            default 0.1; 0.3 for ``"reptile"``, whose rates are not learned, and for ``"metasgd"``.
        head: for ``"anil"``, the names of the layers adapted in the inner loop; default the last
            layer with trainable weights.
        learn_inner_lr: learn rates per weight group and step; default True except for Reptile,
            whose outer gradient gives rates none.
        multi_step_loss: the outer objective weighs every inner step's query loss; default True
            except for Reptile.
        multi_step_loss_epochs: None (default: uniform weights throughout), or the epochs over
            which the weights anneal toward the last step.
        multi_step_loss_initial: the multi-step loss also weighs the query loss of the
            initialization itself (0 steps), so that it does well before any adaptation as
            well as after it; default False. Use it when the initialization may be used without
            steps, or when the inner rates can make the later steps' losses nearly independent of
            it (e.g. QAOA angles, ``examples/meta_qaoa.py``).
        first_order_epochs: epochs of first-order meta-gradients before exact second order
            (second-order algorithms only); default 0.
        inner_clipnorm: the largest global norm of a task's inner gradient, or None for no
            clipping; default ``"auto"``: 1.0, and None for ``"metasgd"``, whose one step must
            grow with a task's error.

    Example:
    >>> from tfq_meta import models, tasks
    >>> meta = MetaLearner(models.student(n_features=1))   # MAML, 5 steps, all stabilisers
    >>> meta.compile(loss="mse", jit_compile=False)  # Adam(0.01); no XLA for a 2-step demo
    >>> episodes = tasks.Sinusoid(shots=5).episodes(meta_batch_size=4, seed=0)
    >>> history = meta.fit(episodes, epochs=1, steps_per_epoch=2, verbose=0)
    >>> sorted(history.history)
    ['loss']
    >>> episode = tasks.Sinusoid(shots=5).sample(n_tasks=1, seed=1)
    >>> adapted = meta.adapt(episode["support_x"][0], episode["support_y"][0], steps=3)
    >>> adapted(episode["query_x"][0]).shape
    TensorShape([5, 1])
    """

    def __init__(self, model, algorithm="maml", inner_steps=None, inner_lr=None, head=None,
                 learn_inner_lr=None, multi_step_loss=None, multi_step_loss_epochs=None,
                 first_order_epochs=0, inner_clipnorm="auto", multi_step_loss_initial=False,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        if not model.built:
            raise ValueError("`model` must be built before meta-learning: give it a keras.Input "
                             "(or call it once on data) so that its weights exist.")
        check_single_input_and_output(model)
        self.model = model
        self.algorithm = check_choice(algorithm, ALGORITHMS, "algorithm")
        self._algorithm = spec = ALGORITHMS[algorithm]
        self.inner_steps = check_positive_int(
            spec.inner_steps if inner_steps is None else inner_steps, "inner_steps")
        self.inner_lr = check_positive_float(spec.inner_lr if inner_lr is None else inner_lr,
                                             "inner_lr")
        self.stabilisers = Stabilisers.resolve(
            algorithm, spec, learn_inner_lr, multi_step_loss, multi_step_loss_epochs,
            first_order_epochs, inner_clipnorm, multi_step_loss_initial)
        self.head = head_layers(model, head, algorithm)
        self.adapted_variables = adapted_variables(model, self.head)
        check_second_order(model, algorithm)
        kind = ("per_parameter" if spec.learned_rates else
                "per_group_and_step" if self.stabilisers.learn_inner_lr else "fixed")
        self.inner_rates = InnerRates(model, self.adapted_variables, kind, self.inner_lr,
                                      self.inner_steps, name="inner_rates")
        self.epoch = self.add_weight(shape=(), dtype="int32", initializer="zeros",
                                     trainable=False, name="epoch")
        self._inner_loop = InnerLoop(model, self.adapted_variables, self.inner_rates,
                                     self.inner_steps, self.stabilisers.inner_clipnorm,
                                     spec.second_order, self._task_losses)
        self._outer_loop = OuterLoop(self._inner_loop, spec, self.stabilisers, self.epoch,
                                     self.inner_steps)
        self._task_loss = None
        self._class_indices = False
        self._query_metrics = None
        self._task_shards = None
        self.pre_adapt_metrics = "evaluate"
        self._evaluating = False
        self.built = True

    def compile(self, optimizer=None, loss=None, metrics=None, pre_adapt_metrics="evaluate",
                task_shards="auto", **kwargs):
        """Configures the outer loop; ``loss`` (required) is used by both loops.

        Args:
            optimizer: the outer-loop optimizer; default ``Adam(0.01)`` with a moving average
                of the weights (``use_ema=True, ema_momentum=0.95``), which ``fit`` writes into
                the model when it ends.
            loss: a Keras loss (name, function or ``keras.losses.Loss``). Losses on class logits
                need ``from_logits=True``, e.g. ``SparseCategoricalCrossentropy(from_logits=True)``.
            metrics: Keras metrics of the query predictions, logged after and before adaptation.
            pre_adapt_metrics: where the loss and metrics before adaptation are logged
                (``pre_adapt_loss``, ``pre_adapt_<name>``): ``"evaluate"`` (default) in
                ``evaluate`` and ``fit``'s validation logs; ``"always"`` in the training logs too,
                which costs a forward pass of the initial model on every training step.
            task_shards: under XLA, the shards of tasks whose meta-gradients are computed at
                once, one core each (:mod:`tfq_meta.meta.task_shards`); ``"auto"`` (default):
                as many equal shards as the CPU cores run, none on a GPU; 1: the whole step is
                one XLA computation.
            **kwargs: other ``keras.Model.compile`` arguments (``run_eagerly``,
                ``steps_per_execution`` …), except ``loss_weights`` and ``weighted_metrics``.
                ``jit_compile`` defaults to ``"auto"``: XLA wherever the model can be compiled
                by it, on a CPU too (see :mod:`tfq_meta.xla`).
        """
        if loss is None:
            raise ValueError("`loss` is required: the inner loop descends it on the support set "
                             "and the outer loop on the query set.")
        for unsupported in ("loss_weights", "weighted_metrics"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(f"MetaLearner.compile does not take `{unsupported}`.")
        self.pre_adapt_metrics = check_choice(pre_adapt_metrics, PRE_ADAPT_METRICS,
                                              "pre_adapt_metrics")
        if optimizer is None:
            # Keras' "adam" steps by 0.001, too slowly for angles of order 1 (default student, 300
            # meta-steps: query MSE 1.7 against 0.06). The average smooths the jitter a constant
            # step leaves (Meta-SGD's one-step MSE in the sinusoid example: 0.316 → 0.294).
            optimizer = keras.optimizers.Adam(learning_rate=0.01, use_ema=True,
                                              ema_momentum=0.95)
        super().compile(optimizer=optimizer, **kwargs)
        check_second_order(self.model, self.algorithm, xla=self.jit_compile)
        # Optimizer variables now, not in the first traced step: a step whose trace failed on a
        # bad episode must not leave the next fit unable to create them.
        self.optimizer.build(self.trainable_variables)
        self._task_shards = TaskShards(lambda episode: self._outer_loop.gradients(
            episode, self.trainable_variables, training=True), task_shards)
        self._compile_arguments = dict(optimizer=self.optimizer, loss=loss, metrics=metrics,
                                       pre_adapt_metrics=pre_adapt_metrics,
                                       task_shards=task_shards, **kwargs)
        self._task_loss = per_example_loss(loss)
        self._class_indices = label_kind(loss)
        metrics = [] if metrics is None else list(metrics) if isinstance(metrics, (list, tuple)) \
            else [metrics]
        self._query_metrics = QueryMetrics(loss_tracker(self), metrics, loss, self._task_loss,
                                           self.pre_adapt_metrics == "always")

    def fit(self, x=None, *args, **kwargs):
        """``keras.Model.fit``; a schedule (``first_order_epochs``, ``multi_step_loss_epochs``)
        must end within ``epochs``. A meta-step whose loss, gradient or update is NaN or infinite
        is undone and ends training with a RuntimeWarning (:mod:`tfq_meta.meta.finite_steps`)."""
        arguments = fit_arguments(self, x, args, kwargs)
        if self.stabilisers.schedules:
            self.stabilisers.check_training_length(arguments.get("epochs", 1))
        arguments["callbacks"] = [*(arguments.get("callbacks") or []), EpochCounter(),
                                  StopOnNonFinite()]
        check_fit_split(self, arguments)
        return super().fit(**arguments)

    def evaluate(self, x=None, *args, **kwargs):
        check_replica_split(self, x, "x", kwargs.get("batch_size"))
        self._evaluating = True  # also for fit's validation, which calls evaluate
        try:
            return super().evaluate(x, *args, **kwargs)
        finally:
            self._evaluating = False

    def reset_metrics(self):
        if self._query_metrics is not None:  # before compile there are no metrics
            self._query_metrics.reset()

    def get_metrics_result(self):
        return self._query_metrics.logged(super().get_metrics_result(), self._evaluating)

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
        return [] if self._query_metrics is None else self._query_metrics.all

    def call(self, inputs, training=False):
        return self.model(inputs, training=training)

    def train_step(self, data):
        episode = self._episode(data)
        if self._shards_run_at_once():
            gradients, query_predictions, query_loss = self._task_shards(episode)
        else:
            gradients, query_predictions, query_loss = self._outer_loop.gradients(
                episode, self.trainable_variables, training=True)
        share = replica_share(episode)
        gradients = weigh_by_share(gradients, share)
        # Read before the update: "before adaptation" means the weights the inner loop started from.
        pre_adapt_predictions = (self._pre_adapt_predictions(episode)
                                 if self._query_metrics.pre_adapt_in_training else None)
        query_loss = apply_if_finite(self.optimizer, gradients, self.trainable_variables,
                                     query_loss)
        return self._update_metrics(episode, query_predictions, query_loss, share,
                                    pre_adapt_predictions)

    def meta_gradients(self, episode):
        """The outer-loop gradients of one episode, one per ``trainable_variables`` entry.

        This is what ``fit`` hands to the optimizer: the gradient of the mean query loss after
        adaptation, or with the multi-step loss of the weighted query losses after every inner
        step (and before the first with ``multi_step_loss_initial``; Reptile: θ − mean_t φ_t).
        """
        gradients, _, _ = self._outer_loop.gradients(self._episode(episode),
                                                     self.trainable_variables, training=False)
        return gradients

    def test_step(self, data):
        episode = self._episode(data)
        adapted = self._adapted_weights(episode["support_x"], episode["support_y"])
        query_predictions = self._inner_loop.predictions(adapted, episode["query_x"], False)
        query_loss = tf.reduce_mean(self._task_losses(episode["query_y"], query_predictions))
        return self._update_metrics(episode, query_predictions, query_loss,
                                    replica_share(episode), self._pre_adapt_predictions(episode))

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               overwrite=False, adaptation_steps=None):
        """Writes a SavedModel that serves and adapts: Keras' ``Model.export`` plus a signature
        ``adapt_and_predict(support_x, support_y, query_x)`` running the inner loop in the graph.

        Args:
            filepath: the SavedModel directory to create.
            format: ``"tf_saved_model"``.
            verbose: print the endpoints; default True, as in Keras.
            input_signature: the ``serve`` input spec; default the model's input.
            overwrite: replace a SavedModel already at ``filepath`` (never other files).
            adaptation_steps: inner steps of ``adapt_and_predict``; default ``inner_steps``.

        ``tfq_meta.export.load(filepath)`` serves it in any process.
        """
        # Imported here: tfq_meta.export imports this module.
        from tfq_meta.export import export as export_saved_model
        export_saved_model(self, filepath, overwrite=overwrite, adaptation_steps=adaptation_steps,
                           format=format, verbose=True if verbose is None else verbose,
                           input_signature=input_signature)

    def check_inputs(self, data):
        """An episode (or ``(episode,)``) checked by :mod:`tfq_meta.meta.episode_checks`: the
        model's feature shape, finite values and, for classification, whole class labels that
        index the model's outputs; see :class:`tfq_meta.xla.XlaByDefault`."""
        episode = data[0] if isinstance(data, (tuple, list)) and data else data
        return self._episode(data) if isinstance(episode, dict) else super().check_inputs(data)

    def _task_losses(self, y, predictions):
        """Mean loss of each task, ``[tasks]``."""
        losses = self._task_loss(labels_like(y, predictions), predictions)
        return tf.reduce_mean(tf.reshape(losses, [tf.shape(y)[0], -1]), axis=1)

    def _episode(self, data, argument="episodes"):
        self._require_compiled()
        return check_episode_values(unpack_episode(data, argument), self.model,
                                    self._class_indices)

    def _pre_adapt_predictions(self, episode):
        """The initial model's predictions of the query sets, ``[tasks * queries, ...]``."""
        return self.model(flatten_tasks(episode["query_x"]), training=False)

    def _update_metrics(self, episode, query_predictions, query_loss, share,
                        pre_adapt_predictions=None):
        return step_logs(self._query_metrics.update(episode["query_y"], query_predictions,
                                                    query_loss, share, pre_adapt_predictions))

    def _require_compiled(self):
        if self._task_loss is None:
            raise RuntimeError("Call `compile(optimizer, loss, metrics)` on the MetaLearner "
                               "first: the inner loop needs the loss.")

    def get_config(self):
        config = super().get_config()
        config.update(model=keras.saving.serialize_keras_object(self.model),
                      algorithm=self.algorithm, inner_steps=self.inner_steps,
                      inner_lr=self.inner_lr, head=self.head,
                      **dataclasses.asdict(self.stabilisers))
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"],
                                                                custom_objects=custom_objects)
        return cls(**config)
