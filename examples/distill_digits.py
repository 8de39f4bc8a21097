"""Distilling an 8-qubit teacher into a 4-qubit student with few labels (scikit-learn digits).

The digits 0-4 of scikit-learn's 8×8 digits are reduced by PCA (fitted on the training split) to
8 angles in [0, π]. The teacher (``tfq_meta.models.teacher``: 8 qubits, 4 re-uploading layers)
is trained on every training label. The student (``tfq_meta.models.student``: a Dense projection
to 4 angles, 4 qubits, 2 layers) gets only LABELS_PER_CLASS labels per class, the low-label
regime distillation is for; the rest of the training split is an unlabeled transfer set.

Compared on the test split, over three seeds (labeled subset and initial weights):
  * scratch:   the student trained on its few labels alone;
  * distilled: the student trained by ``tfq_meta.Distiller`` on the teacher's softened logits over
               the whole transfer set (LogitsDistillation, T = 2) plus its few labels
               (``sample_weight`` 0 marks the unlabeled examples);
  * all labels: the student trained on every label, what its circuit can reach at best.
The table gives accuracy, parameters, circuit depth and qubits, and inference time against the
teacher's (``bench/bench_distill.py`` measures that ratio properly); the plot shows test accuracy
during training. ``--classes 10`` runs all ten digits, where the 4-qubit student's capacity (not
the distillation) limits it.

Run:  python examples/distill_digits.py            (about 3 minutes on 2 cores)
Writes examples/output/distill_digits.png.
"""
import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402
from tqdm import tqdm  # noqa: E402

from tfq_meta import Distiller, models  # noqa: E402
from tfq_meta.distillation import LogitsDistillation  # noqa: E402
from tfq_meta.models import circuit_summary  # noqa: E402
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
N_FEATURES, LABELS_PER_CLASS, SEEDS = 8, 5, (0, 1, 2)
TEACHER_EPOCHS, SCRATCH_EPOCHS, DISTILL_EPOCHS = 40, 150, 40
TEMPERATURE, STUDENT_LOSS_WEIGHT = 2.0, 0.1
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
COLORS = {"teacher": "grey", "scratch": "tab:orange", "distilled": "tab:green",
          "all labels": "tab:blue"}


def digits(n_classes):
    """Train/test features (8 PCA angles in [0, π], fitted on the training split) and labels."""
    data = load_digits()
    keep = data.target < n_classes
    x_train, x_test, y_train, y_test = train_test_split(
        data.data[keep], data.target[keep], test_size=0.3, stratify=data.target[keep],
        random_state=0)
    pca = PCA(N_FEATURES).fit(x_train)
    scaler = MinMaxScaler((0, np.pi)).fit(pca.transform(x_train))

    def angles(x):
        return np.clip(scaler.transform(pca.transform(x)), 0, np.pi).astype(np.float32)

    return angles(x_train), y_train, angles(x_test), y_test


def teacher_model(n_classes):
    return models.teacher(N_FEATURES, n_classes, "classification", n_qubits=8, n_layers=4)


def student_model(n_classes):
    return models.student(N_FEATURES, n_classes, "classification", n_qubits=4, n_layers=2)


def train(model, x, y, epochs, batch_size, test, sample_weight=None):
    """Fits with Adam; returns the test accuracy after each epoch."""
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=LOSS, weighted_metrics=["accuracy"])
    history = model.fit(x, y, sample_weight=sample_weight, epochs=epochs, batch_size=batch_size,
                        validation_data=test, verbose=0)
    return history.history["val_accuracy"]


def distill(teacher, student, x, y, labeled, test):
    """The student distilled from the teacher on all of ``x``, with labels only where
    ``labeled``; the unlabeled examples' labels are replaced by 0 and weighted 0."""
    distiller = Distiller(teacher, student, LogitsDistillation(TEMPERATURE),
                          student_loss_weight=STUDENT_LOSS_WEIGHT)
    distiller.compile(optimizer=keras.optimizers.Adam(0.02), loss=LOSS,
                      weighted_metrics=["accuracy"])
    history = distiller.fit(x, np.where(labeled, y, 0), sample_weight=labeled.astype(np.float32),
                            epochs=DISTILL_EPOCHS, batch_size=32, validation_data=test, verbose=0)
    return history.history["val_accuracy"]


def labeled_subset(y, n_classes, seed):
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.choice(np.flatnonzero(y == c), LABELS_PER_CLASS, replace=False)
                             for c in range(n_classes)])
    return np.isin(np.arange(len(y)), chosen)


