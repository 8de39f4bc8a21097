"""Distributed search: a chief oracle and workers on loopback run one keras-tuner search.

Every search here runs real processes on 127.0.0.1 and a free port, with a timeout, and every
process the launcher started is checked gone afterwards. The searches train a one-qubit student
for two epochs. Oracles: the trial files the chief wrote (``trial_*/trial.json``), a log each
worker appends to when it starts and ends a trial (which worker ran which trial, in which
process), and the chief's own ``tuner.get_best_hyperparameters()``.
"""
import io
import json
import os
import pathlib
import signal

import pytest

import tfq_meta
from search_scripts import PLAIN_SCRIPT, alive, records
from tfq_meta.distributed import launch

# The children import the tfq_meta under test, wherever the installed one is.
SOURCE_ROOT = str(pathlib.Path(tfq_meta.__file__).resolve().parents[1])
LEARNING_RATES = [0.01, 0.03, 0.1, 0.3]

SEARCH_SCRIPT = """
import json, os, signal, sys, time
import keras_tuner, numpy as np
from tfq_meta.distributed import is_chief
from tfq_meta.tuning import StudentHyperModel

TUNER = os.environ["KERASTUNER_TUNER_ID"]


def log(event, trial_id):
    with open("runs.jsonl", "a") as file:
        file.write(json.dumps({"event": event, "tuner": TUNER, "trial": trial_id,
                               "pid": os.getpid(), "ip": os.environ["KERASTUNER_ORACLE_IP"],
                               "port": os.environ["KERASTUNER_ORACLE_PORT"]}) + "\\n")


def events(kind):
    with open("runs.jsonl") as file:
        return [e for e in map(json.loads, file) if e["event"] == kind]


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


class LoggedSearch(keras_tuner.RandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        log("start", trial.trial_id)
        # Both workers take part: each one's first trial waits until the other has one too.
        wait_for(lambda: len({e["tuner"] for e in events("start")}) == 2)
        kill, kills = os.environ.get("KILL"), int(os.environ.get("KILLS", "0"))
        if TUNER == kill and len(events("kill")) < kills:
            # Mid-trial, once the other worker has finished a trial: killed as by the OOM killer.
            wait_for(lambda: events("end"))
            log("kill", trial.trial_id)
            os.kill(os.getpid(), signal.SIGKILL)
        if kill and TUNER != kill and events("end"):
            # The other worker stays busy until the last kill: someone can take the trial over.
            wait_for(lambda: len(events("kill")) == kills)
        result = super().run_trial(trial, *args, **kwargs)
        log("end", trial.trial_id)
        return result


rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, (24, 1)).astype("float32")
y = np.sin(x)
hypermodel = StudentHyperModel(1, n_qubits=1, n_layers=1, encoding="rx", entangler="cnot",
                               trainable_scaling=True, learning_rate=%(learning_rates)r,
                               compile_options={"run_eagerly": True})
tuner = LoggedSearch(hypermodel, objective=hypermodel.objective, max_trials=4, seed=1,
                     max_retries_per_trial=int(os.environ.get("RETRIES", "0")),
                     directory="search", project_name="student")
tuner.search(x[:16], y[:16], validation_data=(x[16:], y[16:]), epochs=2, batch_size=16,
             verbose=0)
if is_chief():
    print("BEST", json.dumps(tuner.get_best_hyperparameters()[0].values))
""" % {"learning_rates": LEARNING_RATES}


def pids(result):
    return [run.pid for runs in result.processes.values() for run in runs]


def returncodes(result):
    return {name: [run.returncode for run in runs] for name, runs in result.processes.items()}


def run_search(tmp_path, **kwargs):
    script = tmp_path / "search_student.py"
    script.write_text(SEARCH_SCRIPT)
    output = io.StringIO()
    env = {"PYTHONPATH": os.pathsep.join([SOURCE_ROOT, os.environ.get("PYTHONPATH", "")]),
           **kwargs.pop("env", {})}
    try:
        result = launch(script, workers=2, timeout=150, shutdown_grace=10, cwd=tmp_path,
                        log_dir=tmp_path / "logs", output=output, env=env, **kwargs)
    finally:
        print(output.getvalue()[-6000:])  # shown by pytest if the test fails
    assert not [pid for pid in pids(result) if alive(pid)]
    return result, output.getvalue()


