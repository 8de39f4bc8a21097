"""keras-tuner's private APIs behind the distributed search (checked up to keras-tuner 1.4.8).

Imports nothing heavy: the launcher and the chief's bootstrap read it before keras-tuner loads.
"""
import importlib
import importlib.util
import json
import os
import time

from tfq_meta._compat import Workaround

# ------------------------------------------------------------------------ keras-tuner: the chief

# The chief's oracle server: `start_server(oracle)` serves until the search has ended. It is only
# reachable through this private module, imported by `BaseTuner.search` in the chief alone.
CHIEF_SERVER_MODULE = "keras_tuner.src.distribute.oracle_chief"

# Once the search is over, `start_server` checks every 20 s (`time.sleep(20)`) whether the last
# worker has signed off (added with "Exit chief only when all clients are terminated",
# https://github.com/keras-team/keras-tuner/pull/967; still so in 1.4.8, and
# https://github.com/keras-team/keras-tuner/pull/983, open, would sleep longer). A local search
# then ends up to 20 s after its last trial: the patched module polls every 0.25 s instead.
CHIEF_EXIT_POLL = Workaround("keras-tuner", "https://github.com/keras-team/keras-tuner/pull/967")
CHIEF_POLL_SECONDS = 0.25


def patch_chief_server(module, on_start, on_end):
    """Wraps ``module.start_server`` (of :data:`CHIEF_SERVER_MODULE`) to report the oracle.

    Args:
        module: the just-imported chief server module.
        on_start: called with the oracle before the server starts.
        on_end: called with the oracle once the search has ended (the server returned).

    Example::

        patch_chief_server(oracle_chief, lambda o: print("serving"), lambda o: print("done"))
    """
    serve = module.start_server
    if CHIEF_EXIT_POLL.applies():
        # The module's own `time` is replaced, not the global one: the user's code is untouched.
        module.time = _CappedSleep(CHIEF_POLL_SECONDS)

    def start_server(oracle):
        on_start(oracle)
        serve(oracle)
        on_end(oracle)

    module.start_server = start_server


class _CappedSleep:
    """Stands in for the ``time`` module in the chief server module: sleeps at most ``cap`` s."""

    def __init__(self, cap):
        self.cap = cap

    def sleep(self, seconds):
        time.sleep(min(seconds, self.cap))


# The chief reports its project directory (where the trial files are) to the launcher. Oracle has
# no public accessor; `_project_dir` is set by `BaseTuner` through the private `_set_project_dir`
# (making it public was proposed in https://github.com/keras-team/keras-tuner/pull/247, closed
# unmerged). A public `project_dir`, if keras-tuner adds one, is used instead.
def oracle_project_dir(oracle):
    """The absolute ``directory/project_name`` of a chief's ``oracle``."""
    public = getattr(type(oracle), "project_dir", None)
    return os.path.abspath(oracle.project_dir if public is not None else oracle._project_dir)


# ------------------------------------------------------------- keras-tuner: the oracle's files

# A worker that dies (killed, out of memory) never reports its trial: the chief keeps it RUNNING
# in `ongoing_trials` forever and waits for it; `max_retries_per_trial` only covers trials a worker
# reports as failed (https://github.com/keras-team/keras-tuner/issues/915, open). The launcher
# finds a dead worker's trial in the chief's oracle.json and ends it as INVALID over gRPC.
DEAD_WORKER_TRIAL = Workaround("keras-tuner",
                               "https://github.com/keras-team/keras-tuner/issues/915")


def read_json(path, attempts=20):
    """Reads a JSON file the chief may be rewriting, or None if there is none.

    keras-tuner writes ``oracle.json`` and ``trial.json`` in place (no temporary file and rename),
    so a reader can see a half-written file: it is read again, up to ``attempts`` times.
    """
    for _ in range(attempts):
        try:
            with open(path) as file:
                return json.load(file)
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            time.sleep(0.05)
    return None


