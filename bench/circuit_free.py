"""bench_peers.py's steps with the circuit replaced by a small classical function: what a step
costs in each framework when there is almost nothing to simulate.

At 4 qubits the circuit's work is small, and the rest of a step weighs: for tfq_meta,
TensorFlow's call into a compiled function, Keras' ``train_on_batch`` and the MetaLearner's
inner loop, task shards, checks and metrics; for the JAX peers, ``jax.jit``'s dispatch and the
same step's loop and optimizer. Each circuit-free step keeps its framework's step whole, and
computes ⟨Z_i⟩'s stand-in ``tanh(x · w_i)`` (i < n qubits) from the examples' first feature
``x`` and the first n circuit weights ``w``:

- engine: the step of :func:`common.gradient_step` (TensorFlow, XLA) or of
  ``jax.jit(jax.value_and_grad(...))`` (JAX), on the same features, weights and cotangent;
- meta-step: a MetaLearner of the same options on ``Dense(n, tanh, no bias) → Dense(1)`` in place
  of the student (the library's defaults: XLA, task shards), and the JAX peers' step
  (``peers_jax.JaxMeta``) on the same function; and, as the least any Keras step costs, a
  ``train_on_batch`` of one ``Dense(1)`` layer compiled with XLA ("Keras floor").

Their values are not checked against the circuits': they compute something else on purpose.
bench_peers.py times them beside the circuits' steps and reports the ratio net of them (see
:func:`net_ratio`).
"""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import tensorflow as tf

import common
import peers_jax
import timing


def tensorflow_engine(config):
    """The engine step in TensorFlow under XLA, ⟨Z_i⟩ replaced by tanh(x · w_i)."""
    n = config["qubits"]
    weights, features = tf.Variable(config["weights"]), tf.constant(config["features"])
    step = common.gradient_step(lambda x: tf.tanh(x[:, :1] * weights[:n]), weights,
                                tf.constant(config["cotangent"]), jit_compile=True)
    return lambda: step(features)


def jax_engine(config):
    """The same step in JAX, as the JAX peers' engine steps are built."""
    n, cotangent = config["qubits"], jnp.asarray(config["cotangent"])

    def loss(weights, features):
        values = jnp.tanh(features[:, :1] * weights[:n])
        return jnp.sum(values * cotangent), values

    return peers_jax.engine_step(jax.jit(jax.value_and_grad(loss, argnums=(0, 1),
                                                            has_aux=True)), config)


def classical_student(n_qubits):
    """The student's stand-in: ``Dense(n, tanh, no bias) → Dense(1)`` on one feature."""
    return keras.Sequential([keras.Input((1,)),
                             keras.layers.Dense(n_qubits, "tanh", use_bias=False),
                             keras.layers.Dense(1)])


def jax_meta(config, algorithm, constants):
    """The JAX peers' meta-step on tanh(x · w_i), vmapped over the tasks."""
    n = config["qubits"]
    step = peers_jax.JaxMeta(config, algorithm, constants,
                             task_expectations=lambda x, w: jnp.tanh(x * w[:n]))
    return lambda: step()[0]


def keras_floor(config):
    """``train_on_batch`` of one Dense layer under XLA on the episode's support examples."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    x, y = (tf.constant(np.reshape(config["episode"][key], (-1, 1)))
            for key in ("support_x", "support_y"))
    return lambda: model.train_on_batch(x, y, return_dict=True)["loss"]


def net_ratio(row, peer, default, peer_free, default_free):
    """Quartiles over repeats of (``peer`` − ``peer_free``) / (``default`` − ``default_free``),
    from the blocks of one repeat (the row's ``samples_ms``): the ratio of the circuits' share of
    each step, once each framework's circuit-free step is taken away."""
    samples = row["samples_ms"]
    return {**timing.quartiles([(p - pf) / (d - df) for p, pf, d, df in zip(
        samples[peer], samples[peer_free], samples[default], samples[default_free])]),
        "peer": peer}
