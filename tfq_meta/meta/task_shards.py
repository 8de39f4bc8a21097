"""A meta-batch's tasks split into shards whose meta-gradients run at once, one core each.

XLA's CPU backend runs one compiled computation at a time on one core, bar its largest loops:
a meta-step of small circuits, compiled whole, uses 1.3-1.9 of this machine's 2 cores. Tasks
are independent until their meta-gradients are averaged, so the meta-batch splits into equal
shards of tasks, each one XLA computation (the same executable: the shards have one shape), and
TensorFlow's executor runs them concurrently; the optimizer step and the metrics around them run
on the executor too. ``bench/bench_peers.py`` compares this with the whole step under XLA.

On a GPU, or with one core, a meta-batch is one shard.
"""
import os

import tensorflow as tf

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
        # No autograph, as in Keras' own steps: converting the inner loop's code took 10 s.
        # Traced per shape: a trace generalized to any number of tasks unrolls the inner loop
        # (its while loop needs them), which rounds differently from the first trace.
        self._compiled = tf.function(gradients, jit_compile=True, autograph=False)

    def __call__(self, episode):
        n_shards = shard_count(self.task_shards, episode["support_x"].shape[0])
        if n_shards == 1:
            return self._compiled(episode)
        results = [self._compiled(dict(zip(episode, parts)))
                   for parts in zip(*(tf.split(value, n_shards) for value in episode.values()))]
        gradients = [tf.add_n(list(shard_values)) / n_shards
                     for shard_values in zip(*(result[0] for result in results))]
        predictions = tf.concat([result[1] for result in results], axis=0)
        return gradients, predictions, tf.add_n([result[2] for result in results]) / n_shards
