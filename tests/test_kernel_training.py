"""Training quantum kernels: kernel-target alignment against its formula, alignment training that
raises alignment and accuracy, and a meta-learned embedding that beats the untrained one on
held-out few-shot tasks."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from tfq_meta import circuits, tasks
from tfq_meta.kernels import (QSVC, KernelAlignment, KernelMetaLearner, QuantumKernel,
                              kernel_target_alignment, ridge_predictions)


def test_alignment_equals_its_formula(rng):
    gram = rng.uniform(0, 1, (6, 6))
    labels = rng.integers(0, 3, 6)
    target = np.where(labels[:, None] == labels[None], 1.0, -1.0)
    expected = np.sum(gram * target) / (np.linalg.norm(gram) * np.linalg.norm(target))
    np.testing.assert_allclose(float(kernel_target_alignment(gram, labels)), expected, rtol=1e-12)


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
