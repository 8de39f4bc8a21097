"""Quantum kernels on scikit-learn's digits: QSVC, alignment training and a meta-learned kernel.

1. **QSVC, ten classes.** 8 PCA components of the digits, scaled to angles, one per qubit. A
   ``QSVC`` on the fidelity kernel of the angle encoding (8 qubits) and on the projected quantum
   kernel of the same encoding, against scikit-learn's ``SVC`` with an RBF kernel.
2. **Kernel-target alignment, 3 vs 8.** A trainable 2-qubit re-uploading embedding of 2 PCA
   components, trained by ``KernelAlignment`` (``fit``); alignment and QSVC test accuracy before
   and after.
3. **Meta-learned kernel, few-shot.** 2-way 5-shot tasks from all ten classes, meta-training
   tasks from one half of the examples and test tasks from the other. A 4-qubit embedding of 16
   PCA components with trainable input scales is meta-learned by ``KernelMetaLearner``; a QSVC
   fitted on each test task's 10 support examples classifies its 20 queries, with the untrained
   and the meta-learned embedding (and an RBF SVC for reference).

Run:  python examples/qsvc_digits.py        (about 2 minutes on 2 cores)
Writes examples/output/qsvc_digits.png.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from tfq_meta import circuits, tasks  # noqa: E402
from tfq_meta.kernels import (QSVC, KernelAlignment, KernelMetaLearner,  # noqa: E402
                              ProjectedQuantumKernel, QuantumKernel, kernel_target_alignment)
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
META_STEPS, TEST_TASKS = 150, 200


def angles(x_train, x_test, n_components):
    """PCA components fitted on the training examples, scaled to [0, π]."""
    pca = PCA(n_components, random_state=0).fit(x_train)
    scaler = MinMaxScaler((0, np.pi)).fit(pca.transform(x_train))

    def transform(x):
        return np.clip(scaler.transform(pca.transform(x)), 0, np.pi).astype(np.float32)

    return transform(x_train), transform(x_test)


def ten_classes(data):
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, train_size=600, test_size=400, stratify=data.target,
        random_state=0)
    x_train, x_test = angles(x_train, x_test, 8)
    encoding = circuits.angle_encoding(8)
    models = {"QSVC, fidelity kernel": QSVC(QuantumKernel(encoding), C=10.0),
              "QSVC, projected kernel": QSVC(ProjectedQuantumKernel(encoding, gamma=0.5),
                                             C=10.0),
              "SVC, RBF kernel": SVC(C=10.0)}
    return {name: model.fit(x_train, y_train).score(x_test, y_test)
            for name, model in models.items()}


def alignment(data):
    keep = np.isin(data.target, [3, 8])
    x_train, x_test, y_train, y_test = train_test_split(
        data.data[keep], (data.target[keep] == 8).astype(np.int32), train_size=60,
        test_size=100, stratify=data.target[keep], random_state=0)
    x_train, x_test = angles(x_train, x_test, 2)
    keras.utils.set_random_seed(0)
    kernel = QuantumKernel(circuits.reuploading_circuit(2, 2))

    def measure():
        return (float(kernel_target_alignment(kernel.gram(x_train), y_train)),
                QSVC(kernel).fit(x_train, y_train).score(x_test, y_test))

    before = measure()
    aligner = KernelAlignment(kernel)
    aligner.compile(optimizer=keras.optimizers.Adam(0.05))
    history = aligner.fit(x_train, y_train, batch_size=20, epochs=30, verbose=0)
    return before, measure(), history.history["alignment"]


def few_shot(data):
    x_train, x_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.5, stratify=data.target, random_state=0)
    x_train, x_test = angles(x_train, x_test, 16)
    train = tasks.FewShotClassification(x_train, y_train, n_ways=2, shots=5, query_shots=10)
    test = tasks.FewShotClassification(x_test, y_test, n_ways=2, shots=5,
                                       query_shots=10).sample(TEST_TASKS, seed=123)
    keras.utils.set_random_seed(0)
    kernel = QuantumKernel(circuits.reuploading_circuit(4, 1, n_features=16,
                                                        trainable_scaling=True))
    accuracy = {"QSVC, untrained embedding": task_accuracies(lambda: QSVC(kernel), test)}
    learner = KernelMetaLearner(kernel, n_ways=2)
    learner.compile(optimizer=keras.optimizers.Adam(0.05))
    history = learner.fit(train.episodes(8, seed=0), epochs=META_STEPS // 10, steps_per_epoch=10,
                          verbose=2)
    accuracy["QSVC, meta-learned embedding"] = task_accuracies(lambda: QSVC(kernel), test)
    accuracy["SVC, RBF kernel"] = task_accuracies(SVC, test)
    return accuracy, history.history


def task_accuracies(classifier, episode):
    return np.array([classifier().fit(sx, sy).score(qx, qy) for sx, sy, qx, qy in zip(
        episode["support_x"], episode["support_y"], episode["query_x"], episode["query_y"])])


def main():
    data = load_digits()
    print("1. Ten-class digits, 600 training and 400 test examples, 8 features on 8 qubits:")
    for name, score in ten_classes(data).items():
        print(f"   {name:<26} test accuracy {100 * score:.1f}%")

    (alignment_before, accuracy_before), (alignment_after, accuracy_after), curve = \
        alignment(data)
    print("\n2. Digits 3 vs 8, 60 training examples, 2-qubit trainable embedding:")
    print(f"   kernel-target alignment {alignment_before:.3f} -> {alignment_after:.3f}; QSVC test "
          f"accuracy {100 * accuracy_before:.1f}% -> {100 * accuracy_after:.1f}%")

    print(f"\n3. 2-way 5-shot digit tasks; meta-training {META_STEPS} steps of 8 tasks:")
    accuracy, history = few_shot(data)
    print(f"   on {TEST_TASKS} test tasks (examples never seen in meta-training), query accuracy:")
    for name, values in accuracy.items():
        print(f"   {name:<30} {100 * values.mean():.1f}% "
              f"± {100 * values.std() / np.sqrt(len(values)):.1f}")
    plot(curve, accuracy, history)


def plot(alignment_curve, accuracy, history):
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.4))
    left.plot(np.arange(1, len(alignment_curve) + 1), alignment_curve, marker="o")
    left.set(xlabel="epoch", ylabel="kernel-target alignment (batches)",
             title="2. Alignment training, digits 3 vs 8")
    middle.plot(10 * np.arange(1, len(history["accuracy"]) + 1),
                100 * np.array(history["accuracy"]), marker="o")
    middle.set(xlabel="meta-training steps", ylabel="query accuracy of ridge (%)",
               title="3. Meta-training the embedding")
    names = list(accuracy)
    right.bar(range(len(names)), [100 * accuracy[n].mean() for n in names],
              yerr=[100 * accuracy[n].std() / np.sqrt(len(accuracy[n])) for n in names],
              capsize=4, color=["tab:grey", "tab:green", "tab:blue"])
    right.set_xticks(range(len(names)), [n.replace(", ", "\n").replace(" embedding", "")
                                        for n in names])
    right.set(ylabel="test-task query accuracy (%)", ylim=(50, 100),
              title="3. Few-shot QSVC on held-out tasks")
    figure.tight_layout()
    OUTPUT.mkdir(exist_ok=True)
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "qsvc_digits.png")
    print(f"\nPlot: {OUTPUT / 'qsvc_digits.png'}")


if __name__ == "__main__":
    main()
