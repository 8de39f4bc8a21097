"""TaskFamily: the base of task families, and FunctionTasks for a user's own sampler."""
import numpy as np
import tensorflow as tf

from tfq_meta._validation import (check_finite_array, check_non_negative_int, check_positive_int,
                                  check_seed)
from tfq_meta.tasks.episodes import check_episode


class TaskFamily:
    """A distribution over few-shot tasks that samples reproducible episodes.

    Subclasses implement :meth:`sample_task`, which draws one task from a NumPy random generator.
    Episode ``i`` of a dataset with seed ``s`` is drawn from ``np.random.default_rng([s, i])``, so
    it is the same however many episodes were read before it.
    """

    def sample_task(self, rng):
        """One task: dict of arrays ``support_x [shots, ...]``, ``support_y``, ``query_x``,
        ``query_y``."""
        raise NotImplementedError

    def sample(self, n_tasks, seed=0):
        """``n_tasks`` tasks stacked into one episode (dict of arrays ``[n_tasks, shots, ...]``).

        Args:
            n_tasks: positive int.
            seed: int or sequence of ints for ``np.random.default_rng``.
        """
        check_positive_int(n_tasks, "n_tasks")
        rng = np.random.default_rng(check_seed(seed))
        tasks = [self.sample_task(rng) for _ in range(n_tasks)]
        for key in tasks[0]:
            shapes = {np.shape(task[key]) for task in tasks}
            if len(shapes) > 1:
                raise ValueError(f"{type(self).__name__}.sample_task returned `{key}` of "
                                 f"different shapes {sorted(shapes)}; every task of a family must "
                                 "have the same shapes so tasks can be batched.")
        episode = {key: _as_model_array(np.stack([task[key] for task in tasks]),
                                        f"{type(self).__name__}.sample_task()['{key}']")
                   for key in tasks[0]}
        check_episode(episode, f"{type(self).__name__}.sample_task")
        return episode

    def episodes(self, meta_batch_size, seed=0, n_episodes=None, start=0):
        """A ``tf.data.Dataset`` of episodes of ``meta_batch_size`` tasks each.

        Episode ``i`` is a pure function of ``(seed, i)``; the dataset yields episodes
        ``start, start + 1, …``.

        Args:
            meta_batch_size: tasks per episode (per meta-learning step).
            seed: int; the dataset is the same for the same seed.
            n_episodes: ``None`` for an endless dataset (give ``steps_per_epoch`` to ``fit``), or
                how many episodes, e.g. for ``validation_data``.
            start: index of the first episode: an int, or a function of no arguments returning
                one (or a scalar integer tensor or variable), called each time an iteration over
                the dataset begins. With
                ``start=lambda: meta.optimizer.iterations`` the episode of each training
                step is the one of its global step number, so a run restarted by
                ``keras.callbacks.BackupAndRestore`` (which restores the optimizer's step count)
                continues with the episodes an uninterrupted run would have seen.

        Under a ``tf.distribute`` strategy, ``fit`` splits each episode's tasks into contiguous
        parts, one per replica (``meta_batch_size`` must be at least the number of replicas).
        """
        check_positive_int(meta_batch_size, "meta_batch_size")
        check_seed(seed, allow_sequence=False)  # episode i is drawn from the seed [seed, i]
        if n_episodes is not None:
            check_positive_int(n_episodes, "n_episodes")
        if not callable(start):
            _check_start(start)
        first = self.sample(meta_batch_size, seed=[seed, 0])
        signature = {key: tf.TensorSpec(value.shape, tf.as_dtype(value.dtype))
                     for key, value in first.items()}

        def generate():
            index = _check_start(_as_index(start() if callable(start) else start))
            stop = None if n_episodes is None else index + n_episodes
            while stop is None or index < stop:
                yield self.sample(meta_batch_size, seed=[seed, index])
                index += 1

        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        if n_episodes is not None:
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_episodes))
        return dataset.prefetch(2)


class FunctionTasks(TaskFamily):
    """A task family from a user's function that samples one task.

    Args:
        sample_task: ``sample_task(rng) -> dict`` with ``support_x``, ``support_y``, ``query_x``,
            ``query_y`` arrays shaped ``[shots, ...]``, drawing its randomness from ``rng`` (a
            ``np.random.Generator``) so that episodes are reproducible.

    Example:
    >>> def line(rng):
    ...     slope = rng.uniform(-1, 1)
    ...     x = rng.uniform(-1, 1, size=(10, 1))
    ...     return {"support_x": x[:5], "support_y": slope * x[:5],
    ...             "query_x": x[5:], "query_y": slope * x[5:]}
    >>> FunctionTasks(line).sample(n_tasks=3)["query_y"].shape
    (3, 5, 1)
    """

    def __init__(self, sample_task):
        if not callable(sample_task):
            raise TypeError(f"`sample_task` must be a function rng -> dict of arrays; got "
                            f"{type(sample_task).__name__}.")
        self._sample_task = sample_task

    def sample_task(self, rng):
        task = self._sample_task(rng)
        if not isinstance(task, dict):
            raise TypeError(f"`sample_task` must return a dict of arrays; got "
                            f"{type(task).__name__}.")
        return task


def _check_start(start):
    """``start`` of ``episodes`` (or what its function returned) as an int, checked."""
    return check_non_negative_int(
        start, "start", meaning=" (the first episode's index) or a function returning one")


def _as_index(value):
    """A scalar integer tensor or variable (``optimizer.iterations``) as a NumPy integer; any
    other value as it is. ``int()`` of a Keras variable fails under a ``tf.distribute``
    strategy, whose variables are mirrored (Keras 3.15)."""
    if getattr(value, "shape", None) == () and not isinstance(value, (int, np.generic)):
        return np.asarray(value)[()]
    return value


def _as_model_array(array, argument):
    """float64 → float32 (Keras' default); integer labels → int32; finite numbers only, since one
    NaN in a task would make every meta-gradient NaN."""
    array = check_finite_array(array, argument)
    return array.astype(np.float32 if array.dtype.kind == "f" else np.int32)
