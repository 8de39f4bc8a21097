"""Bad input to MetaLearner gets a clear error naming the argument, raised before any simulation."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta import MetaLearner, PQC, models


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return models.student(n_features=2, n_outputs=3, task="classification", n_qubits=2,
                          n_layers=1)


@pytest.fixture(scope="module")
def meta(model):
    meta = MetaLearner(model, "fomaml", inner_steps=1, inner_lr=0.1)
    meta.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return meta


def episode(tasks=2, shots=3, queries=4, features=2, label=0, **overrides):
    data = {"support_x": np.zeros((tasks, shots, features), np.float32),
            "support_y": np.full((tasks, shots), label, np.int32),
            "query_x": np.zeros((tasks, queries, features), np.float32),
            "query_y": np.full((tasks, queries), label, np.int32)}
    data.update(overrides)
    return data


@pytest.mark.parametrize("kwargs, error, message", [
    ({"algorithm": "maml2"}, ValueError, "`algorithm` must be one of \\['maml', 'fomaml', "
                                         "'reptile', 'metasgd', 'anil'\\]; got 'maml2'"),
    ({"inner_steps": 0}, ValueError, "`inner_steps` must be a positive int; got 0"),
    ({"inner_steps": 2.5}, ValueError, "`inner_steps` must be a positive int"),
    ({"inner_lr": 0.0}, ValueError, "`inner_lr` must be a positive finite number; got 0.0"),
    ({"inner_lr": -0.1}, ValueError, "`inner_lr` must be a positive finite number"),
    ({"inner_lr": float("nan")}, ValueError, "`inner_lr` must be a positive finite number"),
    ({"head": "logits"}, ValueError, "`head` only applies to algorithm='anil'"),
    ({"algorithm": "anil", "head": "nope"}, ValueError, "`head` names layers \\['nope'\\]"),
])
def test_bad_meta_learner_arguments(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        MetaLearner(model, **kwargs)


def test_model_must_be_a_built_keras_model():
    with pytest.raises(TypeError, match="`model` must be a keras.Model; got Dense"):
        MetaLearner(keras.layers.Dense(1))
    with pytest.raises(ValueError, match="`model` must be built"):
        MetaLearner(keras.Sequential([keras.layers.Dense(1)]))


def test_loss_is_required_and_compile_comes_first(model):
    meta = MetaLearner(model, "fomaml")
    with pytest.raises(RuntimeError, match="Call `compile"):
        meta.adapt(np.zeros((3, 2)), np.zeros(3, np.int32))
    with pytest.raises(ValueError, match="`loss` is required"):
        meta.compile(optimizer="adam")


@pytest.mark.parametrize("data, error, message", [
    ((np.zeros((2, 3, 2)), np.zeros((2, 3))), TypeError, "must yield dicts with keys"),
    ({"support_x": np.zeros((2, 3, 2), np.float32)}, ValueError, "miss keys \\['support_y'"),
    (episode(query_x=np.zeros((3, 4, 2), np.float32)), ValueError,
     "disagree on the number of tasks"),
    (episode(support_y=np.zeros((2, 4), np.int32)), ValueError,
     "support_x and support_y disagree on the number of shots"),
    (episode(shots=0), ValueError, "has an empty support set"),
    (episode(queries=0), ValueError, "has an empty query set"),
    (episode(query_x=np.zeros((2, 4, 5), np.float32)), ValueError,
     "support_x and query_x examples differ in shape"),
    (episode(support_x=np.zeros((2, 3), np.float32)), ValueError,
     "must be shaped \\[tasks, shots, features...\\]"),
])
def test_bad_episodes_fail_in_fit_with_a_clear_error(meta, data, error, message):
    with pytest.raises(error, match=message):
        meta.fit(tf.data.Dataset.from_tensors(data), epochs=1, verbose=0)


def test_labels_outside_the_n_ways_are_rejected(meta):
    message = "holds class labels outside \\[0, 3\\)"
    with pytest.raises(ValueError, match=message):
        meta.adapt(np.zeros((3, 2), np.float32), np.array([0, 1, 3], np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        meta.fit(tf.data.Dataset.from_tensors(episode(label=-1)), epochs=1, verbose=0)


def test_adapt_steps_must_be_positive(meta):
    with pytest.raises(ValueError, match="`steps` must be a positive int; got 0"):
        meta.adapt(np.zeros((3, 2), np.float32), np.zeros(3, np.int32), steps=0)


def test_second_order_without_a_shift_rule_suggests_first_order():
    a, x = sympy.symbols("a x")
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(x)(q0), (cirq.ISWAP ** a)(q0, q1))
    model = keras.Sequential([keras.Input((1,)), PQC(circuit, "Z1", data_symbols=[x],
                                                     engine="qsim")])
    with pytest.raises(ValueError, match="algorithm='maml' needs second derivatives.*"
                                         "Use algorithm='fomaml'"):
        MetaLearner(model, "maml")
    assert MetaLearner(model, "fomaml").algorithm == "fomaml"


def test_subclassed_models_are_refused_with_the_fix():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Custom()
    model(np.zeros((1, 2), np.float32))
    meta = MetaLearner(model, "fomaml", inner_steps=1)
    meta.compile(loss="mse")
    with pytest.raises(TypeError, match="subclassed Custom.*build it as a keras.Sequential or "
                                        "functional model"):
        meta.adapt(np.zeros((3, 2), np.float32), np.zeros((3, 1), np.float32))
