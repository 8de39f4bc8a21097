"""tfq_meta.meta.adaptation: a MetaLearner's inner loop on new tasks, against per-task loops,
closed-form least squares and the adapted model's own predictions."""
import keras
import numpy as np
import pytest

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


def test_adapt_returns_a_saveable_model_equal_to_the_inner_loop(tmp_path):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_layers=1), inner_steps=1, inner_lr=0.1)
    meta.compile(loss="mse")
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
