"""N-way K-shot digit classification on held-out classes with a meta-learned quantum model.

scikit-learn's 8×8 digits are split by class into meta-training, validation and test classes
(disjoint); pixels are reduced by PCA (fitted on training classes only) to 4 angles, one per
qubit. A 4-qubit re-uploading student with an N-logit readout is meta-trained by MAML, Meta-SGD
and ANIL with the library's defaults. On 600 tasks drawn from the test classes (never seen in
meta-training) each is compared, after the same 5 inner steps, with the same model adapted from
scratch (every weight, the default inner loop), and with two classical few-shot learners fitted
per task on the same 4 features (logistic regression, 1-NN). How hard a
split is depends on which classes are held out (1 vs 8 is hard at 4 features), so the whole
comparison runs on three random class splits.

Run:  python examples/few_shot_digits.py          (a few minutes on 2 cores)
Writes examples/output/few_shot_digits.png.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from tfq_meta import MetaLearner, models, tasks  # noqa: E402
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
N_WAYS, SHOTS, QUERY_SHOTS, N_FEATURES = 2, (1, 5), 10, 4
TEST_TASKS, ADAPTATION_STEPS = 600, 5
META_BATCH, META_STEPS = 16, 300
SPLITS = (0, 1, 2)  # seeds of three random assignments of the 10 classes to train/val/test
ALGORITHMS = ("maml", "metasgd", "anil")
METHODS = (*ALGORITHMS, "scratch", "logistic regression", "1-nearest neighbour")
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def student():
    return models.student(n_features=N_FEATURES, n_outputs=N_WAYS, task="classification",
                          n_qubits=4, n_layers=2)


def learner(algorithm, seed):
    keras.utils.set_random_seed(seed)
    meta = MetaLearner(student(), algorithm)
    meta.compile(loss=LOSS, metrics=["accuracy"])
    return meta


def classical_accuracy(classifier, episode):
    scores = [classifier().fit(sx, sy).score(qx, qy) for sx, sy, qx, qy in
              zip(episode["support_x"], episode["support_y"], episode["query_x"],
                  episode["query_y"])]
    return np.array(scores)


def quantum_accuracy(meta, episode):
    logits = meta.adapt_and_predict(episode["support_x"], episode["support_y"],
                                    episode["query_x"], steps=ADAPTATION_STEPS).numpy()
    return np.mean(np.argmax(logits, axis=-1) == episode["query_y"], axis=1)


def main():
    OUTPUT.mkdir(exist_ok=True)
    accuracies, curves = {}, {}
    for split in SPLITS:
        learners = {algorithm: meta_train(algorithm, split) for algorithm in ALGORITHMS}
        learners["scratch"] = learner("maml", seed=1)
        for k in SHOTS:
            families = tasks.digits(N_WAYS, shots=k, query_shots=QUERY_SHOTS,
                                    n_features=N_FEATURES, seed=split)
            episode = families["test"].sample(TEST_TASKS, seed=2026)
            for name, model in learners.items():
                accuracies[split, name, k] = quantum_accuracy(model, episode)
                curves[split, name, k] = model.adaptation_losses(episode, 10).mean(axis=1)
            accuracies[split, "logistic regression", k] = classical_accuracy(
                lambda: LogisticRegression(C=10.0, max_iter=1000), episode)
            accuracies[split, "1-nearest neighbour", k] = classical_accuracy(
                lambda: KNeighborsClassifier(1), episode)
        print_table(split, families["test"].classes.tolist(), accuracies)
    plot(accuracies, curves)
    print(f"\nplot: {OUTPUT / 'few_shot_digits.png'}")


def meta_train(algorithm, split):
    families = tasks.digits(N_WAYS, shots=5, query_shots=QUERY_SHOTS, n_features=N_FEATURES,
                            seed=split)
    print(f"\nclass split {split}: meta-training {algorithm} on classes "
          f"{families['train'].classes.tolist()}, validating on "
          f"{families['validation'].classes.tolist()}")
    meta = learner(algorithm, seed=0)
    # Few meta-training classes: keep the initialization that does best on the validation
    # classes rather than the last one.
    meta.fit(families["train"].episodes(META_BATCH, seed=0), epochs=6,
             steps_per_epoch=META_STEPS // 6, verbose=2,
             validation_data=families["validation"].episodes(META_BATCH, seed=1, n_episodes=8),
             callbacks=[keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)])
    return meta


def print_table(split, test_classes, accuracies):
    print(f"\n{N_WAYS}-way accuracy on {TEST_TASKS} tasks of the held-out classes {test_classes} "
          f"(chance {1 / N_WAYS:.2f}; quantum models after {ADAPTATION_STEPS} inner steps)")
    print(f"{'':26}" + "".join(f"{f'K={k}':>14}" for k in SHOTS))
    for name in METHODS:
        print(f"{name:26}" + "".join(f"{_mean_and_error(accuracies[split, name, k]):>14}"
                                     for k in SHOTS))


def _mean_and_error(values):
    return f"{values.mean():.3f}±{values.std() / np.sqrt(len(values)):.3f}"


def plot(accuracies, curves):
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / len(METHODS)
    groups = [(split, k) for split in SPLITS for k in SHOTS]
    for i, name in enumerate(METHODS):
        means = [accuracies[split, name, k].mean() for split, k in groups]
        axes[0].bar(np.arange(len(groups)) + i * width, means, width, label=name)
    axes[0].axhline(1 / N_WAYS, color="k", ls="--", lw=1, label="chance")
    axes[0].set(xticks=np.arange(len(groups)) + 0.4 - width / 2,
                xticklabels=[f"split {split}\nK={k}" for split, k in groups],
                ylabel="query accuracy", ylim=(0, 1),
                title=f"{N_WAYS}-way digits, held-out classes")
    axes[0].legend(fontsize=8)
    for split in SPLITS:
        for name, style in (("maml", "-"), ("anil", "-."), ("scratch", "--")):
            axes[1].plot(curves[split, name, 5], style, marker="o", label=f"{name}, split {split}")
    axes[1].set(xlabel="inner gradient steps", ylabel="query cross-entropy",
                title="adaptation on held-out tasks (K=5)")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "few_shot_digits.png")


if __name__ == "__main__":
    main()
