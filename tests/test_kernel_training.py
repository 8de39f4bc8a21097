"""Training quantum kernels: kernel-target alignment against its formula, alignment training that
raises alignment and accuracy, and a meta-learned embedding that beats the untrained one on
held-out few-shot tasks."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from conftest import run_fresh_python
from tfq_meta import circuits, tasks
from tfq_meta.kernels import (QSVC, KernelAlignment, KernelMetaLearner, ProjectedQuantumKernel,
                              QuantumKernel, kernel_target_alignment, ridge_predictions)


def numpy_alignment(gram, labels):
    target = np.where(labels[:, None] == labels[None], 1.0, -1.0)
    return np.sum(gram * target) / (np.linalg.norm(gram) * np.linalg.norm(target))


def test_alignment_equals_its_formula(rng):
    gram = rng.uniform(0, 1, (6, 6))
    labels = rng.integers(0, 3, 6)
    np.testing.assert_allclose(float(kernel_target_alignment(gram, labels)),
                               numpy_alignment(gram, labels), rtol=1e-12)


def test_ridge_predictions_equal_numpy_solve(rng):
    support_gram = rng.uniform(0, 1, (2, 4, 4))
    support_gram = support_gram @ np.swapaxes(support_gram, 1, 2)
    query_gram = rng.uniform(0, 1, (2, 3, 4))
    labels = rng.integers(0, 2, (2, 4))
    scores = ridge_predictions(tf.constant(support_gram), tf.constant(labels),
                               tf.constant(query_gram), 2, 0.3).numpy()
    for t in range(2):
        coefficients = np.linalg.solve(support_gram[t] + 0.3 * np.eye(4), np.eye(2)[labels[t]])
        np.testing.assert_allclose(scores[t], query_gram[t] @ coefficients, rtol=1e-10)


KERNEL_CLASSES = [QuantumKernel, ProjectedQuantumKernel]


def fresh_kernel(kernel_class):
    """Never built: its initial values (the input scales) are set when it is first built."""
    return kernel_class(circuits.reuploading_circuit(2, 1, trainable_scaling=True))


@pytest.mark.parametrize("kernel_class", KERNEL_CLASSES)
def test_a_fresh_kernel_builds_inside_a_traced_function(kernel_class):
    kernel = fresh_kernel(kernel_class)
    x = tf.constant(replica_data()[0])
    traced = tf.function(lambda points: kernel(points))(x).numpy()
    assert kernel.built
    np.testing.assert_allclose(traced, kernel.gram(x.numpy()), atol=1e-6)


@pytest.mark.parametrize("kernel_class", KERNEL_CLASSES)
def test_alignment_trains_a_fresh_kernel(kernel_class):
    keras.utils.set_random_seed(0)
    kernel = fresh_kernel(kernel_class)
    x, y = replica_data()
    aligner = KernelAlignment(kernel)
    aligner.compile(optimizer=keras.optimizers.Adam(0.05))
    before = numpy_alignment(kernel.gram(x), y)
    weights = [w.copy() for w in kernel.get_weights()]
    history = aligner.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0).history
    # Each step logs the loss of the weights it starts from: the first is the fresh kernel's.
    np.testing.assert_allclose(history["loss"][0], 1.0 - before, atol=1e-5)
    assert not np.allclose(kernel.get_weights()[0], weights[0])
    assert numpy_alignment(kernel.gram(x), y) > before
    assert history["loss"][-1] < history["loss"][0]


def numpy_ridge_loss(kernel, episode, ridge=0.1, temperature=0.1):
    """The meta-learner's query cross-entropy, from the kernel's Gram matrices and NumPy."""
    losses = []
    for sx, sy, qx, qy in zip(episode["support_x"], episode["support_y"], episode["query_x"],
                              episode["query_y"]):
        alpha = np.linalg.solve(kernel.gram(sx) + ridge * np.eye(len(sx)), np.eye(2)[sy])
        scores = kernel.gram(qx, sx) @ alpha / temperature
        scores -= scores.max(axis=1, keepdims=True)
        log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        losses.append(-log_p[np.arange(len(qy)), qy])
    return np.mean(losses)


@pytest.mark.parametrize("kernel_class", KERNEL_CLASSES)
def test_meta_learner_trains_a_fresh_kernel(kernel_class):
    keras.utils.set_random_seed(0)
    kernel = fresh_kernel(kernel_class)
    family = tasks.FewShotClassification(*replica_data(), n_ways=2, shots=2, query_shots=2)
    episode = family.sample(3, seed=0)
    learner = KernelMetaLearner(kernel, n_ways=2)
    learner.compile(optimizer=keras.optimizers.Adam(0.05))
    expected = numpy_ridge_loss(kernel, episode)
    weights = kernel.get_weights()[0].copy()
    dataset = tf.data.Dataset.from_tensors(episode).repeat()
    history = learner.fit(dataset, epochs=4, steps_per_epoch=1, verbose=0).history
    np.testing.assert_allclose(history["loss"][0], expected, rtol=1e-4)
    assert not np.allclose(kernel.get_weights()[0], weights)
    assert history["loss"][-1] < history["loss"][0]


def digits_3_vs_8():
    data = load_digits()
    keep = np.isin(data.target, [3, 8])
    x = PCA(2, random_state=0).fit_transform(data.data[keep])
    x = MinMaxScaler((0, np.pi)).fit_transform(x).astype(np.float32)
    return train_test_split(x, (data.target[keep] == 8).astype(np.int32), train_size=60,
                            test_size=100, random_state=0, stratify=data.target[keep])


def test_alignment_training_raises_alignment_and_accuracy():
    x_train, x_test, y_train, y_test = digits_3_vs_8()
    gains = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        kernel = QuantumKernel(circuits.reuploading_circuit(2, 2))
        before = float(kernel_target_alignment(kernel.gram(x_train), y_train))
        accuracy_before = QSVC(kernel).fit(x_train, y_train).score(x_test, y_test)
        aligner = KernelAlignment(kernel)
        aligner.compile(optimizer=keras.optimizers.Adam(0.05))
        history = aligner.fit(x_train, y_train, batch_size=20, epochs=30, verbose=0)
        after = float(kernel_target_alignment(kernel.gram(x_train), y_train))
        accuracy_after = QSVC(kernel).fit(x_train, y_train).score(x_test, y_test)
        assert after > before + 0.15, (seed, before, after)
        assert history.history["alignment"][-1] > history.history["alignment"][0]
        gains.append(accuracy_after - accuracy_before)
    assert min(gains) > 0 and np.mean(gains) >= 0.02, gains


def shared_subspace_task(rng, n_features=8, shots=5, query_shots=10):
    """A 2-way task whose label is the side of a random line through the centre of the first two
    features; the other features are noise. What tasks share (which features matter) is what an
    embedding can meta-learn."""
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    points = {0: [], 1: []}
    while min(len(p) for p in points.values()) < shots + query_shots:
        x = rng.uniform(0, np.pi, n_features)
        points[int((x[:2] - np.pi / 2) @ direction > 0)].append(x)
    split = {label: np.array(p[:shots + query_shots]) for label, p in points.items()}
    support = np.concatenate([split[0][:shots], split[1][:shots]]).astype(np.float32)
    query = np.concatenate([split[0][shots:], split[1][shots:]]).astype(np.float32)
    return {"support_x": support, "support_y": np.repeat([0, 1], shots).astype(np.int32),
            "query_x": query, "query_y": np.repeat([0, 1], query_shots).astype(np.int32)}


def few_shot_accuracy(kernel, episode):
    return np.mean([QSVC(kernel).fit(sx, sy).score(qx, qy) for sx, sy, qx, qy in zip(
        episode["support_x"], episode["support_y"], episode["query_x"], episode["query_y"])])


@pytest.mark.parametrize("seed", [0, 1])
def test_meta_learned_embedding_beats_the_untrained_one_on_held_out_tasks(seed):
    family = tasks.FunctionTasks(shared_subspace_task)
    held_out = family.sample(100, seed=123)  # never used in meta-training (seeds 0, 1)
    keras.utils.set_random_seed(seed)
    kernel = QuantumKernel(circuits.reuploading_circuit(4, 1, n_features=8,
                                                        trainable_scaling=True))
    untrained = few_shot_accuracy(kernel, held_out)
    learner = KernelMetaLearner(kernel, n_ways=2)
    learner.compile(optimizer=keras.optimizers.Adam(0.05))
    learner.fit(family.episodes(8, seed=seed), epochs=1, steps_per_epoch=60, verbose=0)
    meta_learned = few_shot_accuracy(kernel, held_out)
    assert meta_learned > untrained + 0.1, (untrained, meta_learned)


# One SGD step of each trainer under a MirroredStrategy of 2 logical CPUs, in a fresh process
# (logical devices must be set before TensorFlow starts). Prints the kernel weights after it.
MIRRORED_SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
sys.path.insert(0, {tests!r})
import test_kernel_training as cases
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    print("WEIGHTS " + json.dumps({{name: case().tolist() for name, case in cases.REPLICA_CASES}}))
"""


