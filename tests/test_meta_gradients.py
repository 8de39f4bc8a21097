"""Meta-gradients and inner/outer updates against independent oracles.

MAML is checked against central finite differences of the unrolled objective computed by Cirq and
parameter-shift inner gradients (tests/meta_oracle.py). Reptile, Meta-SGD and ANIL updates are
checked against hand-written per-task loops and closed forms.
"""
import cirq
import keras
import numpy as np
import pytest
import sympy
import tensorflow as tf

import meta_oracle
from meta_oracle import circuit_model, hybrid_model, regression_episode
from tfq_meta import PQC, MetaLearner, ops


def compiled(model, algorithm, inner_steps, inner_lr, **kwargs):
    meta = MetaLearner(model, algorithm=algorithm, inner_steps=inner_steps, inner_lr=inner_lr,
                       **{**meta_oracle.plain(algorithm), **kwargs})
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    return meta


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_meta_gradient_equals_finite_differences_of_the_unrolled_objective(rng, steps):
    model = circuit_model()
    meta = compiled(model, "maml", inner_steps=steps, inner_lr=0.3)
    episode = regression_episode(rng)
    gradient = meta.meta_gradients(episode)[0].numpy()

    oracle = meta_oracle.CirqModel(model.get_layer("circuit"))
    theta = model.get_layer("circuit").circuit_weights.numpy()
    expected = meta_oracle.central_differences(
        lambda w: meta_oracle.maml_objective(oracle, episode, w, steps, 0.3), theta)
    np.testing.assert_allclose(gradient, expected, atol=1e-7)
    assert np.linalg.norm(expected) > 1e-2  # a test of something


def test_first_order_maml_drops_exactly_the_second_order_term(rng):
    """One inner step: MAML = (I − α H_support) ∇L_query(φ) and FOMAML = ∇L_query(φ)."""
    alpha = 0.3
    model = circuit_model()
    episode = regression_episode(rng, tasks=2)
    maml = compiled(model, "maml", 1, alpha).meta_gradients(episode)[0].numpy()
    fomaml = compiled(model, "fomaml", 1, alpha).meta_gradients(episode)[0].numpy()

    oracle = meta_oracle.CirqModel(model.get_layer("circuit"))
    theta = model.get_layer("circuit").circuit_weights.numpy()
    first_order, second_order = [], []
    for t in range(2):
        sx, sy, qx, qy = (episode[k][t] for k in ("support_x", "support_y", "query_x", "query_y"))
        phi = meta_oracle.adapt(oracle, sx, sy, theta, 1, alpha)
        query_gradient = meta_oracle.central_differences(
            lambda w: meta_oracle.mse_and_gradient(oracle, qx, qy, w)[0], phi)
        hessian = np.stack([meta_oracle.central_differences(
            lambda w: meta_oracle.mse_and_gradient(oracle, sx, sy, w)[1][j], theta)
            for j in range(len(theta))])
        first_order.append(query_gradient)
        second_order.append(-alpha * hessian @ query_gradient)
    np.testing.assert_allclose(fomaml, np.mean(first_order, axis=0), atol=1e-7)
    np.testing.assert_allclose(maml - fomaml, np.mean(second_order, axis=0), atol=1e-7)
    assert np.linalg.norm(np.mean(second_order, axis=0)) > 1e-3


def test_maml_meta_gradient_on_qsim_equals_statevector(rng):
    """qsim's second order (in-graph parameter shift) against the verified statevector path."""
    episode = {k: v.astype(np.float32) for k, v in regression_episode(rng).items()}
    theta = rng.uniform(0, 2 * np.pi, size=3)
    gradients = []
    for engine in ("qsim", "statevector"):
        model = circuit_model(engine)
        model.get_layer("circuit").circuit_weights.assign(theta)
        gradients.append(compiled(model, "maml", 2, 0.3).meta_gradients(episode)[0].numpy())
    np.testing.assert_allclose(gradients[0], gradients[1], atol=2e-5)


def test_maml_on_a_layer_qsim_runs_without_xla_trains_on_statevector_under_xla(rng, monkeypatch):
    """engine="auto" from 14 to 16 qubits, at 2 qubits: qsim has no second derivatives for
    ISWAP^a, so the default (XLA) step must run the statevector engine. With SGD(1.0) the
    weights move by minus the meta-gradient."""
    monkeypatch.setattr(ops, "EXPECTATION_STATEVECTOR_MAX_QUBITS", 1)
    monkeypatch.setattr(ops, "XLA_STATEVECTOR_MAX_QUBITS", 2)
    # The initial weights, from Keras' global seed, must not depend on the tests run before.
    keras.utils.set_random_seed(0)
    x, a, b, c = sympy.symbols("x a b c")
    q0, q1 = cirq.LineQubit.range(2)
    circuit = cirq.Circuit(cirq.rx(x)(q0), cirq.ry(b)(q1), (cirq.ISWAP ** a)(q0, q1),
                           cirq.ry(c)(q1))
    layer = PQC(circuit, "Z1", data_symbols=[x], name="circuit")
    model = keras.Sequential([keras.Input((1,)), layer])
    assert (layer.engine, layer.xla_engine) == ("qsim", "statevector")
    meta = compiled(model, "maml", inner_steps=2, inner_lr=0.3)
    assert meta.jit_compile is True
    episode = {k: v.astype(np.float32) for k, v in regression_episode(rng, tasks=2).items()}
    theta = layer.circuit_weights.numpy().astype(np.float64)
    meta.train_on_batch(episode)

    oracle = meta_oracle.CirqModel(layer, shift_rule=False)
    expected = meta_oracle.fourth_order_differences(
        lambda w: meta_oracle.maml_objective(oracle, episode, w, 2, 0.3), theta)
    # float32 weights in [0, 2π) lie up to 4.8e-7 apart: their difference carries that error.
    # The meta-gradient's own float32 rounding depends on the weights: here it stays below the
    # tolerance, at others it reached 2e-5 (3e-5 on the executor), where complex128 states
    # agreed with this oracle to its own accuracy, 3e-7.
    np.testing.assert_allclose(theta - layer.circuit_weights.numpy(), expected, atol=5e-6)
    assert np.linalg.norm(expected) > 1e-2


