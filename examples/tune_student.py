"""Hyperparameter search for a quantum student with keras-tuner's Hyperband.

The student learns y = 2.5 sin(x + 0.8) + 0.5 cos(2x) on x in [-pi, pi], the target of
`train_student.py`. `tfq_meta.tuning.StudentHyperModel` defines the search space: qubits (1-4),
re-uploading layers (1-3), the encoding rotation, the entangler, trainable input scales and the
learning rate. Hyperband trains many configurations for a few epochs and the promising ones for
longer, continuing each from its checkpoint; the objective is the validation MSE (`val_loss`).

The script prints the best trial's hyperparameters and score, checks the score against the best
model's own predictions, measures the best model on a held-out test grid, and plots every trial's
score next to the best model's fit. (With L re-uploading layers, a one-qubit circuit is a Fourier
series of degree L in x: two layers hold this target exactly, which the search tends to find.)

The search lives in examples/output/tune_student_search: run the script again and keras-tuner
reloads it (an interrupted search resumes where it stopped, finished trials are not run again);
pass --overwrite to start over.

Run:  python examples/tune_student.py            (about 1.5 minutes on 2 cores)
Writes examples/output/tune_student.png.
"""
import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from keras_tuner.engine.hyperparameters import Int  # noqa: E402

import tfq_meta  # noqa: E402
from tfq_meta.tuning import StudentHyperModel  # noqa: E402
from tfq_meta.saving import write_atomically  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUTPUT = Path(__file__).parent / "output"
MAX_EPOCHS = 20


def target(x):
    return 2.5 * np.sin(x + 0.8) + 0.5 * np.cos(2 * x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overwrite", action="store_true", help="discard an earlier search")
    args = parser.parse_args()
    OUTPUT.mkdir(exist_ok=True)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(-np.pi, np.pi, (200, 1)).astype(np.float32)
    x_train, x_val = x[:150], x[150:]
    x_test = np.linspace(-np.pi, np.pi, 100, dtype=np.float32)[:, None]

    hypermodel = StudentHyperModel(n_features=1, n_qubits=Int("n_qubits", 1, 4),
                                   n_layers=Int("n_layers", 1, 3))
    tuner = keras_tuner.Hyperband(hypermodel, objective=hypermodel.objective,
                                  max_epochs=MAX_EPOCHS, factor=3, seed=0,
                                  directory=str(OUTPUT), project_name="tune_student_search",
                                  overwrite=args.overwrite)
    tuner.search_space_summary()
    start = time.perf_counter()
    tuner.search(x_train, target(x_train), validation_data=(x_val, target(x_val)),
                 batch_size=25, verbose=0)
    print(f"search: {len(tuner.oracle.trials)} trials in {time.perf_counter() - start:.0f} s")

    best_trial = tuner.oracle.get_best_trials()[0]
    best = tuner.get_best_models()[0]
    values = best_trial.hyperparameters.values
    # Hyperband continues promising trials from an earlier trial's checkpoint.
    continued = (f" (continued from trial {values['tuner/trial_id']})"
                 if "tuner/trial_id" in values else "")
    print(f"best trial {best_trial.trial_id}: val MSE {best_trial.score:.3e} after "
          f"{values['tuner/epochs']} epochs{continued}")
    for name in [h.name for h in hypermodel.hyperparameters.space]:
        print(f"  {name:18s} {values[name]}")
    # The score is the validation MSE of the best epoch, whose weights get_best_models reloads.
    val_mse = np.mean((best.predict(x_val, verbose=0) - target(x_val)) ** 2)
    test_mse = np.mean((best.predict(x_test, verbose=0) - target(x_test)) ** 2)
    print(f"best model: val MSE recomputed {val_mse:.3e}, test MSE {test_mse:.3e} (variance of "
          f"the target {np.var(target(x_test)):.3f})")
    print(f"  circuit {tfq_meta.models.circuit_summary(best)}")

    plot(tuner, best_trial, x_train, x_test, best.predict(x_test, verbose=0))
    print(f"plot: {OUTPUT / 'tune_student.png'}")


def plot(tuner, best_trial, x_train, x_test, predictions):
    completed = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    epochs = np.array([t.hyperparameters.values["tuner/epochs"] for t in completed])
    figure, (trials_axis, fit_axis) = plt.subplots(1, 2, figsize=(11, 4))
    points = trials_axis.scatter([int(t.trial_id) for t in completed],
                                 [t.score for t in completed], c=epochs, cmap="viridis", s=25)
    trials_axis.scatter([int(best_trial.trial_id)], [best_trial.score], s=160, marker="*",
                        color="C3", label=f"best: {_describe(best_trial)}")
    trials_axis.set(yscale="log", xlabel="trial", ylabel="validation MSE",
                    title="Hyperband trials (colour: epochs trained)")
    figure.colorbar(points, ax=trials_axis, label="epochs")
    trials_axis.legend(fontsize=8)
    fit_axis.scatter(x_train, target(x_train), s=8, alpha=0.4, label="training data")
    fit_axis.plot(x_test, target(x_test), "k--", label="target")
    fit_axis.plot(x_test, predictions, "C3", label="best student")
    fit_axis.set(xlabel="x", ylabel="y", title="best student on the test grid")
    fit_axis.legend(fontsize=8)
    figure.tight_layout()
    write_atomically(lambda staging: figure.savefig(staging, dpi=120),
                     OUTPUT / "tune_student.png")


def _describe(trial):
    values = trial.hyperparameters.values
    return (f"{values['n_qubits']} qubits, {values['n_layers']} layers, {values['entangler']}, "
            f"lr {values['learning_rate']:.3f}")


if __name__ == "__main__":
    main()
