"""MetaLearner and Distiller under tf.distribute give the weights of single-process training; a run
killed and restarted with BackupAndRestore gives the weights of an uninterrupted run.

The oracle is single-process training in this (pytest) process: the same cases, built from the
same seeds, without a strategy. The distributed runs need fresh interpreters, since logical
devices and MultiWorkerMirroredStrategy must be set up before TensorFlow starts (and
``import tfq_meta`` starts it): a MirroredStrategy over 2 logical CPU devices in one process, and a
MultiWorkerMirroredStrategy of 2 worker processes on 127.0.0.1 (gRPC on loopback ports), killed
if they outlive their timeout. Both import this module to run the cases.

Tolerance: the replicas add their parts of the meta-batch in another order than one process does
(per-replica sums over their tasks, then the all-reduce), so float32 results differ by rounding
only: at most 4.8e-7 (a few ulps of values of size 1-6) after these 1-4 steps, the same for both
strategies. We allow ``rtol=2e-5, atol=2e-6``, 4x-40x above that; a wrong scaling of the replicas'
gradients changes the results by 1e-2 to 1 (checked by breaking it: summing instead of
averaging, 1/replicas instead of the task share on 2 + 1 tasks, the Distiller's unscaled
distillation or double-scaled student loss). The cases train with SGD, whose steps are
proportional to the gradients: Adam's first steps are ±learning_rate whatever the gradient's
size, so they neither reveal a wrong scale nor keep rounding small (a gradient entry that is 0
up to rounding gets a full step of either sign).
"""
import os
import shutil
import signal
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_fresh_python
from tfq_meta import Distiller, MetaLearner, models, tasks
from tfq_meta._compat.keras import DistributedFit
from tfq_meta.distillation import LogitsDistillation
from tfq_meta.distributed.workers import run_workers

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
FAMILY = tasks.Sinusoid(shots=5)
META_BATCH = 4  # 2 tasks per replica
RTOL, ATOL = 2e-5, 2e-6


# ---------------------------------------------------------------- cases, run with and without
# a strategy; each returns {name: array}: final weights, meta-gradients and last-epoch logs.

def meta_learner(optimizer, algorithm="maml"):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1), algorithm,
                       inner_steps=1, inner_lr=0.1)
    # Under a strategy "auto" resolves to no XLA; the oracle runs without it too (and so skips
    # the compiles).
    meta.compile(optimizer=optimizer, loss="mse", metrics=["mae"], jit_compile=False)
    return meta


def weights(model, prefix):
    return {f"{prefix}_weight_{i}": w.numpy() for i, w in enumerate(model.weights)}


def logs(history, prefix):
    return {f"{prefix}_log_{name}": np.float32(values[-1])
            for name, values in history.history.items()}


def meta_gradient_case():
    """One step of SGD(learning_rate=1) on episode 0: θ0 − θ1 is its meta-gradient."""
    meta = meta_learner(keras.optimizers.SGD(1.0))
    before = [w.numpy() for w in meta.trainable_weights]
    meta.fit(FAMILY.episodes(META_BATCH, seed=0), epochs=1, steps_per_epoch=1, verbose=0)
    return {f"meta_gradient_{i}": b - w.numpy()
            for i, (b, w) in enumerate(zip(before, meta.trainable_weights))}


def meta_training_case():
    """Meta-SGD (learned inner rates too): 2 epochs of 2 steps, validated after each epoch."""
    meta = meta_learner(keras.optimizers.SGD(0.02), "metasgd")
    history = meta.fit(FAMILY.episodes(META_BATCH, seed=0), epochs=2, steps_per_epoch=2,
                       validation_data=FAMILY.episodes(META_BATCH, seed=1, n_episodes=2),
                       verbose=0)
    return {**weights(meta, "metasgd"), **logs(history, "metasgd")}


def uneven_case():
    """Episodes of 3 tasks (split 2 + 1) and validation episodes of 5 (3 + 2): each replica's
    gradient and logs count by its share of the tasks."""
    meta = meta_learner(keras.optimizers.SGD(0.1), "fomaml")
    history = meta.fit(FAMILY.episodes(3, seed=2), epochs=1, steps_per_epoch=2,
                       validation_data=FAMILY.episodes(5, seed=3, n_episodes=1), verbose=0)
    return {**weights(meta, "uneven"), **logs(history, "uneven")}


