"""A meta-batch's tasks split into shards whose meta-gradients run at once, one core each.

XLA's CPU backend runs a compiled computation's loops one after another and splits only the
largest across cores: a meta-step of small circuits compiled whole kept 1.3-1.5 of this
machine's 2 cores busy at 4 qubits, 1.8-1.9 at 8. Tasks are independent until their
meta-gradients are averaged, so the meta-batch splits into equal shards of tasks, each one XLA
computation (the same executable: the shards have one shape), and TensorFlow's executor runs
them concurrently; the optimizer step and the metrics after them run on the executor.
:class:`TaskShardedTraining` gives the MetaLearner this train step; ``bench/bench_peers.py``
times it beside the whole step under XLA. On a GPU, or with one core, a meta-batch is one shard.
"""
import os

import tensorflow as tf

from tfq_meta._compat.keras import step_built_for_the_executor
from tfq_meta._validation import check_int_at_least


def check_task_shards(task_shards):
    """``task_shards`` as given: ``"auto"`` or a positive int."""
    if task_shards == "auto":
        return task_shards
    return check_int_at_least(task_shards, 1, "task_shards", ' or "auto"')


def usable_cores():
    """CPU cores this process may run on, bounded by TensorFlow's inter-op threads if set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = tf.config.threading.get_inter_op_parallelism_threads()
    return max(1, min(cores or 1, threads or cores or 1))


def runs_in_parallel(task_shards):
    """Whether ``task_shards`` (checked) can split meta-batches on this machine: an int above 1,
    or ``"auto"`` with several CPU cores and no GPU."""
    if task_shards == "auto":
        return usable_cores() > 1 and not tf.config.list_logical_devices("GPU")
    return task_shards > 1


def shard_count(task_shards, n_tasks):
    """Shards of a meta-batch of ``n_tasks`` (static, or None when unknown while tracing).

    ``"auto"``: the most equal shards that the usable cores run at once, 1 if the task count
    is unknown or prime to every count up to the cores. An int must divide ``n_tasks``.
    """
    if task_shards != "auto":
        if n_tasks is not None and n_tasks % task_shards:
            raise ValueError(f"`task_shards`={task_shards} must divide the episodes' number of "
                             f"tasks; got episodes of {n_tasks} tasks. Use a divisor of "
                             f"{n_tasks}, or \"auto\".")
        return task_shards
    if n_tasks is None:
        return 1
    return max(k for k in range(1, min(usable_cores(), n_tasks) + 1) if n_tasks % k == 0)


class TaskShards:
    """``gradients(episode)`` → ``(gradients, predictions [tasks, ...], mean loss)`` of a
    meta-batch, computed shard by shard under XLA and combined: the mean of the shards'
    gradients and losses (equal shards: the gradient of the mean over all tasks) and their
    predictions in task order.

    Args:
        gradients: the function of one shard's episode.
        task_shards: ``"auto"`` or the number of shards (see :func:`shard_count`).
    """

    def __init__(self, gradients, task_shards="auto"):
        self.task_shards = check_task_shards(task_shards)
        # Once: the cores and devices do not change, and train_on_batch asks before every step.
        self.in_parallel = runs_in_parallel(self.task_shards)
        # No autograph, as in Keras' own steps: converting the inner loop's code took 10 s.
        # Traced per shape: a trace generalized to any number of tasks unrolls the inner loop
        # (its while loop needs them), which rounds differently from the first trace.
        self._compiled = tf.function(gradients, jit_compile=True, autograph=False)

    def __call__(self, episode):
        n_tasks = episode["support_x"].shape[0]
        n_shards = shard_count(self.task_shards, n_tasks)
        if n_shards == 1:
            return self._compiled(episode)
        checks = [] if n_tasks is not None else [tf.debugging.assert_equal(
            tf.shape(episode["support_x"])[0] % n_shards, 0,
            message=f"`task_shards`={n_shards} must divide the number of tasks of every episode")]
        with tf.control_dependencies(checks):  # run by the executor (XLA would drop them)
            parts = [tf.split(value, n_shards) for value in episode.values()]
        results = [self._compiled(dict(zip(episode, shard))) for shard in zip(*parts)]
        gradients = [tf.add_n(list(shard_values)) / n_shards
                     for shard_values in zip(*(result[0] for result in results))]
        predictions = tf.concat([result[1] for result in results], axis=0)
        return gradients, predictions, tf.add_n([result[2] for result in results]) / n_shards


class TaskShardedTraining:
    """A ``keras.Model`` mixin (the MetaLearner's): where :meth:`_shards_run_at_once`, its train
    step takes the meta-gradients from ``self._task_shards`` (a :class:`TaskShards`, None until
    compiled), and Keras builds that step for the executor, which runs the shards at once."""

    def make_train_function(self, force=False):
        if not self._shards_run_at_once():
            return super().make_train_function(force)
        with step_built_for_the_executor(self):
            return super().make_train_function(force)

    def _shards_run_at_once(self):
        """Whether the train step runs task shards under XLA at once, on the executor."""
        return (self._task_shards is not None and self.jit_compile and not self.run_eagerly
                and not tf.distribute.has_strategy()
                and self._task_shards.in_parallel)