def trial_files(tmp_path):
    files = (tmp_path / "search" / "student").glob("trial_*/trial.json")
    return {t["trial_id"]: t for t in (json.loads(path.read_text()) for path in files)}


def run_log(tmp_path):
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def check_best(result, trials, tmp_path):
    best = min((t for t in trials.values() if t["status"] == "COMPLETED"),
               key=lambda t: t["score"])
    assert result.best_trial["trial_id"] == best["trial_id"]
    assert result.best_trial["score"] == best["score"]
    assert result.best_hyperparameters == best["hyperparameters"]["values"]
    assert result.objective == "val_loss" and result.direction == "min"
    # The chief's own tuner agrees.
    chief_log = (tmp_path / "logs" / "chief.log").read_text()
    assert json.loads(chief_log.split("BEST ", 1)[1].splitlines()[0]) == \
        best["hyperparameters"]["values"]


# --------------------------------------------------------------------------------------------
# A chief and two workers complete a search
# --------------------------------------------------------------------------------------------

@pytest.mark.timeout(240)
def test_chief_and_two_workers_complete_a_search(tmp_path):
    result, output = run_search(tmp_path)

    assert result.status == "completed", result.messages
    assert returncodes(result) == {"chief": [0], "tuner0": [0], "tuner1": [0]}
    trials = trial_files(tmp_path)
    assert sorted(trials) == ["0", "1", "2", "3"]                 # max_trials, each once
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    assert sorted(t["hyperparameters"]["values"]["learning_rate"] for t in trials.values()) == \
        LEARNING_RATES
    assert [t["trial_id"] for t in result.trials] == ["0", "1", "2", "3"]
    assert result.project_dir == str(tmp_path / "search" / "student")

    log = run_log(tmp_path)
    starts = {e["trial"]: e for e in log if e["event"] == "start"}
    ends = {e["trial"]: e for e in log if e["event"] == "end"}
    assert len(starts) == len(ends) == len(log) // 2 == 4            # every trial ran once …
    assert all(ends[i]["pid"] == starts[i]["pid"] for i in trials)   # … on one worker
    ran = {e["tuner"] for e in starts.values()}
    assert ran == {"tuner0", "tuner1"}                             # the chief trains nothing
    assert {pid for pid in (e["pid"] for e in log)} == \
        {result.processes["tuner0"][0].pid, result.processes["tuner1"][0].pid}
    host, port = result.address.split(":")
    assert {(e["ip"], e["port"]) for e in log} == {("127.0.0.1", port)} and host == "127.0.0.1"
    check_best(result, trials, tmp_path)

    # The output is streamed with one prefix per process; the report names the best trial.
    assert f"[launcher] best trial {result.best_trial['trial_id']}: val_loss = " in output
    assert "[chief] BEST {" in output
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == \
        ["chief.log", "launcher.log", "tuner0.log", "tuner1.log"]


# --------------------------------------------------------------------------------------------
# A worker killed mid-search does not stop the search or lose finished trials
# --------------------------------------------------------------------------------------------