def distiller_case():
    """Logit distillation plus a student loss on half-labeled data (sample weights 0/1), SGD."""
    keras.utils.set_random_seed(0)
    teacher = models.teacher(2, n_outputs=3, task="classification", n_qubits=2, n_layers=1)
    student = models.student(2, n_outputs=3, task="classification", n_qubits=1, n_layers=1)
    distiller = Distiller(teacher, student, LogitsDistillation(temperature=2.0),
                          student_loss_weight=0.3)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["accuracy"], jit_compile=False)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, np.pi, (32, 2)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    labeled = (np.arange(32) % 2).astype(np.float32)
    history = distiller.fit(x, y, sample_weight=labeled, batch_size=8, epochs=2, shuffle=False,
                            verbose=0)
    return {**weights(student, "distiller"), **logs(history, "distiller")}


CASES = (meta_gradient_case, meta_training_case, uneven_case, distiller_case)


# ------------------------------------------- upstream Keras still fails where _compat works around

def plain_fit_fails(model_class, n_examples):
    """Whether ``fit`` of a Dense model of ``model_class`` on one batch of ``n_examples`` raises
    (inside the strategy's scope)."""
    inputs = keras.Input((1,))
    model = model_class(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((n_examples, 1), np.float32)
    try:
        model.fit(x, x, batch_size=n_examples, epochs=1, verbose=0)
    except (ValueError, tf.errors.InvalidArgumentError):
        return True
    return False


class BuildsFromTheFirstReplica(DistributedFit, keras.Model):
    """Keras' train step with only the first-batch build worked around (not the logs)."""


def upstream_failures():
    """What plain Keras does under the current strategy: each True while the workaround in
    tfq_meta._compat.keras is still needed."""
    multi_worker = isinstance(tf.distribute.get_strategy(),
                              tf.distribute.MultiWorkerMirroredStrategy)
    failures = {"upstream_build_fails": plain_fit_fails(keras.Model, 4 if multi_worker else 3)}
    if multi_worker:
        failures["upstream_logs_fail"] = plain_fit_fails(BuildsFromTheFirstReplica, 4)
    return failures


def run_cases(strategy):
    assert strategy.num_replicas_in_sync == 2, strategy.num_replicas_in_sync
    results = {}
    with strategy.scope():
        for case in CASES:
            results.update(case())
        # A replica without a task of the episode is refused, before any step.
        meta = meta_learner(keras.optimizers.SGD(0.1))
        try:
            meta.fit(FAMILY.episodes(1, seed=0), steps_per_epoch=1, verbose=0)
        except ValueError as error:
            results["refused"] = np.array(str(error))
        results.update(upstream_failures())
    return results


# A fresh interpreter: set up the strategy first, then import tfq_meta (through this module).
WORKER = """
import json, os, sys
import numpy as np
import tensorflow as tf
if {mirrored}:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    index = 0
else:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
sys.path.insert(0, {tests!r})
import test_distributed_training
np.savez({out!r}.format(index), **test_distributed_training.run_cases(strategy))
"""


@pytest.fixture(scope="module")
def single_process():
    """The oracle: every case trained without a strategy, in this process."""
    results = {}
    for case in CASES:
        results.update(case())
    return results


def assert_same_training(distributed, single_process, upstream_failures):
    assert "fewer than the 2 replicas" in str(distributed.pop("refused", ""))
    # When this fails, Keras has fixed what tfq_meta._compat.keras works around: set the
    # workaround's `fixed_in` and drop it once every supported Keras has the fix.
    assert {name: bool(distributed.pop(name)) for name in upstream_failures} == \
        dict.fromkeys(upstream_failures, True)
    assert sorted(distributed) == sorted(single_process)
    for name, expected in single_process.items():
        np.testing.assert_allclose(distributed[name], expected, rtol=RTOL, atol=ATOL,
                                   err_msg=name)
    # The meta-gradient is of the mean over all 4 tasks: the sum over replicas of their
    # shares, not of their means (which would double it).
    assert max(np.max(np.abs(single_process[name])) for name in single_process
               if name.startswith("meta_gradient")) > 0.1


def test_the_single_process_step_is_the_meta_gradient_of_the_first_episode(single_process):
    meta = meta_learner(keras.optimizers.SGD(1.0))
    expected = meta.meta_gradients(FAMILY.sample(META_BATCH, seed=[0, 0]))
    for i, gradient in enumerate(expected):
        np.testing.assert_allclose(single_process[f"meta_gradient_{i}"], gradient, rtol=1e-5,
                                   atol=1e-6)


def test_mirrored_strategy_on_two_logical_cpus_equals_one_process(tmp_path, single_process):
    out = str(tmp_path / "mirrored-{}.npz")
    result = run_fresh_python(WORKER.format(mirrored=True, tests=TESTS, out=out),
                              PYTHONPATH=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_training(dict(np.load(out.format(0))), single_process, ["upstream_build_fails"])


def test_multi_worker_strategy_on_two_processes_equals_one_process(tmp_path, single_process):
    out = str(tmp_path / "worker-{}.npz")
    run_workers([sys.executable, "-c", WORKER.format(mirrored=False, tests=TESTS, out=out)],
                n_workers=2, timeout=240, env={**os.environ, "PYTHONPATH": ROOT,
                                               "TF_CPP_MIN_LOG_LEVEL": "2"})
    for index in range(2):
        assert_same_training(dict(np.load(out.format(index))), single_process,
                             ["upstream_build_fails", "upstream_logs_fail"])


# ---------------------------------------------------------------------------- BackupAndRestore

EPOCHS, STEPS = 3, 2


def resumable_training(backup_dir, kill_at_epoch=None, resume_episodes=True):
    """Meta-training with BackupAndRestore; the process kills itself (SIGKILL, no cleanup) when
    epoch ``kill_at_epoch`` begins, right after the backup of the epoch before."""
    meta = meta_learner(keras.optimizers.Adam(0.05))
    callbacks = [keras.callbacks.BackupAndRestore(backup_dir)]
    if kill_at_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: epoch == kill_at_epoch
            and os.kill(os.getpid(), signal.SIGKILL)))
    start = (lambda: int(meta.optimizer.iterations)) if resume_episodes else 0
    meta.fit(FAMILY.episodes(META_BATCH, seed=0, start=start), epochs=EPOCHS,
             steps_per_epoch=STEPS, callbacks=callbacks, verbose=0)
    return meta