def replica_kernel():
    kernel = QuantumKernel(circuits.reuploading_circuit(2, 1, trainable_scaling=True))
    kernel.build()
    kernel.circuit_weights.assign(np.linspace(0.3, 2.0, kernel.circuit_weights.shape[0]))
    return kernel


def replica_data():
    rng = np.random.default_rng(7)
    return rng.uniform(0, np.pi, (8, 2)).astype(np.float32), np.array([0, 1] * 4, np.int32)


def alignment_step():
    aligner = KernelAlignment(replica_kernel())
    aligner.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = replica_data()
    aligner.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return aligner.kernel.circuit_weights.numpy()


def meta_kernel_step():
    learner = KernelMetaLearner(replica_kernel(), n_ways=2)
    learner.compile(optimizer=keras.optimizers.SGD(0.5))
    family = tasks.FewShotClassification(*replica_data(), n_ways=2, shots=1, query_shots=1)
    episodes = family.episodes(4, seed=0)
    learner.fit(episodes, epochs=1, steps_per_epoch=1, verbose=0)
    return learner.kernel.circuit_weights.numpy()


REPLICA_CASES = (("alignment", alignment_step), ("meta_kernel", meta_kernel_step))


def test_trainers_average_the_replicas_gradients():
    """Each replica gets half of the batch (alignment) or of the tasks (meta-learner). The
    replicas' gradients are averaged, not summed: the step equals one process's step on the mean
    of the halves' losses (alignment) or on the whole meta-batch (meta-learner)."""
    result = run_fresh_python(MIRRORED_SCRIPT.format(tests=os.path.dirname(__file__)))
    lines = [line for line in result.stdout.splitlines() if line.startswith("WEIGHTS ")]
    assert lines, result.stderr[-5000:]
    distributed = {name: np.array(value) for name, value in json.loads(lines[-1][8:]).items()}

    kernel = replica_kernel()
    x, y = replica_data()
    with tf.GradientTape() as tape:
        loss = tf.add_n([1.0 - kernel_target_alignment(kernel(x[half]), y[half])
                         for half in (slice(0, 4), slice(4, 8))]) / 2
    expected = kernel.circuit_weights.numpy() - 0.5 * tape.gradient(
        loss, kernel.circuit_weights).numpy()
    np.testing.assert_allclose(distributed["alignment"], expected, atol=2e-6)
    np.testing.assert_allclose(distributed["meta_kernel"], meta_kernel_step(), atol=2e-6)