def test_reptile_moves_the_weights_to_the_mean_of_the_adapted_weights(rng):
    """With SGD(1.0) in the outer loop, θ ← θ − (θ − mean φ) = mean φ."""
    model = hybrid_model()
    meta = compiled(model, "reptile", inner_steps=3, inner_lr=0.2)
    episode = regression_episode(rng)
    variables = model.trainable_variables
    expected = meta_oracle.per_task_adaptation(model, variables, episode, 3, [0.2] * len(variables))
    meta.train_on_batch(episode)
    for variable, adapted in zip(variables, expected):
        np.testing.assert_allclose(variable.numpy(), adapted.mean(axis=0), atol=1e-10)


def test_metasgd_uses_and_learns_per_parameter_rates(rng):
    """One step: φ = θ − α∘g_s, and ∂L_q/∂α = −mean_t g_s,t ∘ ∇L_q(φ_t) (closed form)."""
    model = hybrid_model()
    meta = compiled(model, "metasgd", inner_steps=1, inner_lr=0.1)
    variables = model.trainable_variables
    rates = [rng.uniform(0.05, 0.3, size=v.shape) for v in variables]
    for rate_variable, rate in zip(meta.inner_rates.per_parameter, rates):
        rate_variable.assign(rate)
    episode = regression_episode(rng)

    adapted = meta.adapt_task_weights(episode["support_x"], episode["support_y"])
    expected = meta_oracle.per_task_adaptation(model, variables, episode, 1, rates)
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-10)

    gradients = dict(zip([id(v) for v in meta.trainable_variables], meta.meta_gradients(episode)))
    n_tasks = len(episode["support_x"])
    for k, rate_variable in enumerate(meta.inner_rates.per_parameter):
        closed_form = 0.0
        for t in range(n_tasks):
            task = {key: value[t:t + 1] for key, value in episode.items()}
            support_gradient = [g[0] for g in _loss_gradients(model, variables, task, "support",
                                                              [v.numpy() for v in variables])]
            query_gradient = _loss_gradients(model, variables, task, "query",
                                             [e[t] for e in expected])[k][0]
            closed_form = closed_form - support_gradient[k] * query_gradient / n_tasks
        np.testing.assert_allclose(gradients[id(rate_variable)].numpy(), closed_form, atol=1e-10)


def _loss_gradients(model, variables, task, part, values):
    values = [tf.constant(v) for v in values]
    with tf.GradientTape() as tape:
        tape.watch(values)
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            predictions = model(task[f"{part}_x"][0])
        loss = tf.reduce_mean(keras.losses.mean_squared_error(task[f"{part}_y"][0], predictions))
    return [g.numpy()[None] for g in tape.gradient(loss, values)]


def test_anil_adapts_only_the_head_and_its_meta_gradient_matches_finite_differences(rng):
    model = hybrid_model()
    meta = compiled(model, "anil", inner_steps=2, inner_lr=0.3)
    head = model.get_layer("head").trainable_variables
    assert [id(v) for v in meta.adapted_variables] == [id(v) for v in head]
    episode = regression_episode(rng)
    adapted = meta.adapt_task_weights(episode["support_x"], episode["support_y"])
    expected = meta_oracle.per_task_adaptation(model, head, episode, 2, [0.3, 0.3])
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-10)

    def objective(circuit_weights):
        """Unrolled ANIL objective as a function of the body (circuit) weights."""
        body = [(model.get_layer("circuit").circuit_weights, tf.constant(circuit_weights))]
        phis = meta_oracle.per_task_adaptation(model, head, episode, 2, [0.3, 0.3], fixed=body)
        losses = []
        for t in range(len(episode["query_x"])):
            with keras.StatelessScope(state_mapping=body + [(v, tf.constant(p[t]))
                                                            for v, p in zip(head, phis)]):
                predictions = model(episode["query_x"][t]).numpy()
            losses.append(np.mean((predictions - episode["query_y"][t]) ** 2))
        return np.mean(losses)

    gradients = dict(zip([id(v) for v in meta.trainable_variables], meta.meta_gradients(episode)))
    body = model.get_layer("circuit").circuit_weights
    expected_body = meta_oracle.central_differences(objective, body.numpy(), step=1e-5)
    np.testing.assert_allclose(gradients[id(body)].numpy(), expected_body, atol=1e-7)
