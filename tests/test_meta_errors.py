"""Bad input to MetaLearner gets a clear error naming the argument, raised before any simulation."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

from tfq_meta import MetaLearner, PQC, models, ops


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
    ({"algorithm": "anil", "head": 3}, TypeError, "`head` must be a layer name or a non-empty "
                                                  "list of layer names; got 3"),
    ({"algorithm": "anil", "head": []}, TypeError, "`head` must be a layer name"),
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
    with pytest.raises(ValueError, match="`loss` must be a Keras loss name, function or "
                                         "keras.losses.Loss; got 'nope'"):
        meta.compile(loss="nope")


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


def iswap_model(engine):
    """<Z1> after rx(x) and ISWAP^a, a gate without a two-term shift rule."""
    a, x = sympy.symbols("a x")
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(x)(q0), (cirq.ISWAP ** a)(q0, q1))
    return keras.Sequential([keras.Input((1,)), PQC(circuit, "Z1", data_symbols=[x],
                                                     engine=engine)])


def test_second_order_without_a_shift_rule_suggests_first_order():
    model = iswap_model("qsim")
    with pytest.raises(ValueError, match="algorithm='maml' needs second derivatives.*"
                                         "Use algorithm='fomaml'"):
        MetaLearner(model, "maml")
    assert MetaLearner(model, "fomaml").algorithm == "fomaml"


def test_second_order_on_qsim_is_refused_only_where_xla_would_not_run_statevector(monkeypatch):
    # engine="auto" from 14 to 16 qubits, at 2 qubits: qsim without XLA, statevector under it.
    monkeypatch.setattr(ops, "EXPECTATION_STATEVECTOR_MAX_QUBITS", 1)
    monkeypatch.setattr(ops, "XLA_STATEVECTOR_MAX_QUBITS", 2)
    model = iswap_model("auto")
    assert (model.layers[0].engine, model.layers[0].xla_engine) == ("qsim", "statevector")
    meta = MetaLearner(model, "maml")
    with pytest.raises(ValueError, match="needs second derivatives of layer .*Use algorithm="
                                         "'fomaml'.*or compile with jit_compile='auto' or True"):
        meta.compile(loss="mse", jit_compile=False)
    meta.compile(loss="mse")
    assert meta.jit_compile is True


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


@pytest.fixture(scope="module")
def regression_meta():
    keras.utils.set_random_seed(1)
    # n_features > n_qubits: a Dense projection comes before the circuit.
    model = models.student(n_features=3, n_outputs=1, n_qubits=2, n_layers=1)
    meta = MetaLearner(model, "fomaml", inner_steps=1, inner_lr=0.1)
    meta.compile(loss="mse")
    return meta


def regression_episode(**overrides):
    rng = np.random.default_rng(0)
    data = {"support_x": rng.uniform(size=(2, 3, 3)).astype(np.float32),
            "support_y": rng.uniform(size=(2, 3, 1)).astype(np.float32),
            "query_x": rng.uniform(size=(2, 4, 3)).astype(np.float32),
            "query_y": rng.uniform(size=(2, 4, 1)).astype(np.float32)}
    data.update(overrides)
    return data


def test_fractional_class_labels_are_rejected(meta):
    message = "`support_y` must hold whole class indices for a loss on class indices"
    with pytest.raises(ValueError, match=message + ".*Got e.g. 0.5"):
        meta.adapt(np.zeros((3, 2), np.float32), np.array([0.5, 1.0, 0.0], np.float32))
    with pytest.raises(ValueError, match=message):
        meta.fit(episode(support_y=np.full((2, 3), 0.5, np.float32)), verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`query_y` must hold whole class"):
        meta.evaluate(tf.data.Dataset.from_tensors(
            episode(query_y=np.full((2, 4), 1.5, np.float32))), verbose=0)
    with pytest.raises(ValueError, match="`support_y` holds class labels outside \\[0, 3\\)"):
        meta.adapt(np.zeros((3, 2), np.float32), np.array([0.0, 1.0, 3.0], np.float32))
    # Whole-numbered floats are class indices like ints.
    adapted = meta.adapt(np.zeros((3, 2), np.float32), np.array([0.0, 2.0, 1.0], np.float32))
    assert all(np.isfinite(w).all() for w in adapted.get_weights())


def test_string_labels_are_rejected(meta):
    with pytest.raises(TypeError, match="`support_y` must hold numbers \\(int class indices\\); "
                                        "got dtype string"):
        meta.adapt(np.zeros((3, 2), np.float32), np.array(["cat", "dog", "cat"]))
    with pytest.raises(TypeError, match="`query_y` must hold numbers"):
        meta.fit(episode(query_y=np.full((2, 4), "a")), verbose=0)
    with pytest.raises(TypeError, match="`support_x` must hold float or int features"):
        meta.fit(tf.data.Dataset.from_tensors(episode(support_x=np.full((2, 3, 2), "a"))),
                 verbose=0)


@pytest.mark.parametrize("key", ["support_x", "support_y", "query_x", "query_y"])
def test_non_finite_episode_values_are_refused_before_training(regression_meta, key):
    meta = regression_meta
    bad = regression_episode()
    bad[key] = bad[key].copy()
    bad[key][0, 0, 0] = np.nan if key.endswith("y") else np.inf
    before = [w.copy() for w in meta.model.get_weights()]
    message = f"`{key}` holds NaN or infinite"
    with pytest.raises(ValueError, match=message):
        meta.fit(bad, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        meta.fit(tf.data.Dataset.from_tensors(bad), verbose=0)
    if key.startswith("support"):
        with pytest.raises(ValueError, match=message):
            meta.adapt(bad["support_x"][0], bad["support_y"][0])
    for old, new in zip(before, meta.model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_feature_count_must_match_the_model(regression_meta):
    meta = regression_meta
    with pytest.raises(ValueError, match=r"`support_x` must be shaped \[shots, 3\] \(the model's "
                                         r"input shape is \(None, 3\)\); got shape \(4, 5\)"):
        meta.adapt(np.zeros((4, 5), np.float32), np.zeros((4, 1), np.float32))
    with pytest.raises(ValueError, match=r"`support_x` must be shaped \[tasks, shots, 3\]"):
        meta.fit(regression_episode(support_x=np.zeros((2, 3, 5), np.float32),
                                    query_x=np.zeros((2, 4, 5), np.float32)), verbose=0)
    with pytest.raises(ValueError, match=r"`query_x` must be shaped \[tasks, shots, 3\].*"
                                         r"\(1, 2, 4\)"):
        meta.adapt_and_predict(np.zeros((1, 3, 3), np.float32), np.zeros((1, 3, 1), np.float32),
                               np.zeros((1, 2, 4), np.float32))


def test_support_sets_of_different_lengths(regression_meta, tmp_path):
    meta = regression_meta
    with pytest.raises(ValueError, match=r"`support_x` and `support_y` must have the same number "
                                         r"of shots \(one label per example\); got shapes \(3, 3\) "
                                         r"and \(4, 1\)"):
        meta.adapt(np.zeros((3, 3), np.float32), np.zeros((4, 1), np.float32))
    with pytest.raises(ValueError, match="same number of tasks and shots"):
        meta.adapt_and_predict(np.zeros((1, 3, 3), np.float32), np.zeros((1, 4, 1), np.float32),
                               np.zeros((1, 2, 3), np.float32))
    # In the exported signature the shapes are known only at run time: a graph assertion.
    from tfq_meta.export import load
    meta.export(str(tmp_path / "meta"), verbose=False)
    loaded = load(str(tmp_path / "meta"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`support_x` and `support_y` must "
                                                             "have the same number of"):
        loaded.adapt_and_predict(np.zeros((3, 3), np.float32), np.zeros((4, 1), np.float32),
                                 np.zeros((2, 3), np.float32))


def test_labels_shaped_unlike_the_outputs_are_refused(regression_meta, meta):
    # A loss would broadcast [.., 2] targets against [.., 1] outputs: a wrong loss, no error.
    with pytest.raises(ValueError, match=r"`support_y` must be shaped \[tasks, shots, 1\], one "
                                         r"target per output \(the model's output shape is "
                                         r"\(None, 1\)\); got shape \(2, 3, 2\)"):
        regression_meta.fit(regression_episode(support_y=np.zeros((2, 3, 2), np.float32)),
                            verbose=0)
    with pytest.raises(ValueError, match=r"`support_y` must be shaped \[shots\], one class index "
                                         r"per example; got shape \(3, 3\)"):
        meta.adapt(np.zeros((3, 2), np.float32), np.zeros((3, 3), np.int32))


def test_adapting_to_no_examples(regression_meta):
    message = r"`support_x` has no examples \(0 shots\)"
    with pytest.raises(ValueError, match=message):
        regression_meta.adapt(np.zeros((0, 3), np.float32), np.zeros((0, 1), np.float32))
    predict = tf.function(regression_meta.adapt_and_predict, input_signature=[
        tf.TensorSpec((1, None, 3)), tf.TensorSpec((1, None, 1)), tf.TensorSpec((1, 2, 3))])
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        predict(np.zeros((1, 0, 3), np.float32), np.zeros((1, 0, 1), np.float32),
                np.zeros((1, 2, 3), np.float32))


def test_models_with_two_inputs_or_outputs_are_refused():
    a, b = keras.Input((2,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match="`model` must take one input.*got a model with 2 "
                                         "inputs"):
        MetaLearner(model, "fomaml")
    two_outputs = keras.Model(a, [keras.layers.Dense(1)(a), keras.layers.Dense(1)(a)])
    with pytest.raises(ValueError, match="`model` must have one output.*got a model with 2 "
                                         "outputs"):
        MetaLearner(two_outputs, "fomaml")


class WeightsAtBatchEnd(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [[w.copy() for w in self.model.model.get_weights()]]
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([w.copy() for w in self.model.model.get_weights()])
        self.losses.append(float(logs["loss"]))


def test_a_diverging_inner_loop_never_writes_nan_weights():
    keras.utils.set_random_seed(0)
    model = models.student(n_features=2, n_outputs=1, n_qubits=2, n_layers=1)
    meta = MetaLearner(model, "maml", inner_steps=2, inner_lr=1e8)
    meta.compile(loss="mse", optimizer=keras.optimizers.Adam(0.01), jit_compile=False)
    data = regression_episode(support_x=np.full((2, 3, 2), 0.3, np.float32),
                              query_x=np.full((2, 4, 2), 0.7, np.float32))
    record = WeightsAtBatchEnd()
    with pytest.warns(RuntimeWarning, match="MetaLearner.fit stopped at batch .*NaN or infinite"
                                            ".*lower `inner_lr` \\(now 100000000.0\\)"):
        meta.fit(tf.data.Dataset.from_tensors(data).repeat(), steps_per_epoch=5, epochs=2,
                 verbose=0, callbacks=[record])
    bad = len(record.losses) - 1
    assert bad < 5 and np.isnan(record.losses[-1]), record.losses  # stopped at the bad step
    assert np.isfinite(record.losses[:bad]).all()
    # The bad step left the weights and the optimizer as they were after the last good one.
    for before, after, final in zip(record.weights[bad], record.weights[bad + 1],
                                    model.get_weights()):
        assert np.isfinite(final).all()
        np.testing.assert_array_equal(before, after)
        np.testing.assert_array_equal(before, final)
    assert int(meta.optimizer.iterations) == bad
    assert all(np.isfinite(v.numpy()).all() for v in meta.optimizer.variables)


def test_adaptation_that_diverges_raises():
    # A circuit refuses non-finite angles itself; a classical model would return NaN weights.
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    meta = MetaLearner(model, "fomaml", inner_steps=3, inner_lr=1e30, inner_clipnorm=None)
    meta.compile(loss="mse")
    with pytest.raises(ValueError, match="Adaptation diverged: the adapted weights are NaN or "
                                         "infinite. Lower the inner learning rate"):
        meta.adapt(np.full((3, 2), 0.3, np.float32), np.ones((3, 1), np.float32))
