"""The Keras entries of tfq_meta._compat: each does what tfq_meta relies on, and Keras still has
no public way to do it. When a "still private" assertion fails, Keras has added a public API:
switch to it and remove the entry. The multi-worker ``fit`` workarounds are exercised end to end
by tests/test_distributed_training.py."""
import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import models
from tfq_meta._compat import keras as keras_compat
from tfq_meta.layers import PQC


def test_flatten_layers_finds_circuits_in_nested_models():
    inner = models.student(n_features=2)
    x = keras.Input((2,))
    outer = keras.Model(x, keras.layers.Dense(1)(inner(x)))
    circuits = [layer for layer in inner.layers if isinstance(layer, PQC)]
    assert circuits and not any(isinstance(layer, PQC) for layer in outer.layers)  # one level
    assert [layer for layer in keras_compat.flatten_layers(outer)
            if isinstance(layer, PQC)] == circuits
    assert not hasattr(keras.Model, "flatten_layers")


def test_run_through_graph_calls_each_layer_through_operation_fn():
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(1, name="b")(keras.layers.Dense(2, name="a")(x)))
    seen = []

    def operation_fn(operation):
        def call(inputs, **kwargs):
            seen.append(operation.name)
            return operation(inputs, **kwargs)
        return call

    data = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    outputs = keras_compat.run_through_graph(model, tf.constant(data), operation_fn)
    np.testing.assert_allclose(outputs, model(data), rtol=1e-6)
    assert seen == ["a", "b"] and keras_compat.is_functional(model)
    assert not hasattr(keras.Model, "run_through_graph")


def test_compile_state_is_reached_only_through_private_attributes():
    model = models.student(n_features=1)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert keras_compat.loss_tracker(model).name == "loss"
    assert keras_compat.compiled_loss(model) is not None
    assert keras_compat.compiled_metrics(model) is not None
    assert keras_compat.tracked_metrics(model) == []
    assert not hasattr(model, "loss_tracker")


class _AssertingStep(keras.Model):
    """A model whose train step fails a graph assertion: XLA compiles assertions to nothing,
    so the step raises only when TensorFlow's executor runs it."""

    def train_step(self, data):
        tf.debugging.Assert(tf.constant(False), ["the executor ran the step"])
        return {}


def test_the_step_built_for_the_executor_keeps_jit_compile_as_resolved():
    x = keras.Input((1,))
    model = _AssertingStep(x, keras.layers.Dense(1)(x))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    data = np.zeros((2, 1), np.float32)
    model.train_on_batch(data, data)  # under XLA: the assertion is gone
    with keras_compat.step_built_for_the_executor(model):
        assert model.jit_compile is False
        model.make_train_function(force=True)
    assert model.jit_compile is True
    with pytest.raises(tf.errors.InvalidArgumentError, match="the executor ran the step"):
        model.train_on_batch(data, data)
    assert "executor" not in str(inspect.signature(keras.Model.compile))
