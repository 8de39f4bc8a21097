"""The MAML stabilisers against independent oracles: learned per-step rates (finite differences),
the multi-step loss (Cirq and parameter-shift gradients), clipping (a per-task loop), derivative-
order annealing, and their errors."""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

import meta_oracle
from meta_oracle import circuit_model, regression_episode
from tfq_meta import MetaLearner, PQC
from tfq_meta.meta.stabilisers import multi_step_loss_weights


def scaled_hybrid_model(seed=0):
    """A float64 circuit with an input scale ``s`` (rx(s·x)), three angles, then a Dense head."""
    x, s, a, b, c = sympy.symbols("x s a b c")
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(s * x)(q0), cirq.rx(x)(q1), cirq.ry(a)(q0), cirq.ry(b)(q1),
                           cirq.CNOT(q0, q1), cirq.rx(c)(q1))
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((1,), dtype="float64"),
        PQC(circuit, ["Z0", "Z1"], data_symbols=[x], engine="statevector",
            state_dtype="complex128", dtype="float64", name="circuit"),
        keras.layers.Dense(1, dtype="float64", name="head"),
    ])


def learner(model, algorithm="maml", inner_steps=2, inner_lr=0.2, **options):
    meta = MetaLearner(model, algorithm, inner_steps=inner_steps, inner_lr=inner_lr,
                       **{**meta_oracle.plain(algorithm), **options})
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    return meta


def test_weight_groups_split_a_circuits_input_scales_from_its_angles():
    model = scaled_hybrid_model()
    meta = learner(model, learn_inner_lr=True)
    assert meta.inner_rates.group_names == [
        f"{model.name}/{name}" for name in ("circuit/angles", "circuit/input_scales",
                                            "head/kernel", "head/bias")]
    assert [str(s) for s in meta.model.get_layer("circuit").weight_symbols] == ["s", "a", "b", "c"]


def test_learned_per_step_rates_adapt_as_a_per_task_loop_and_their_meta_gradients_match_fd(rng):
    model = scaled_hybrid_model()
    meta = learner(model, learn_inner_lr=True, inner_clipnorm=0.5)
    log_rates = np.log(rng.uniform(0.05, 0.4, size=(2, 4)))
    meta.inner_rates.log_rates.assign(log_rates)
    episode = regression_episode(rng)
    variables = model.trainable_variables

    def oracle_rates(log_rates):
        # weight_symbols are (s, a, b, c): the input scale first
        def rates(step):
            angles, scales, kernel, bias = np.exp(log_rates[step])
            return [np.array([scales, angles, angles, angles]), kernel, bias]
        return rates

    adapted = meta.adapt_task_weights(episode["support_x"], episode["support_y"])
    expected = meta_oracle.per_task_adaptation(model, variables, episode, 2,
                                               oracle_rates(log_rates), clipnorm=0.5)
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-10)

    def objective(flat_log_rates):
        phis = meta_oracle.per_task_adaptation(model, variables, episode, 2,
                                               oracle_rates(flat_log_rates.reshape(2, 4)),
                                               clipnorm=0.5)
        losses = []
        for t in range(len(episode["query_x"])):
            with keras.StatelessScope(state_mapping=[(v, tf.constant(p[t]))
                                                     for v, p in zip(variables, phis)]):
                predictions = model(episode["query_x"][t]).numpy()
            losses.append(np.mean((predictions - episode["query_y"][t]) ** 2))
        return np.mean(losses)

    gradients = dict(zip([id(v) for v in meta.trainable_variables], meta.meta_gradients(episode)))
    got = gradients[id(meta.inner_rates.log_rates)].numpy()
    expected = meta_oracle.central_differences(objective, log_rates.ravel(), step=1e-5)
    np.testing.assert_allclose(got.ravel(), expected, atol=1e-7)
    assert np.linalg.norm(expected) > 1e-3  # a test of something


