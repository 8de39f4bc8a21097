"""MetaLearner as a Keras model: vectorized inner loop, fit/evaluate/callbacks, saving, adapt."""
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import meta_oracle
from tfq_meta import MetaLearner, models, tasks


def classical_model(seed=0):
    """Dense → LayerNormalization → Dense, inside a nested functional block: the
    LayerNormalization runs through the vectorized_map fallback."""
    keras.utils.set_random_seed(seed)
    inner_input = keras.Input((4,))
    block = keras.Model(inner_input, keras.layers.LayerNormalization()(
        keras.layers.Dense(6, activation="tanh")(inner_input)), name="block")
    x = keras.Input((4,))
    return keras.Model(x, keras.layers.Dense(3)(block(x)))


@pytest.mark.parametrize("engine", ["statevector", "qsim"])
def test_vectorized_inner_loop_equals_a_per_task_loop_on_a_hybrid_model(rng, engine):
    keras.utils.set_random_seed(1)
    model = models.student(n_features=2, n_outputs=1, n_qubits=3, n_layers=1, engine=engine)
    meta = MetaLearner(model, "maml", inner_steps=2, inner_lr=0.1, **meta_oracle.plain("maml"))
    meta.compile(loss="mse")
    episode = {"support_x": rng.uniform(-1, 1, (4, 5, 2)), "support_y": rng.normal(size=(4, 5, 1)),
               "query_x": rng.uniform(-1, 1, (4, 3, 2)), "query_y": rng.normal(size=(4, 3, 1))}
    episode = {k: v.astype(np.float32) for k, v in episode.items()}
    adapted = meta.adapt_task_weights(episode["support_x"], episode["support_y"])
    expected = meta_oracle.per_task_adaptation(model, model.trainable_variables, episode, 2,
                                               [0.1] * len(adapted))
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_vectorized_inner_loop_equals_a_per_task_loop_on_a_classical_model(rng):
    model = classical_model()
    meta = MetaLearner(model, "fomaml", inner_steps=3, inner_lr=0.2, **meta_oracle.plain("fomaml"))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    meta.compile(loss=loss)
    episode = {"support_x": rng.normal(size=(3, 6, 4)).astype(np.float32),
               "support_y": rng.integers(0, 3, size=(3, 6)).astype(np.int32)}
    adapted = meta.adapt_task_weights(episode["support_x"], episode["support_y"])
    expected = meta_oracle.per_task_adaptation(model, model.trainable_variables, episode, 3,
                                               [0.2] * len(adapted), loss=loss.call)
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def sinusoid_meta(algorithm="maml", **kwargs):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_layers=1), algorithm, inner_steps=1,
                       inner_lr=0.1, **kwargs)
    meta.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse", metrics=["mae"])
    return meta


def test_fit_logs_query_metrics_before_and_after_adaptation_and_runs_callbacks(tmp_path):
    meta = sinusoid_meta()
    family = tasks.Sinusoid(shots=5)
    checkpoint = str(tmp_path / "best.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = meta.fit(
            family.episodes(4, seed=0), epochs=6, steps_per_epoch=3,
            validation_data=family.episodes(4, seed=1, n_episodes=2), verbose=0,
            callbacks=[
                keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=100.0, patience=1),
                keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss",
                                                save_best_only=True),
                keras.callbacks.TensorBoard(str(tmp_path / "logs")),
                keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))])
    # Keras' "shuffle=True ... will be ignored" warning for datasets is not shown to users.
    assert not [w for w in caught if "shuffle" in str(w.message)]
    # Before adaptation only where it is free of an extra forward pass per training step.
    assert sorted(history.history) == sorted(
        ["loss", "mae", "val_loss", "val_mae", "val_pre_adapt_loss", "val_pre_adapt_mae"])
    # min_delta=100 never counts as an improvement: stops after patience + 1 epochs.
    assert len(history.history["loss"]) == 2
    assert os.listdir(tmp_path / "logs" / "train")
    # The logged loss is the query MSE after adaptation, recomputed here by hand.
    episode = family.sample(4, seed=5)
    logs = meta.evaluate(tf.data.Dataset.from_tensors(episode), verbose=0, return_dict=True)
    predictions = meta.adapt_and_predict(episode["support_x"], episode["support_y"],
                                         episode["query_x"]).numpy()
    np.testing.assert_allclose(logs["loss"], np.mean((predictions - episode["query_y"]) ** 2),
                               rtol=1e-5)
    pre = meta.predict(episode["query_x"].reshape(-1, 1), verbose=0)
    np.testing.assert_allclose(logs["pre_adapt_loss"],
                               np.mean((pre - episode["query_y"].reshape(-1, 1)) ** 2), rtol=1e-5)
    np.testing.assert_allclose(logs["pre_adapt_mae"],
                               np.mean(np.abs(pre - episode["query_y"].reshape(-1, 1))), rtol=1e-5)

    reloaded = keras.models.load_model(checkpoint)
    assert isinstance(reloaded, MetaLearner) and reloaded.algorithm == "maml"


