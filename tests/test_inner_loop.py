"""The inner loop runs its trained steps as one while loop: traced once, exact to any order."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import meta_oracle
from meta_oracle import circuit_model, hybrid_model, regression_episode
from tfq_meta import MetaLearner


def learner(model, algorithm, inner_steps):
    meta = MetaLearner(model, algorithm, inner_steps=inner_steps, inner_lr=0.2,
                       **meta_oracle.plain(algorithm))
    meta.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return meta


def meta_gradient_function(meta, jit_compile, episode=None):
    """The outer loop's meta-gradients as a tf.function; with ``episode``, traced for its exact
    shapes, else for episodes of any number of tasks and shots."""
    def gradients(episode):
        return meta._outer_loop.gradients(episode, meta.trainable_variables, training=True)[0]

    if episode is not None:
        return tf.function(gradients, jit_compile=jit_compile).get_concrete_function(episode)
    spec = {key: tf.TensorSpec([None, None, 1], tf.float64)
            for key in ("support_x", "support_y", "query_x", "query_y")}
    return tf.function(gradients, jit_compile=jit_compile, input_signature=[spec])


def graph_size(concrete):
    """Nodes of the traced graph and of every function it calls (the while loop's body)."""
    graph = concrete.graph.as_graph_def()
    return len(graph.node) + sum(len(f.node_def) for f in graph.library.function)


@pytest.mark.parametrize("algorithm", ["maml", "fomaml"])
def test_the_graph_does_not_grow_with_the_inner_steps(rng, algorithm):
    """With the episode's shapes known, the steps are one while loop."""
    episode = {key: tf.constant(value) for key, value in regression_episode(rng).items()}
    sizes = [graph_size(meta_gradient_function(
        learner(circuit_model(), algorithm, steps), False, episode)) for steps in (1, 4)]
    # Unstacking the trajectory adds a node or two per step; an unrolled step added hundreds.
    assert sizes[1] - sizes[0] < 0.01 * sizes[0]


@pytest.mark.parametrize("shapes", ["known", "unknown"])
@pytest.mark.parametrize("algorithm, model", [("maml", circuit_model), ("anil", hybrid_model)])
def test_xla_meta_gradients_equal_eager_ones_and_the_oracle(rng, algorithm, model, shapes):
    """Under XLA, through the while loop (shapes known when traced) or the unrolled steps
    (shapes known only at run time), the meta-gradients equal eager ones and finite
    differences of the plain MAML objective."""
    meta = learner(model(), algorithm, inner_steps=3)
    episode = {key: tf.constant(value) for key, value in regression_episode(rng).items()}
    gradients = meta_gradient_function(meta, True, episode if shapes == "known" else None)(
        episode)
    eager = meta._outer_loop.gradients(episode, meta.trainable_variables, training=True)[0]
    for compiled, expected in zip(gradients, eager):
        np.testing.assert_allclose(compiled, expected, rtol=1e-6, atol=1e-9)
    if algorithm == "maml":  # the whole model is adapted: the Cirq oracle applies
        layer = meta.model.get_layer("circuit")
        oracle = meta_oracle.CirqModel(layer)
        episode = {key: value.numpy() for key, value in episode.items()}
        expected = meta_oracle.central_differences(
            lambda w: meta_oracle.maml_objective(oracle, episode, w, 3, 0.2),
            layer.circuit_weights.numpy())
        np.testing.assert_allclose(gradients[0], expected, atol=1e-7)
        assert np.linalg.norm(expected) > 1e-2
