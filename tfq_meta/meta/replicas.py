"""Training under a tf.distribute strategy: each replica's share of an episode's tasks, and
losses and gradients weighed by the replicas' shares."""
import tensorflow as tf


def replica_share(episode):
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


def per_replica_loss(loss, undo=False):
    """``loss`` / replicas (``undo``: × replicas) under a tf.distribute strategy with several
    replicas, as Keras scales its losses there (the optimizer sums the replicas' gradients, so
    each replica's loss is its share of the global batch's mean); unchanged otherwise."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return loss
    return loss * tf.cast(replicas if undo else 1.0 / replicas, loss.dtype)


def weigh_by_share(gradients, share):
    """Each replica holds some of the episode's tasks and the optimizer sums the replicas'
    gradients: weighed by the replica's ``share`` of the tasks, the sum is the gradient of the mean
    over all tasks (also for uneven splits). Unchanged without a strategy (``share`` None)."""
    if share is None:
        return gradients
    return [g * tf.cast(share, g.dtype) for g in gradients]


def check_fit_split(meta, arguments):
    """:func:`check_replica_split` of ``fit``'s episodes and validation episodes, given the
    call's ``arguments`` by name."""
    batch_size = arguments.get("batch_size")
    check_replica_split(meta, arguments.get("x"), "x", batch_size)
    check_replica_split(meta, arguments.get("validation_data"), "validation_data",
                        arguments.get("validation_batch_size") or batch_size)


def check_replica_split(meta, data, argument, batch_size=None):
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