@pytest.mark.parametrize("algorithm", ["metasgd", "anil"])
def test_saved_meta_learner_reloads_with_its_weights_and_compile_state(tmp_path, algorithm):
    meta = sinusoid_meta(algorithm)
    family = tasks.Sinusoid(shots=5)
    meta.fit(family.episodes(4, seed=0), epochs=1, steps_per_epoch=2, verbose=0)
    path = str(tmp_path / "meta.keras")
    meta.save(path)
    reloaded = keras.models.load_model(path)
    assert (reloaded.algorithm, reloaded.inner_steps, reloaded.head) == \
        (algorithm, 1, meta.head)
    for a, b in zip(meta.weights, reloaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    episode = family.sample(3, seed=9)
    for a, b in zip(meta.adapt_task_weights(episode["support_x"], episode["support_y"]),
                    reloaded.adapt_task_weights(episode["support_x"], episode["support_y"])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # Reloaded compile state: the same next step.
    meta.train_on_batch(episode)
    reloaded.train_on_batch(episode)
    for a, b in zip(meta.weights, reloaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_adapt_returns_a_saveable_model_equal_to_the_inner_loop(tmp_path):
    meta = sinusoid_meta()
    episode = tasks.Sinusoid(shots=5, query_shots=7).sample(1, seed=3)
    adapted = meta.adapt(episode["support_x"][0], episode["support_y"][0], steps=4)
    assert type(adapted) is type(meta.model) and adapted is not meta.model
    expected = meta.adapt_and_predict(episode["support_x"], episode["support_y"],
                                      episode["query_x"], steps=4).numpy()[0]
    np.testing.assert_allclose(adapted.predict(episode["query_x"][0], verbose=0), expected,
                               atol=1e-6)
    path = str(tmp_path / "adapted.keras")
    adapted.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(episode["query_x"][0]), expected,
                               atol=1e-6)
    # The meta-learned initialization is untouched.
    assert not np.allclose(meta.model(episode["query_x"][0]), expected)


def test_fit_takes_a_dict_of_arrays_and_slices_it_into_meta_batches():
    meta = sinusoid_meta("fomaml")
    episodes = tasks.Sinusoid(shots=5).sample(12, seed=0)
    history = meta.fit(episodes, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def linear_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((1,), dtype="float64"),
                             keras.layers.Dense(1, dtype="float64", name="line")])


@pytest.mark.parametrize("algorithm", ["maml", "metasgd"])
def test_steps_past_the_trained_ones_never_raise_the_support_loss_and_reach_least_squares(
        rng, algorithm):
    """Features up to 10 and rate 0.1: fixed-rate descent multiplies the error by about 6 every
    step. Past the trained step the safeguard keeps the support loss from rising and reaches the
    least-squares line (closed form)."""
    model = linear_model()
    meta = MetaLearner(model, algorithm, inner_steps=1, inner_lr=0.1,
                       **meta_oracle.plain(algorithm))
    meta.compile(loss="mse")
    x = rng.uniform(-10, 10, (3, 8, 1))
    y = rng.uniform(-2, 2, (3, 1, 1)) * x + rng.normal(size=(3, 8, 1))
    episode = {"support_x": x, "support_y": y, "query_x": x, "query_y": y}

    fixed_rate = meta_oracle.per_task_adaptation(model, model.trainable_variables, episode, 4,
                                                 [0.1, 0.1])
    fixed_rate_losses = np.mean((x * fixed_rate[0] + fixed_rate[1][:, None] - y) ** 2, axis=(1, 2))
    curves = meta.adaptation_losses(episode, 300)  # query = support: the support losses
    assert np.all(fixed_rate_losses > 100 * curves[0])  # the fixed rate diverges
    assert np.all(np.diff(curves[1:], axis=0) <= 0)     # the safeguarded steps never rise

    design = np.concatenate([x, np.ones_like(x)], axis=2)
    least_squares = [np.mean((design[t] @ np.linalg.lstsq(design[t], y[t], rcond=None)[0] -
                              y[t]) ** 2) for t in range(3)]
    np.testing.assert_allclose(curves[-1], least_squares, rtol=1e-6)


@pytest.mark.parametrize("algorithm", ["maml", "metasgd", "reptile"])
def test_adaptation_curves_with_the_default_stabilisers_equal_per_task_adapt(algorithm):
    """Learned per-step rates, clipping that binds, and safeguarded steps past the trained ones:
    the batched curves equal one `adapt` per task and step count."""
    keras.utils.set_random_seed(3)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), algorithm,
                       inner_steps=2, inner_lr=0.5, inner_clipnorm=0.3)
    meta.compile(loss="mse")
    if meta.inner_rates.kind == "per_group_and_step":
        meta.inner_rates.log_rates.assign(
            np.log(np.random.default_rng(0).uniform(0.1, 0.8, size=(2, 4))))
    episode = tasks.Sinusoid(shots=6, query_shots=7).sample(3, seed=5)
    curves = meta.adaptation_losses(episode, 6)
    for steps in (1, 2, 3, 6):
        for t in range(3):
            adapted = meta.adapt(episode["support_x"][t], episode["support_y"][t], steps=steps)
            predictions = adapted(episode["query_x"][t]).numpy()
            loss = np.mean((predictions - episode["query_y"][t]) ** 2)
            np.testing.assert_allclose(curves[steps, t], loss, rtol=2e-5)
    assert np.all(curves[-1] < curves[0])