def test_learned_rates_stay_positive():
    meta = learner(scaled_hybrid_model(), learn_inner_lr=True)
    meta.inner_rates.log_rates.assign(np.full((2, 4), -80.0))
    for rates in meta.inner_rates.by_group().values():
        assert np.all(rates > 0)


@pytest.mark.parametrize("anneal_epochs, epoch", [(None, 0), (4, 1), (4, 9)])
def test_multi_step_loss_meta_gradient_equals_finite_differences_of_a_cirq_objective(
        rng, anneal_epochs, epoch):
    steps, alpha = 3, 0.3
    model = circuit_model()
    meta = learner(model, inner_steps=steps, inner_lr=alpha, multi_step_loss=True,
                   multi_step_loss_epochs=anneal_epochs)
    meta.epoch.assign(epoch)
    episode = regression_episode(rng)
    gradient = meta.meta_gradients(episode)[0].numpy()

    # float64: a float32 weight would round the objective before the finite differences.
    weights = multi_step_loss_weights(steps, epoch, anneal_epochs).numpy().astype(np.float64)
    oracle = meta_oracle.CirqModel(model.get_layer("circuit"))

    def objective(theta):
        return sum(w * meta_oracle.maml_objective(oracle, episode, theta, k + 1, alpha)
                   for k, w in enumerate(weights))

    theta = model.get_layer("circuit").circuit_weights.numpy()
    expected = meta_oracle.central_differences(objective, theta)
    np.testing.assert_allclose(gradient, expected, atol=1e-7)


@pytest.mark.parametrize("anneal_epochs, epoch, weights", [
    (None, 0, [1 / 3, 1 / 3, 1 / 3]),     # uniform over 0, 1 and 2 steps
    (4, 9, [0.01, 0.01, 0.98]),           # annealed: the floor 0.03 / 3 for 0 and 1 step
])
def test_multi_step_loss_with_the_initial_loss_weighs_the_query_loss_before_adaptation(
        rng, anneal_epochs, epoch, weights):
    steps, alpha = 2, 0.3
    model = circuit_model()
    meta = learner(model, inner_steps=steps, inner_lr=alpha, multi_step_loss=True,
                   multi_step_loss_epochs=anneal_epochs, multi_step_loss_initial=True)
    meta.epoch.assign(epoch)
    episode = regression_episode(rng)
    gradient = meta.meta_gradients(episode)[0].numpy()

    oracle = meta_oracle.CirqModel(model.get_layer("circuit"))

    def objective(theta):  # the query loss after k = 0, 1, 2 plain SGD steps
        return sum(w * meta_oracle.maml_objective(oracle, episode, theta, k, alpha)
                   for k, w in enumerate(weights))

    theta = model.get_layer("circuit").circuit_weights.numpy()
    expected = meta_oracle.central_differences(objective, theta)
    np.testing.assert_allclose(gradient, expected, atol=1e-7)
    # The initial loss matters: without it the meta-gradient differs.
    without = learner(model, inner_steps=steps, inner_lr=alpha, multi_step_loss=True,
                      multi_step_loss_epochs=anneal_epochs)
    without.epoch.assign(epoch)
    assert np.max(np.abs(without.meta_gradients(episode)[0].numpy() - expected)) > 1e-4
    assert MetaLearner.from_config(meta.get_config()).stabilisers.multi_step_loss_initial


def test_multi_step_loss_weights_follow_the_annealing_schedule():
    np.testing.assert_allclose(multi_step_loss_weights(4, 0, None), [0.25] * 4)
    np.testing.assert_allclose(multi_step_loss_weights(4, 0, 10), [0.25] * 4)
    floor = 0.03 / 4
    halfway = 0.25 - 0.5 * (0.25 - floor)
    np.testing.assert_allclose(multi_step_loss_weights(4, 5, 10),
                               [halfway] * 3 + [1 - 3 * halfway], rtol=1e-6)
    for epoch in (10, 50):
        np.testing.assert_allclose(multi_step_loss_weights(4, epoch, 10),
                                   [floor] * 3 + [1 - 3 * floor], rtol=1e-6)
    np.testing.assert_allclose(multi_step_loss_weights(4, 0, 0), [floor] * 3 + [1 - 3 * floor],
                               rtol=1e-6)


