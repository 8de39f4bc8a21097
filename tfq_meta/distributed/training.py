"""Keras 3 ``fit`` and ``evaluate`` under ``tf.distribute``, for tfq_meta's Keras models.

``MetaLearner`` and ``Distiller`` train under ``tf.distribute.MirroredStrategy`` and
``tf.distribute.MultiWorkerMirroredStrategy`` like any Keras model: create the strategy, then build
and compile the model inside ``strategy.scope()`` and call ``fit``. Each episode's tasks (each
batch's examples) are split across the replicas and their gradients averaged, each weighted by its
share of the tasks, so training gives the same weights as in one process, up to float rounding.

One thing differs from plain Keras: ``import tfq_meta`` (through ``import tensorflow_quantum``,
which creates a ``tf.CriticalSection`` at import) starts TensorFlow's runtime, after which
``tf.config.set_logical_device_configuration`` and ``MultiWorkerMirroredStrategy()`` fail
("Collective ops must be configured at program startup"). Set up devices and create the strategy
*before* importing tfq_meta::

    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # reads TF_CONFIG
    import tfq_meta

This module holds :class:`DistributedFit`, the fixes that let Keras 3 ``fit`` run under
``MultiWorkerMirroredStrategy`` at all, which MetaLearner and Distiller inherit, and
:func:`step_logs`, which their train and test steps apply to their logs. To run such a script as
several local worker processes, see :func:`tfq_meta.distributed.workers.run_workers`.
"""
import tensorflow as tf


class DistributedFit:
    """Mixin of tfq_meta's ``keras.Model`` subclasses: ``fit``/``evaluate`` under tf.distribute.

    Keras 3 (3.15, TensorFlow backend) fails under ``MultiWorkerMirroredStrategy`` twice, for any
    model (keras-team/keras#20585, #20329; tensorflow/tensorflow#72388):

    - before the first step it builds the model from ``strategy.reduce("MEAN", first_batch)``,
      which under that strategy takes no nested batches (a dict of episode arrays, ``(x, y)``)
      and under any strategy needs the replicas' parts of the batch to have equal shapes. The
      build only reads shapes and dtypes, so it is given this worker's first replica's part;
    - it averages each step's logs over the workers with ``strategy.reduce("MEAN", log,
      axis=0)``, which fails on scalars: :func:`step_logs` gives the logs an axis of length 1
      there.

    Without a strategy nothing changes.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is not None and iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def step_logs(logs):
    """A train or test step's logs, shaped for Keras' reduction across workers (see
    :class:`DistributedFit`): scalars get an axis of length 1 under a multi-worker
    ``MultiWorkerMirroredStrategy``; otherwise ``logs`` unchanged."""
    strategy = tf.distribute.get_strategy()
    multi_worker = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
                    getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())
    if not multi_worker:
        return logs
    return tf.nest.map_structure(
        lambda value: tf.reshape(value, [1]) if tf.convert_to_tensor(value).shape.rank == 0
        else value, logs)