def test_fit_takes_keras_arguments_by_position_as_keras_does():
    """x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data, shuffle:
    the MetaLearner adds its own callback and reads ``epochs`` wherever they are given."""
    meta = sinusoid_meta()
    family = tasks.Sinusoid(shots=5)
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = meta.fit(family.episodes(4, seed=0, n_episodes=2), None, None, 3, 0, [record],
                           0.0, None, False)
    assert seen == [0, 1, 2] and len(history.history["loss"]) == 3
    assert int(meta.epoch.numpy()) == 2  # the MetaLearner's own epoch counter ran too
    assert not [w for w in caught if "shuffle" in str(w.message)]
    with pytest.raises(TypeError, match="shuffel"):
        meta.fit(family.episodes(4, seed=0, n_episodes=1), shuffel=False)


def test_pre_adapt_metrics_in_training_logs_on_request():
    meta = sinusoid_meta()
    meta.compile(loss="mse", metrics=["mae"], pre_adapt_metrics="always")
    episode = tasks.Sinusoid(shots=5).sample(4, seed=3)
    before = meta.predict(episode["query_x"].reshape(-1, 1), verbose=0)
    logs = meta.train_on_batch(episode, return_dict=True)
    assert sorted(logs) == ["loss", "mae", "pre_adapt_loss", "pre_adapt_mae"]
    np.testing.assert_allclose(logs["pre_adapt_loss"],
                               np.mean((before - episode["query_y"].reshape(-1, 1)) ** 2),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="`pre_adapt_metrics`.*'evaluate', 'always'"):
        meta.compile(loss="mse", pre_adapt_metrics=True)