def test_derivative_order_annealing_is_first_order_then_exact_second_order(rng):
    episode = regression_episode(rng)
    annealed = learner(circuit_model(), first_order_epochs=2)
    first = learner(circuit_model(), "fomaml").meta_gradients(episode)[0].numpy()
    second = learner(circuit_model(), "maml").meta_gradients(episode)[0].numpy()
    assert np.linalg.norm(first - second) > 1e-3
    traced = tf.function(annealed.meta_gradients)  # as fit runs it: one graph for all epochs
    for epoch, expected in ((0, first), (1, first), (2, second), (5, second)):
        annealed.epoch.assign(epoch)
        for meta_gradients in (annealed.meta_gradients, traced):
            np.testing.assert_allclose(meta_gradients(episode)[0].numpy(), expected, atol=1e-12)


def test_fit_keeps_the_epoch_for_the_schedules():
    meta = learner(circuit_model(), first_order_epochs=2)
    episodes = tf.data.Dataset.from_tensors(
        {k: v for k, v in regression_episode(np.random.default_rng(0)).items()}).repeat()
    meta.fit(episodes, epochs=3, steps_per_epoch=1, verbose=0)
    assert int(meta.epoch.numpy()) == 2
    meta.fit(episodes, epochs=5, initial_epoch=3, steps_per_epoch=1, verbose=0)
    assert int(meta.epoch.numpy()) == 4


@pytest.mark.parametrize("options, message", [
    (dict(algorithm="reptile", learn_inner_lr=True), "learn_inner_lr"),
    (dict(algorithm="reptile", multi_step_loss=True), "multi_step_loss"),
    (dict(algorithm="metasgd", learn_inner_lr=False), "learn_inner_lr"),
    (dict(algorithm="fomaml", first_order_epochs=2), "first_order_epochs"),
    (dict(first_order_epochs=-1), "first_order_epochs"),
    (dict(first_order_epochs=1.5), "first_order_epochs"),
    (dict(multi_step_loss_epochs=-3), "multi_step_loss_epochs"),
    (dict(multi_step_loss=False, multi_step_loss_epochs=3), "multi_step_loss_epochs"),
    (dict(multi_step_loss="linear"), "multi_step_loss"),
    (dict(multi_step_loss=False, multi_step_loss_initial=True), "multi_step_loss_initial"),
    (dict(algorithm="reptile", multi_step_loss_initial=True), "multi_step_loss_initial"),
    (dict(multi_step_loss_initial="yes"), "multi_step_loss_initial"),
    (dict(learn_inner_lr="per_step"), "learn_inner_lr"),
    (dict(inner_clipnorm=0.0), "inner_clipnorm"),
    (dict(inner_clipnorm=-1.0), "inner_clipnorm"),
    (dict(inner_lr=-0.1), "inner_lr"),
])
def test_bad_stabiliser_options_are_refused_with_the_argument_named(options, message):
    with pytest.raises(ValueError, match=f"`{message}"):
        MetaLearner(circuit_model(), **options)


@pytest.mark.parametrize("options, epochs", [
    (dict(first_order_epochs=3), 3),
    (dict(multi_step_loss_epochs=6), 4),
])
def test_schedules_longer_than_training_are_refused(options, epochs):
    meta = MetaLearner(circuit_model(), **options)
    meta.compile(loss="mse")
    episodes = tf.data.Dataset.from_tensors(regression_episode(np.random.default_rng(0)))
    name = next(iter(options))
    with pytest.raises(ValueError, match=f"`{name}=.*fit\\(epochs={epochs}\\)"):
        meta.fit(episodes, epochs=epochs, verbose=0)
    with pytest.raises(ValueError, match=f"`{name}=.*fit\\(epochs={epochs}\\)"):
        meta.fit(episodes, None, None, epochs, 0)  # the same, positionally
