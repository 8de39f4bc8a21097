"""A keras-tuner search for a quantum student, ready to run distributed.

This is a normal keras-tuner script: run it alone and it searches in one process. Run it through
the launcher and keras-tuner's chief/worker mode splits the same search over processes: the
chief serves the oracle over gRPC (and trains nothing), each worker asks it for trials, trains
them and reports back.

    python examples/distributed_search.py                                   # one process
    python -m tfq_meta.distributed --workers 2 examples/distributed_search.py   # chief + 2 workers

The launcher restarts a worker that dies (it runs its unfinished trial again) and reports the
best trial when the search ends. On several machines, run this same script on each with the
environment variables KERASTUNER_TUNER_ID (chief / a unique id per worker), KERASTUNER_ORACLE_IP
and KERASTUNER_ORACLE_PORT (see the README).

The search lives in examples/output/distributed_search: run again and it resumes (finished
trials are kept); delete that directory to start over. Never pass overwrite=True to a tuner in
a distributed script: every process would delete the others' files.

About 40 s on 2 cores with 2 workers (most of it is each process importing TensorFlow).
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from tfq_meta.distributed import is_chief  # noqa: E402
from tfq_meta.tuning import StudentHyperModel  # noqa: E402

OUTPUT = Path(__file__).parent / "output"


def target(x):
    return 2.5 * np.sin(x + 0.8) + 0.5 * np.cos(2 * x)


def main():
    keras.utils.set_random_seed(0)  # the trials' initial weights
    x = np.random.default_rng(0).uniform(-np.pi, np.pi, (120, 1)).astype(np.float32)
    x_train, x_val = x[:90], x[90:]
    hypermodel = StudentHyperModel(n_features=1, n_qubits=[1, 2], n_layers=[1, 2],
                                   entangler="cnot", trainable_scaling=True,
                                   learning_rate=[0.03, 0.1])
    # RandomSearch and BayesianOptimization suit distributed search; Hyperband works too, but
    # its workers wait (asking the chief again and again) while a bracket's trials finish.
    # seed=1: keras-tuner reads a seed of 0 as "no seed" and draws a random one.
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=6,
                                     seed=1, directory=str(OUTPUT),
                                     project_name="distributed_search")
    tuner.search(x_train, target(x_train), validation_data=(x_val, target(x_val)), epochs=8,
                 batch_size=30, verbose=0)

    # Only the chief knows when the whole search has ended; a worker's search() returns when
    # there is no trial left for it, and the chief may be gone soon after.
    if is_chief():
        best_trial = tuner.oracle.get_best_trials()[0]
        print(f"best trial {best_trial.trial_id}: val_loss {best_trial.score:.4f} with "
              f"{best_trial.hyperparameters.values}")


if __name__ == "__main__":
    main()
