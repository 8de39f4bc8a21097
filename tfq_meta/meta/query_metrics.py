"""The MetaLearner's logs: the query loss and metrics after adaptation, and before it."""
import keras
import tensorflow as tf

from tfq_meta.meta.task_losses import (flatten_tasks, labels_are_class_indices, labels_like,
                                       loss_name)

# Where the query loss and metrics before adaptation are logged.
PRE_ADAPT_METRICS = ("evaluate", "always")


class QueryMetrics:
    """Two groups of Keras metrics of an episode's query predictions.

    ``after``: the loss tracker (``loss``) and the compiled metrics by their names, of the
    adapted models' predictions. ``before``: ``pre_adapt_loss`` and ``pre_adapt_<name>``, of the
    initial model's.

    Args:
        loss_tracker: the model's own ``loss`` Mean metric (Keras resets and reports it).
        metrics: the compiled metrics (names, functions or ``keras.metrics.Metric``).
        loss: the compiled loss; ``"accuracy"`` follows it, as in Keras' ``compile``.
        per_example_loss: function ``(y, predictions) -> [examples]`` of that loss.
        pre_adapt_in_training: whether training steps log ``before`` too (evaluation always
            does).
    """

    def __init__(self, loss_tracker, metrics, loss, per_example_loss, pre_adapt_in_training):
        self.after = [loss_tracker, *(fresh_metric(m, loss) for m in metrics)]
        self.before = [keras.metrics.Mean(name="pre_adapt_loss"),
                       *(fresh_metric(m, loss, prefix="pre_adapt_") for m in metrics)]
        self._per_example_loss = per_example_loss
        self.pre_adapt_in_training = pre_adapt_in_training
        self._zero_tensors = {}

    def logged(self, results, evaluating):
        """Of the metrics' ``results`` by name, those this phase logs. Keras reads the metrics
        (summed across replicas) instead of the last step's logs only when the names match."""
        if evaluating or self.pre_adapt_in_training:
            return results
        return {m.name: results[m.name] for m in self.after}

    @property
    def all(self):
        return [*self.after, *self.before]

    def reset(self):
        """Sets every metric to its initial state, as ``Metric.reset_state`` does.

        Keras' own reset assigns each variable through its Python-level ``assign`` (about
        0.14 ms each here); ``train_on_batch`` resets before every step, where the four variables
        of the default logs took a tenth of a 4-qubit meta-step. Metrics whose reset is Keras'
        zeroing get one raw assignment per variable instead, of a cached zero tensor; the others,
        and variables under a distribution strategy, reset their own way. 4-qubit FOMAML
        meta-steps took 1.17x as long with Keras' reset, MAML 1.07x (bench/bench_reset.py).
        """
        for metric in self.all:
            variables = [v.value for v in metric.variables]
            if type(metric).reset_state not in _ZEROING_RESETS or any(
                    isinstance(v, tf.distribute.DistributedValues) for v in variables):
                metric.reset_state()
                continue
            for variable in variables:
                tf.raw_ops.AssignVariableOp(resource=variable.handle,
                                            value=self._zeros(variable.shape, variable.dtype))

    def _zeros(self, shape, dtype):
        if not tf.executing_eagerly():  # a graph's tensor must not outlive its graph
            return tf.zeros(shape, dtype)
        key = (tuple(shape), dtype)
        if key not in self._zero_tensors:
            self._zero_tensors[key] = tf.zeros(shape, dtype)
        return self._zero_tensors[key]

    def update(self, query_y, predictions, loss, share, pre_adapt_predictions=None):
        """Updates the groups and returns their results by name.

        Args:
            query_y: labels ``[tasks, queries, ...]``.
            predictions: the adapted models' ``[tasks, queries, ...]``.
            loss: the mean query loss after adaptation.
            share: this replica's share of the meta-batch (None without a strategy): the
                replicas' metric variables are summed when read, so the shares add up to one step.
            pre_adapt_predictions: the initial model's ``[tasks * queries, ...]``, or None to
                leave ``before`` alone.
        """
        query_y = flatten_tasks(query_y)
        logged = [(self.after, loss, flatten_tasks(predictions))]
        if pre_adapt_predictions is not None:
            pre_adapt_loss = tf.reduce_mean(self._per_example_loss(
                labels_like(query_y, pre_adapt_predictions), pre_adapt_predictions))
            logged.append((self.before, pre_adapt_loss, pre_adapt_predictions))
        for (loss_tracker, *metrics), group_loss, group_predictions in logged:
            loss_tracker.update_state(group_loss, sample_weight=share)
            for metric in metrics:
                metric.update_state(query_y, group_predictions)
        return {m.name: m.result() for group, _, _ in logged for m in group}


# Keras resets that set every variable of a metric to zeros: Metric's own, and Mean's and Sum's,
# which zero their total (and count).
_ZEROING_RESETS = (keras.metrics.Metric.reset_state, keras.metrics.Mean.reset_state,
                   keras.metrics.Sum.reset_state)


def fresh_metric(identifier, loss, prefix=""):
    """A fresh Metric for ``identifier``; "accuracy" follows the loss, as in Keras' compile."""
    if str(identifier).lower() in ("accuracy", "acc"):
        name = loss_name(loss)
        if labels_are_class_indices(loss):
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
