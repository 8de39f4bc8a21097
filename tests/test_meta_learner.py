"""MetaLearner as a Keras model: fit/evaluate/callbacks, saving, compile state."""
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import MetaLearner, models, tasks


def sinusoid_meta(algorithm="maml", **kwargs):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), algorithm,
                       inner_steps=1, inner_lr=0.1, **kwargs)
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
    # As many tasks as fit's episodes: the learner's compiled step serves it without retracing.
    episode = family.sample(4, seed=9)
    for a, b in zip(meta.adapt_task_weights(episode["support_x"], episode["support_y"]),
                    reloaded.adapt_task_weights(episode["support_x"], episode["support_y"])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    # Reloaded compile state: the same next step.
    meta.train_on_batch(episode)
    reloaded.train_on_batch(episode)
    for a, b in zip(meta.weights, reloaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_fit_takes_a_dict_of_arrays_and_slices_it_into_meta_batches():
    meta = sinusoid_meta("fomaml")
    episodes = tasks.Sinusoid(shots=5).sample(12, seed=0)
    history = meta.fit(episodes, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


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