def unfinished_trial_id(project_dir, tuner_id):
    """The id of the trial the oracle in ``project_dir`` has running on ``tuner_id``, or None.

    ``oracle.json`` (the oracle's private state) lists a worker's trial in ``ongoing_trials``
    until that worker asks for its next trial (the file is saved before the ended trial is
    removed), so an entry is unfinished only if the trial has not ended (COMPLETED / FAILED) or
    been queued for a retry (``retry_queue``).

    Args:
        project_dir: the chief's ``directory/project_name``.
        tuner_id: a worker's ``KERASTUNER_TUNER_ID``.
    """
    state = read_json(os.path.join(project_dir, "oracle.json")) or {}
    trial_id = state.get("ongoing_trials", {}).get(tuner_id)
    if trial_id is None or trial_id in state.get("retry_queue", []):
        return None
    trial = read_json(os.path.join(project_dir, f"trial_{trial_id}", "trial.json")) or {}
    if trial.get("status") in ("COMPLETED", "FAILED"):
        return None
    return trial_id


def read_trial_files(project_dir):
    """Every trial saved in ``project_dir`` (``trial_*/trial.json``), in trial order.

    Returns:
        a list of dicts with ``trial_id``, ``status``, ``score``, ``best_step`` and
        ``hyperparameters`` (the values), read from keras-tuner's private file format.
    """
    trials = []
    for entry in os.listdir(project_dir):
        path = os.path.join(project_dir, entry, "trial.json")
        state = read_json(path) if entry.startswith("trial_") and os.path.isfile(path) else None
        if state is not None:
            trials.append({"trial_id": state["trial_id"], "status": state["status"],
                           "score": state["score"], "best_step": state["best_step"],
                           "hyperparameters": state["hyperparameters"]["values"]})
    return sorted(trials, key=lambda t: (len(t["trial_id"]), t["trial_id"]))


# ------------------------------------------------------------------- keras-tuner: gRPC messages

# The oracle's gRPC messages and stub are only in the private `keras_tuner.src.protos` since
# "remove proto from direct import" (https://github.com/keras-team/keras-tuner/pull/889). A public
# `keras_tuner.protos`, if it comes back, is used instead.
def keras_tuner_protos():
    """keras-tuner's protos module (``get_proto()``, ``get_service()``, ``get_service_grpc()``)."""
    if importlib.util.find_spec("keras_tuner.protos") is not None:
        return importlib.import_module("keras_tuner.protos")
    return importlib.import_module("keras_tuner.src.protos")


class OracleClient:
    """Speaks to a chief's oracle over gRPC as a given worker (used for dead workers only).

    Args:
        host, port: where the chief serves the oracle.

    Example::

        with OracleClient("127.0.0.1", 8000) as client:
            trial = client.create_trial("tuner1")
            client.end_trial_as_invalid(trial)
    """

    def __init__(self, host, port, timeout=30):
        import grpc

        self.protos = keras_tuner_protos()
        self.channel = grpc.insecure_channel(f"{host}:{port}")
        self.stub = self.protos.get_service_grpc().OracleStub(self.channel)
        self.timeout = timeout

    def create_trial(self, tuner_id):
        """The oracle's answer to ``tuner_id`` asking for a trial: its running trial, a new one,
        or a STOPPED trial (no more work), as a Trial proto."""
        request = self.protos.get_service().CreateTrialRequest(tuner_id=tuner_id)
        return self.stub.CreateTrial(request, timeout=self.timeout).trial

    def end_trial_as_invalid(self, trial):
        """Ends ``trial`` (a proto from :meth:`create_trial`) as INVALID: retried if allowed."""
        trial.status = self.protos.get_proto().TrialStatus.INVALID
        self.stub.EndTrial(self.protos.get_service().EndTrialRequest(trial=trial),
                           timeout=self.timeout)

    def is_stopped(self, trial):
        return trial.status == self.protos.get_proto().TrialStatus.STOPPED

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
