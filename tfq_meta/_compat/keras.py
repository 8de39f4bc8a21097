"""Keras 3 internals that tfq_meta uses (checked on Keras 3.12 to 3.15, TensorFlow backend)."""
import contextlib

import tensorflow as tf

from tfq_meta._compat import Workaround

# ------------------------------------------------------------------ models and their metrics

# Keras has no public way to list the layers nested in a model (layers of layers, a model in a
# model): `model.layers` is one level deep, and the request for one
# (https://github.com/keras-team/keras/issues/4398) was closed unresolved. Keras itself uses
# `Layer._flatten_layers`.
def flatten_layers(model):
    """Every layer in ``model``, recursively, ``model`` first."""
    return list(model._flatten_layers())


# A functional model runs its graph through `Functional._run_through_graph(inputs,
# operation_fn)`; there is no public way to call it with each layer's call replaced, which the
# MetaLearner's task-batched call needs.
def is_functional(model):
    """Whether ``model`` is a functional Keras model (or a Sequential built on one)."""
    return hasattr(model, "_run_through_graph")


def run_through_graph(model, inputs, operation_fn):
    """``model(inputs)`` with each layer ``op`` called as ``operation_fn(op)(x, **kwargs)``."""
    outputs = model._run_through_graph([inputs], operation_fn=operation_fn)
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


# `compile` gives every model a `loss` Mean metric, the compiled loss and the compiled metrics as
# private attributes; a model with its own train step updates and reports them (Keras' own
# Distiller does so too), and has no public handle on them.
def loss_tracker(model):
    """The ``loss`` Mean metric that ``compile`` gives ``model``."""
    return model._loss_tracker


def compiled_loss(model):
    """The loss ``compile`` was given, as Keras' ``CompileLoss``, or None."""
    return model._compile_loss


def compiled_metrics(model):
    """The metrics ``compile`` was given, as Keras' ``CompileMetrics``, or None."""
    return model._compile_metrics


def tracked_metrics(model):
    """The metrics ``model`` created itself (its attributes), which Keras lists in ``metrics``."""
    return model._metrics


# Keras compiles a model's whole train step with XLA or none of it: `_make_function` reads
# `jit_compile` when it builds the step, and there is no public way to build it for
# TensorFlow's executor while keeping `jit_compile` (what XLA compiles) as resolved. The
# MetaLearner needs that: its task shards are XLA functions that only the executor runs at once.
@contextlib.contextmanager
def step_built_for_the_executor(model):
    """Within: Keras' step builders see ``model.jit_compile`` False; it reads as before after."""
    resolved = model._jit_compile
    model._jit_compile = False
    try:
        yield
    finally:
        model._jit_compile = resolved


# ------------------------------------------------------------- fit under tf.distribute

# Keras 3 fails under tf.distribute strategies twice, for any model (checked by
# tests/test_distributed_training.py, which fails once upstream behaves):
# - before the first step it builds the model from `strategy.reduce("MEAN", first_batch)`. Under
#   MultiWorkerMirroredStrategy that takes no batch at all (not even a plain tensor), and under
#   any strategy the replicas' parts of the batch must have equal shapes (3 examples on 2
#   replicas fail). The build only reads shapes and dtypes, so it is given this worker's first
#   replica's part;
FIRST_BATCH_BUILD = Workaround("keras", "https://github.com/keras-team/keras/issues/20329")
# - under MultiWorkerMirroredStrategy it averages each step's logs over the workers with
#   `strategy.reduce("MEAN", log, axis=0)`, which fails on scalars (also
#   https://github.com/tensorflow/tensorflow/issues/72388): `step_logs` gives the logs an axis of
#   length 1 there.
MULTI_WORKER_LOGS = Workaround("keras", "https://github.com/keras-team/keras/issues/20585")


class DistributedFit:
    """Mixin of tfq_meta's ``keras.Model`` subclasses: ``fit``/``evaluate`` under a
    ``tf.distribute`` strategy (see :data:`FIRST_BATCH_BUILD`). Without a strategy nothing
    changes."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if (FIRST_BATCH_BUILD.applies() and strategy is not None and iterator is not None
                and data_batch is None):
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def step_logs(logs):
    """A train or test step's logs, shaped for Keras' reduction across workers: scalars get an
    axis of length 1 under a multi-worker ``MultiWorkerMirroredStrategy``; otherwise ``logs``."""
    strategy = tf.distribute.get_strategy()
    multi_worker = (MULTI_WORKER_LOGS.applies()
                    and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
                    and getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())
    if not multi_worker:
        return logs
    return tf.nest.map_structure(
        lambda value: tf.reshape(value, [1]) if tf.convert_to_tensor(value).shape.rank == 0
        else value, logs)