def test_a_killed_run_restarted_with_backup_and_restore_ends_with_the_uninterrupted_weights(
        tmp_path):
    backup = str(tmp_path / "backup")
    killed = run_fresh_python(f"""
    import sys
    sys.path.insert(0, {TESTS!r})
    import test_distributed_training
    test_distributed_training.resumable_training({backup!r}, kill_at_epoch=2)
    """, PYTHONPATH=ROOT)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    shutil.copytree(backup, tmp_path / "backup_copy")  # a finished fit deletes its backup

    uninterrupted = resumable_training(str(tmp_path / "other"))
    restarted = resumable_training(backup)
    assert int(restarted.optimizer.iterations) == EPOCHS * STEPS
    for a, b in zip(restarted.weights, uninterrupted.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)

    # Without `start`, the restarted run meta-trains on episodes 0, 1 again instead of 4, 5.
    replayed = resumable_training(str(tmp_path / "backup_copy"), resume_episodes=False)
    assert int(replayed.optimizer.iterations) == EPOCHS * STEPS
    assert max(np.max(np.abs(a.numpy() - b.numpy()))
               for a, b in zip(replayed.weights, uninterrupted.weights)) > 1e-3


def test_episodes_start_at_a_given_or_computed_index():
    first = list(FAMILY.episodes(2, seed=3, n_episodes=3).as_numpy_iterator())
    later = list(FAMILY.episodes(2, seed=3, n_episodes=2, start=1).as_numpy_iterator())
    position = {"start": 2}
    computed = FAMILY.episodes(2, seed=3, n_episodes=1, start=lambda: position["start"])
    for got, want in zip(later + list(computed.as_numpy_iterator()), first[1:] + first[2:]):
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    position["start"] = 0  # read again by each new iteration
    np.testing.assert_array_equal(next(iter(computed))["query_y"], first[0]["query_y"])
    with pytest.raises(ValueError, match="`start` must be a non-negative int"):
        FAMILY.episodes(2, start=-1)


def test_episodes_start_at_a_mirrored_step_counter():
    # int() of a Keras variable fails under a strategy: `start` reads the variable itself.
    first = list(FAMILY.episodes(2, seed=3, n_episodes=3).as_numpy_iterator())
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        step = keras.Variable(2, dtype="int64", trainable=False)
    computed = FAMILY.episodes(2, seed=3, n_episodes=1, start=lambda: step)
    np.testing.assert_array_equal(next(iter(computed))["query_y"], first[2]["query_y"])
    step.assign(-1)
    with pytest.raises(Exception, match="`start` must be a non-negative int"):
        next(iter(computed))
