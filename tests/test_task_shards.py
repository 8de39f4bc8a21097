"""Task shards: a meta-batch's meta-gradients computed shard by shard under XLA, at once on the
executor, equal the whole meta-batch's (the Cirq MAML oracle, and the whole meta-batch's step on
TensorFlow's executor, without XLA)."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import meta_oracle
from meta_oracle import circuit_model, hybrid_model, regression_episode
from tfq_meta import MetaLearner
from tfq_meta.meta import task_shards


def learner(model, algorithm, shards, optimizer=None, jit_compile="auto", **options):
    meta = MetaLearner(model, algorithm, inner_steps=3, inner_lr=0.2, **options)
    meta.compile(optimizer=optimizer or keras.optimizers.Adam(0.05), loss="mse",
                 task_shards=shards, jit_compile=jit_compile)
    return meta


def test_a_sharded_maml_step_descends_the_oracles_meta_gradient(rng):
    """SGD(1): the step is minus the meta-gradient of the mean query loss over all 4 tasks,
    which central differences of the Cirq MAML objective give."""
    meta = learner(circuit_model(), "maml", 2, keras.optimizers.SGD(1.0),
                   **meta_oracle.plain("maml"))
    assert meta.jit_compile is True and meta._shards_run_at_once()
    episode = regression_episode(rng, tasks=4)
    layer = meta.model.get_layer("circuit")
    before = layer.circuit_weights.numpy()
    expected = meta_oracle.central_differences(
        lambda w: meta_oracle.maml_objective(meta_oracle.CirqModel(layer), episode, w, 3, 0.2),
        before)
    meta.train_on_batch(episode)
    np.testing.assert_allclose(before - layer.circuit_weights.numpy(), expected, atol=1e-7)
    assert np.linalg.norm(expected) > 1e-2
    # One XLA function, traced once, for shards of 2 tasks.
    compiled = meta._task_shards._compiled
    assert compiled.experimental_get_tracing_count() == 1
    (shard,), _ = compiled._list_all_concrete_functions()[0].structured_input_signature
    assert shard["support_x"].shape[0] == 2


@pytest.mark.parametrize("algorithm, model, options", [
    ("maml", hybrid_model, {}),  # the default stabilisers: learned rates, multi-step loss
    ("fomaml", circuit_model, {}),
    ("reptile", circuit_model, {}),
    ("metasgd", hybrid_model, {}),
    ("anil", hybrid_model, {"multi_step_loss_initial": True}),
])
def test_shards_train_as_the_whole_meta_batch_does(rng, algorithm, model, options):
    """4 shards under XLA against the whole meta-batch on the executor: an oracle that shares
    neither the sharding nor XLA, and needs no second XLA compile."""
    episodes = [regression_episode(rng, tasks=4) for _ in range(3)]
    weights, logs = {}, {}
    for shards, jit_compile in ((1, False), (4, "auto")):
        meta = learner(model(), algorithm, shards, jit_compile=jit_compile, **options)
        assert meta._shards_run_at_once() is (shards > 1)
        logs[shards] = [meta.train_on_batch(e, return_dict=True)["loss"] for e in episodes]
        weights[shards] = meta.get_weights()
    np.testing.assert_allclose(logs[4], logs[1], rtol=1e-9)
    for sharded, whole in zip(weights[4], weights[1]):
        np.testing.assert_allclose(sharded, whole, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cores, n_tasks, expected", [
    (2, 16, 2), (2, 5, 1), (2, None, 1), (2, 1, 1), (4, 6, 3), (4, 16, 4), (8, 4, 4), (1, 16, 1)])
def test_auto_takes_the_most_equal_shards_the_cores_run_at_once(monkeypatch, cores, n_tasks,
                                                                 expected):
    monkeypatch.setattr(task_shards, "usable_cores", lambda: cores)
    assert task_shards.shard_count("auto", n_tasks) == expected
    assert task_shards.shard_count(2, 16) == 2


def test_auto_runs_shards_with_several_cores_and_no_gpu(monkeypatch):
    monkeypatch.setattr(task_shards, "usable_cores", lambda: 1)
    assert not task_shards.runs_in_parallel("auto") and task_shards.runs_in_parallel(2)
    monkeypatch.setattr(task_shards, "usable_cores", lambda: 2)
    assert task_shards.runs_in_parallel("auto") and not task_shards.runs_in_parallel(1)
    monkeypatch.setattr(tf.config, "list_logical_devices",
                        lambda kind=None: ["/gpu:0"] if kind == "GPU" else [])
    assert not task_shards.runs_in_parallel("auto")


def test_usable_cores_follow_tensorflows_inter_op_threads(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 0)
    assert task_shards.usable_cores() == 4
    monkeypatch.setattr(tf.config.threading, "get_inter_op_parallelism_threads", lambda: 1)
    assert task_shards.usable_cores() == 1


@pytest.mark.parametrize("value", [0, -2, 2.5, "two", True, None])
def test_bad_task_shards_are_refused_at_compile(value):
    meta = MetaLearner(circuit_model(), "fomaml")
    with pytest.raises(ValueError, match=r'`task_shards` must be an int >= 1 or "auto"'):
        meta.compile(loss="mse", task_shards=value)


def test_shards_that_do_not_divide_the_tasks_are_refused(rng):
    meta = learner(circuit_model(), "fomaml", 3)
    with pytest.raises(ValueError, match="`task_shards`=3 must divide.*episodes of 4 tasks"):
        meta.train_on_batch(regression_episode(rng, tasks=4))


def test_shards_that_do_not_divide_a_task_count_unknown_when_tracing_are_refused(rng):
    meta = learner(circuit_model(), "fomaml", 2)
    spec = {key: tf.TensorSpec([None, None, 1], tf.float64)
            for key in ("support_x", "support_y", "query_x", "query_y")}
    step = tf.function(meta._task_shards.__call__, input_signature=[spec])
    episode = {key: tf.constant(value) for key, value in regression_episode(rng, tasks=4).items()}
    step(episode)  # 4 tasks in 2 shards
    episode = {key: tf.constant(value) for key, value in regression_episode(rng, tasks=3).items()}
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="`task_shards`=2 must divide the number of tasks of every episode"):
        step(episode)


def test_without_xla_or_under_a_strategy_there_are_no_shards():
    meta = MetaLearner(circuit_model(), "fomaml")
    meta.compile(loss="mse", task_shards=2, jit_compile=False)
    assert not meta._shards_run_at_once()
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        meta = MetaLearner(circuit_model(), "fomaml")
        meta.compile(loss="mse", task_shards=2)
        assert not meta._shards_run_at_once()


def test_fit_with_several_steps_per_execution_runs_the_shards_in_its_loop(rng):
    episodes = [regression_episode(rng, tasks=4) for _ in range(4)]
    dataset = tf.data.Dataset.from_tensor_slices(
        {key: np.stack([e[key] for e in episodes]) for key in episodes[0]})
    weights = {}
    for shards, steps_per_execution in ((1, 1), (2, 2)):
        keras.utils.set_random_seed(0)
        meta = MetaLearner(circuit_model(), "maml", inner_steps=2, inner_lr=0.2)
        meta.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", task_shards=shards,
                     steps_per_execution=steps_per_execution)
        meta.fit(dataset, epochs=1, verbose=0)
        weights[shards] = meta.get_weights()
    assert meta._task_shards._compiled.experimental_get_tracing_count() == 1
    for sharded, whole in zip(weights[2], weights[1]):
        np.testing.assert_allclose(sharded, whole, rtol=1e-7, atol=1e-9)
    assert not np.allclose(weights[2][0], circuit_model().get_weights()[0])