@pytest.mark.timeout(240)
def test_killed_worker_gets_its_trial_back_then_another_worker_runs_it(tmp_path):
    # tuner1 is killed in the middle of a trial; the launcher restarts it (max_restarts=1) and
    # the chief hands the restarted tuner1 the same trial; killed again, it is not restarted:
    # the launcher ends its trial as INVALID and the oracle's retry (max_retries_per_trial=1)
    # gives it to tuner0. keras-tuner alone would leave the trial RUNNING and the chief waiting.
    result, output = run_search(tmp_path, env={"KILL": "tuner1", "KILLS": "2", "RETRIES": "1"})

    assert result.status == "completed", result.messages
    assert returncodes(result) == {"chief": [0], "tuner0": [0],
                                   "tuner1": [-signal.SIGKILL, -signal.SIGKILL]}
    trials = trial_files(tmp_path)
    assert sorted(trials) == ["0", "1", "2", "3"]                 # no trial lost or added
    assert all(t["status"] == "COMPLETED" for t in trials.values())

    log = run_log(tmp_path)
    [trial] = {e["trial"] for e in log if e["tuner"] == "tuner1"}
    first, restarted = (run.pid for run in result.processes["tuner1"])
    tuner0 = result.processes["tuner0"][0].pid
    assert [(e["event"], e["pid"]) for e in log if e["trial"] == trial] == \
        [("start", first), ("kill", first), ("start", restarted), ("kill", restarted),
         ("start", tuner0), ("end", tuner0)]
    assert result.released == {"tuner1": trial}
    # Trials finished before the kill were kept, not run again; every other trial ran once.
    first_kill = max(i for i, e in enumerate(log) if e["pid"] == first)
    assert any(e["event"] == "end" for e in log[:first_kill])
    for other in set(trials) - {trial}:
        assert [(e["event"], e["tuner"]) for e in log if e["trial"] == other] == \
            [("start", "tuner0"), ("end", "tuner0")]
    assert "tuner1 killed by SIGKILL: restarting it (restart 1 of 1)" in output
    assert "tuner1 killed by SIGKILL and is not restarted" in output
    assert f"ended trial {trial} of tuner1 as INVALID" in output
    check_best(result, trials, tmp_path)


# --------------------------------------------------------------------------------------------
# Processes are always cleaned up; failures are reported (scripts without TensorFlow)
# --------------------------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_timeout_stops_every_process_and_what_it_started(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_SCRIPT)
    result = launch(script, workers=2, timeout=3, shutdown_grace=1, cwd=tmp_path, output=None,
                    env={"MODE": "hang"})

    assert result.status == "timeout"
    # SIGTERM, then SIGKILL for the workers that ignore SIGTERM.
    assert returncodes(result) == {"chief": [-signal.SIGTERM], "tuner0": [-signal.SIGKILL],
                                   "tuner1": [-signal.SIGKILL]}
    started = records(tmp_path)
    assert sorted(started) == ["chief", "tuner0", "tuner1"]
    port = result.address.split(":")[1]
    assert {(r["ip"], r["port"]) for r in started.values()} == {("127.0.0.1", port)}
    everything = pids(result) + [pid for r in started.values() for pid in r["children"]]
    assert len(everything) == 6
    assert not [pid for pid in everything if alive(pid)]
    assert result.trials == [] and result.best_trial is None
    assert result.duration < 15


@pytest.mark.timeout(60)
def test_every_worker_dying_stops_the_chief(tmp_path):
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_SCRIPT)
    result = launch(script, workers=2, max_restarts=1, timeout=40, shutdown_grace=2,
                    cwd=tmp_path, output=None, env={"MODE": "workers_fail"})

    assert result.status == "failed"
    assert returncodes(result) == {"chief": [-signal.SIGTERM], "tuner0": [3, 3],
                                   "tuner1": [3, 3]}
    assert "every worker died: the search cannot go on" in result.messages
    assert not [pid for pid in pids(result) if alive(pid)]


def test_launch_checks_its_arguments_before_starting_anything(tmp_path):
    with pytest.raises(ValueError, match="`workers` must be a positive int; got 0"):
        launch(tmp_path / "x.py", workers=0)
    with pytest.raises(ValueError, match="`max_restarts` must be a non-negative int"):
        launch(tmp_path / "x.py", max_restarts=-1)
    with pytest.raises(FileNotFoundError, match="No search script at .*missing.py"):
        launch(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="`timeout` must be a positive finite number; got 0"):
        launch(tmp_path / "x.py", timeout=0)
    with pytest.raises(ValueError, match="`shutdown_grace` must be a positive finite number"):
        launch(tmp_path / "x.py", shutdown_grace=-1)