def inference_milliseconds(model, x, repeats=15):
    model.predict_on_batch(x)  # traces
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(n_classes):
    x_train, y_train, x_test, y_test = digits(n_classes)
    test = (x_test, y_test)
    progress = tqdm(total=1 + 3 * len(SEEDS), desc="training", unit="model")
    keras.utils.set_random_seed(0)
    teacher = teacher_model(n_classes)
    curves = {"teacher": train(teacher, x_train, y_train, TEACHER_EPOCHS, 32, test)}
    progress.update()
    accuracy = {"teacher": [curves["teacher"][-1]], "scratch": [], "distilled": [],
                "all labels": []}
    for seed in SEEDS:
        labeled = labeled_subset(y_train, n_classes, seed)
        keras.utils.set_random_seed(seed)
        initial = student_model(n_classes).get_weights()
        runs = {
            "scratch": lambda s: train(s, x_train[labeled], y_train[labeled], SCRATCH_EPOCHS, 16,
                                       test),
            "distilled": lambda s: distill(teacher, s, x_train, y_train, labeled, test),
            "all labels": lambda s: train(s, x_train, y_train, DISTILL_EPOCHS, 32, test),
        }
        for name, run in runs.items():
            student = student_model(n_classes)
            student.set_weights(initial)
            curve = run(student)
            accuracy[name].append(curve[-1])
            curves.setdefault(name, curve)  # the first seed's curve is plotted
            progress.update()
    progress.close()

    times = {"teacher": inference_milliseconds(teacher, x_test),
             "student": inference_milliseconds(student, x_test)}
    report(n_classes, len(x_train), accuracy, teacher, student, times)
    plot(n_classes, curves, accuracy, len(x_train))


def report(n_classes, n_train, accuracy, teacher, student, times):
    sizes = {"teacher": circuit_summary(teacher), "student": circuit_summary(student)}
    print(f"\nDigits 0-{n_classes - 1}: {n_train} training examples; the students see "
          f"{LABELS_PER_CLASS * n_classes} labels ({LABELS_PER_CLASS} per class). Test accuracy "
          f"(mean ± std over {len(SEEDS)} seeds):\n")
    print(f"{'model':<22}{'accuracy':>16}{'qubits':>8}{'depth':>7}{'circuit/total params':>22}"
          f"{'inference ms':>14}{'speed-up':>10}")
    for name, values in accuracy.items():
        size = sizes["teacher" if name == "teacher" else "student"]
        ms = times["teacher" if name == "teacher" else "student"]
        spread = f" ± {100 * np.std(values):.1f}" if len(values) > 1 else ""
        label = name if name == "teacher" else f"student, {name}"
        print(f"{label:<22}{f'{100 * np.mean(values):.1f}{spread}':>16}{size['qubits']:>8}"
              f"{size['circuit_depth']:>7}"
              f"{size['circuit_parameters']:>12}/{size['total_parameters']:<9}"
              f"{ms:>14.1f}{times['teacher'] / ms:>9.1f}x")

    gain = 100 * (np.mean(accuracy["distilled"]) - np.mean(accuracy["scratch"]))
    share = np.mean(accuracy["distilled"]) / np.mean(accuracy["teacher"])
    capacity = np.mean(accuracy["all labels"]) / np.mean(accuracy["teacher"])
    print(f"\nGoal distilled >= scratch + 3 points: {gain:+.1f} points -> "
          f"{'met' if gain >= 3 else 'MISSED'}")
    print(f"Goal distilled >= 95% of the teacher: {100 * share:.1f}% -> "
          f"{'met' if share >= 0.95 else 'MISSED'} (the student with every label reaches "
          f"{100 * capacity:.1f}%)")
    print(f"Inference {times['teacher'] / times['student']:.1f}x faster than the teacher here "
          "(goal >= 4x; bench/bench_distill.py measures it on an idle machine).")


def plot(n_classes, curves, accuracy, n_train):
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    steps_per_epoch = {"teacher": -(-n_train // 32), "distilled": -(-n_train // 32),
                       "all labels": -(-n_train // 32),
                       "scratch": -(-LABELS_PER_CLASS * n_classes // 16)}
    for name, curve in curves.items():
        steps = steps_per_epoch[name] * np.arange(1, len(curve) + 1)
        left.plot(steps, 100 * np.array(curve), label=name if name == "teacher" else
                  f"student, {name}", color=COLORS[name],
                  linestyle="--" if name == "teacher" else "-")
    left.set(xlabel="optimizer steps", ylabel="test accuracy (%)",
             title="Test accuracy during training (first seed)")
    left.legend()
    names = list(accuracy)
    right.bar(names, [100 * np.mean(accuracy[n]) for n in names],
              yerr=[100 * np.std(accuracy[n]) for n in names], capsize=4,
              color=[COLORS[n] for n in names])
    right.axhline(95 * np.mean(accuracy["teacher"]), color="black", linewidth=0.8, linestyle=":",
                  label="95% of the teacher")
    right.set(ylabel="test accuracy (%)", title=f"Digits 0-{n_classes - 1}, "
              f"{LABELS_PER_CLASS} labels per class for the students")
    right.legend(loc="lower right")
    figure.tight_layout()
    OUTPUT.mkdir(exist_ok=True)
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "distill_digits.png")
    print(f"Plot: {OUTPUT / 'distill_digits.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=5, choices=range(2, 11),
                        help="digits 0 to classes-1 (default 5)")
    main(parser.parse_args().classes)
