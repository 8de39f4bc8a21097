"""keras-tuner searches that meet failures go on: a trial whose circuit is invalid fails with the
reason and is not built again, and a killed search resumes from its directory without repeating
finished trials. Oracles: the trials' statuses and messages, and a log of every fit written by
the search script itself.
"""
import json
import pathlib

import keras_tuner

from conftest import run_fresh_python
from tfq_meta.tuning import StudentHyperModel
from tuning_searches import sine_examples, tiny, trials


# --------------------------------------------------------------------------------------------
# 1. Invalid circuits fail their trial with the reason; the search goes on
# --------------------------------------------------------------------------------------------

class CountingStudent(StudentHyperModel):
    """Records the values of every build() after the tuner's construction."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.built_values = []

    def build(self, hp):
        self.built_values.append(dict(hp.values))
        return super().build(hp)


def test_circuit_too_large_for_memory_fails_its_trial_once(tmp_path):
    x, y, x_val, y_val = sine_examples()
    hypermodel = CountingStudent(1, n_qubits=[1, 40, 2], learning_rate=0.05, **tiny())
    # Retries are for flaky trials: an invalid circuit is failed at once, not built again.
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=3,
                                     max_retries_per_trial=2, seed=3, directory=str(tmp_path),
                                     project_name="search")
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0)

    by_qubits = {t.hyperparameters["n_qubits"]: t for t in trials(tuner)}
    assert by_qubits[40].status == "FAILED"
    assert "FailedTrialError" in by_qubits[40].message
    assert "'n_qubits': 40" in by_qubits[40].message and "has 40 qubits" in by_qubits[40].message
    assert "Use fewer qubits" in by_qubits[40].message
    assert by_qubits[1].status == by_qubits[2].status == "COMPLETED"
    assert tuner.get_best_hyperparameters()[0]["n_qubits"] in (1, 2)
    assert [v["n_qubits"] for v in hypermodel.built_values[1:]].count(40) == 1


def test_unknown_entangler_registered_in_the_oracle_fails_its_trial(tmp_path):
    x, y, x_val, y_val = sine_examples(n_features=2, seed=2)
    # The tuner's own `hyperparameters` override the hypermodel's choices: the check of the
    # constructor's arguments never sees "swap".
    space = keras_tuner.HyperParameters()
    space.Choice("entangler", ["cnot", "swap"])
    hypermodel = StudentHyperModel(2, n_qubits=2, n_layers=1, encoding="rx",
                                   trainable_scaling=True, learning_rate=0.05,
                                   compile_options={"run_eagerly": True})
    tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=2,
                                     hyperparameters=space, directory=str(tmp_path),
                                     project_name="search")
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=1, batch_size=16, verbose=0)

    by_entangler = {t.hyperparameters["entangler"]: t for t in trials(tuner)}
    assert by_entangler["cnot"].status == "COMPLETED"
    assert by_entangler["swap"].status == "FAILED"
    assert "`entangler` must be one of ['cnot', 'cz', 'cnot_ring', 'cz_ring', 'none']; got " \
           "'swap'" in by_entangler["swap"].message


# --------------------------------------------------------------------------------------------
# 2. A killed search resumes from its directory
# --------------------------------------------------------------------------------------------

SEARCH_SCRIPT = """
import json, os
import keras, keras_tuner, numpy as np
import tfq_meta
from tfq_meta.tuning import StudentHyperModel

LOG = "fits.jsonl"


class KillDuringSecondTrial(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        with open(LOG) as log:
            trials_started = len(log.readlines())
        if os.environ.get("KILL") and trials_started == 2:
            os._exit(17)  # no clean-up at all, as when the job is killed


class LoggedStudent(StudentHyperModel):
    def fit(self, hp, model, *args, **kwargs):
        with open(LOG, "a") as log:
            log.write(json.dumps(hp.values) + "\\n")
        return super().fit(hp, model, *args, **kwargs)


rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, (24, 1)).astype("float32")
y = np.sin(x)
hypermodel = LoggedStudent(1, n_qubits=1, n_layers=[1, 2, 3], encoding="rx", entangler="cnot",
                           trainable_scaling=True, learning_rate=0.05,
                           compile_options={"run_eagerly": True})
tuner = keras_tuner.RandomSearch(hypermodel, objective=hypermodel.objective, max_trials=3, seed=7,
                                 directory="search", project_name="student")
tuner.search(x[:16], y[:16], validation_data=(x[16:], y[16:]), epochs=2, batch_size=16,
             verbose=0, callbacks=[KillDuringSecondTrial()])
print("BEST", json.dumps(tuner.get_best_hyperparameters()[0].values))
"""


def trial_files(directory):
    return {json.loads(path.read_text())["trial_id"]: json.loads(path.read_text())
            for path in pathlib.Path(directory, "search", "student").glob("trial_*/trial.json")}


def test_killed_search_resumes_without_repeating_finished_trials(tmp_path):
    killed = run_fresh_python(SEARCH_SCRIPT, cwd=tmp_path, KILL="1")
    assert killed.returncode == 17, killed.stderr[-3000:]
    before = trial_files(tmp_path)
    assert {i: t["status"] for i, t in before.items()} == {"0": "COMPLETED", "1": "RUNNING"}

    resumed = run_fresh_python(SEARCH_SCRIPT, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Reloading Tuner" in resumed.stdout

    fits = [json.loads(line) for line in (tmp_path / "fits.jsonl").read_text().splitlines()]
    assert len(fits) == 4                       # 2 before the kill, 2 after it
    assert fits[2] == fits[1]                   # the interrupted trial runs again …
    assert fits[0] not in fits[2:]              # … the finished one does not
    after = trial_files(tmp_path)
    assert {i: t["status"] for i, t in after.items()} == \
        {"0": "COMPLETED", "1": "COMPLETED", "2": "COMPLETED"}
    assert after["0"]["score"] == before["0"]["score"]
    assert {t["hyperparameters"]["values"]["n_layers"] for t in after.values()} == {1, 2, 3}
    best = min(after.values(), key=lambda t: t["score"])
    printed = json.loads(resumed.stdout.split("BEST", 1)[1])
    assert printed == best["hyperparameters"]["values"]


