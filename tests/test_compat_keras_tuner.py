"""Each workaround in tfq_meta._compat.keras_tuner still has something to work around.

Every keras-tuner entry has a test here that asserts upstream's misbehaviour (or the missing
public API) as it is today. When one fails, upstream has changed: set the entry's ``fixed_in``
(or switch to the new public API) and remove the workaround once every supported version has
the fix. The oracle is keras-tuner itself, run in this process: an oracle with a project
directory, its files and its chief server module.
"""
import importlib.metadata
import importlib.util
import inspect
import json
import time

import keras_tuner
import pytest

from tfq_meta import _compat
from tfq_meta._compat import keras_tuner as tuner_compat


def make_oracle(project_parent, max_trials=1, retries=0):
    hyperparameters = keras_tuner.HyperParameters()
    hyperparameters.Choice("learning_rate", [0.01, 0.1, 0.3])
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_loss", "min"), max_trials=max_trials,
        hyperparameters=hyperparameters, seed=0, max_retries_per_trial=retries)
    oracle._set_project_dir(str(project_parent), "project")  # what BaseTuner does
    return oracle


def private_chief_server_copy():
    """A fresh copy of keras-tuner's chief server module, not the one in sys.modules."""
    spec = importlib.util.find_spec(tuner_compat.CHIEF_SERVER_MODULE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_keras_tuner_is_within_the_required_range():
    assert (1, 4, 7) <= _compat.installed_version("keras-tuner") < (1, 5)
    assert keras_tuner.__version__ == importlib.metadata.version("keras-tuner")


# ---------------------------------------------------------------------------- the chief server

def test_upstream_chief_still_polls_every_20_seconds_for_the_end_of_the_search():
    module = private_chief_server_copy()
    assert "time.sleep(20)" in inspect.getsource(module.start_server)
    assert tuner_compat.CHIEF_EXIT_POLL.applies()


def test_patched_chief_server_reports_the_oracle_and_polls_quickly():
    module = private_chief_server_copy()
    calls = []

    def serve(oracle):  # stands in for start_server's loop after the last sign-off
        calls.append(("serve", oracle))
        module.time.sleep(20)

    module.start_server = serve
    tuner_compat.patch_chief_server(module, lambda oracle: calls.append(("start", oracle)),
                               lambda oracle: calls.append(("end", oracle)))
    start = time.monotonic()
    module.start_server("oracle")
    assert time.monotonic() - start < 2
    assert calls == [("start", "oracle"), ("serve", "oracle"), ("end", "oracle")]
    assert time.sleep is not module.time.sleep  # the global time module is untouched


def test_upstream_oracle_still_has_no_public_project_dir(tmp_path):
    assert not hasattr(keras_tuner.Oracle, "project_dir")
    oracle = make_oracle(tmp_path)
    assert tuner_compat.oracle_project_dir(oracle) == str(tmp_path / "project")


# ------------------------------------------------------------------------ the oracle's files

def test_upstream_oracle_still_waits_forever_for_a_silent_workers_trial(tmp_path):
    chief_server = private_chief_server_copy()
    oracle = make_oracle(tmp_path, max_trials=1)
    trial = oracle.create_trial("tuner0")              # tuner0 takes the only trial, then dies
    assert trial.status == "RUNNING"
    assert oracle.create_trial("tuner1").status == "STOPPED"   # nothing left for tuner1
    time.sleep(0.5)
    # Nothing ends the dead worker's trial: the chief never exits, and only the same tuner id
    # gets the trial back (what the launcher's restart relies on).
    assert not chief_server.exit_chief(oracle)
    assert oracle.create_trial("tuner0").trial_id == trial.trial_id
    assert oracle.get_trial(trial.trial_id).status == "RUNNING"
    assert tuner_compat.DEAD_WORKER_TRIAL.applies()


def test_unfinished_trial_id_follows_the_oracle_file_through_a_retry(tmp_path):
    project = str(tmp_path / "project")
    oracle = make_oracle(tmp_path, max_trials=2, retries=1)
    trial = oracle.create_trial("tuner0")
    assert tuner_compat.unfinished_trial_id(project, "tuner0") == trial.trial_id
    assert tuner_compat.unfinished_trial_id(project, "tuner1") is None
    trial.status = "INVALID"                            # what the launcher reports over gRPC
    oracle.end_trial(trial)
    assert tuner_compat.unfinished_trial_id(project, "tuner0") is None     # queued for a retry
    retried = oracle.create_trial("tuner1")
    assert retried.trial_id == trial.trial_id
    assert tuner_compat.unfinished_trial_id(project, "tuner1") == trial.trial_id
    retried.status = "COMPLETED"
    oracle.update_trial(retried.trial_id, {"val_loss": 0.25})
    oracle.end_trial(retried)
    assert tuner_compat.unfinished_trial_id(project, "tuner1") is None
    [saved] = tuner_compat.read_trial_files(project)
    assert saved == {"trial_id": trial.trial_id, "status": "COMPLETED", "score": 0.25,
                     "best_step": 0, "hyperparameters": trial.hyperparameters.values}


def test_upstream_still_writes_the_oracle_file_in_place(tmp_path, monkeypatch):
    from keras_tuner.src import utils

    oracle = make_oracle(tmp_path)
    opened = []
    original = utils.backend.io.File

    def recording_file(path, mode="r"):
        opened.append((str(path), mode))
        return original(path, mode)

    monkeypatch.setattr(utils.backend.io, "File", recording_file)
    oracle.save()
    # No temporary file and rename: a reader can see the file half-written (hence read_json's
    # retries).
    assert opened == [(str(tmp_path / "project" / "oracle.json"), "w")]


def test_read_json_retries_a_half_written_file_and_gives_up_on_a_broken_one(tmp_path):
    path = tmp_path / "oracle.json"
    assert tuner_compat.read_json(str(path)) is None                  # not written yet
    path.write_text('{"ongoing_trials": {')
    assert tuner_compat.read_json(str(path), attempts=2) is None
    path.write_text(json.dumps({"ongoing_trials": {}}))
    assert tuner_compat.read_json(str(path)) == {"ongoing_trials": {}}


# ---------------------------------------------------------------------------- gRPC messages

def test_upstream_protos_are_still_only_in_the_private_package():
    assert importlib.util.find_spec("keras_tuner.protos") is None
    protos = tuner_compat.keras_tuner_protos()
    assert protos.__name__ == "keras_tuner.src.protos"
    request = protos.get_service().CreateTrialRequest(tuner_id="tuner1")
    assert request.tuner_id == "tuner1"
    assert protos.get_proto().TrialStatus.INVALID != protos.get_proto().TrialStatus.STOPPED


def test_oracle_client_needs_a_reachable_chief():
    with tuner_compat.OracleClient("127.0.0.1", 1, timeout=1) as client:
        with pytest.raises(Exception, match="UNAVAILABLE|DEADLINE_EXCEEDED"):
            client.create_trial("tuner0")
