"""Runs a keras-tuner script as a distributed search: one chief oracle and N workers.

keras-tuner's distributed mode runs the *same* script in every process. The environment tells
each process its role: ``KERASTUNER_TUNER_ID`` (``chief`` for the oracle, any other unique id,
here ``tuner0`` … ``tuner{N-1}``, for a worker), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` (where the chief serves the oracle over gRPC). In the chief,
``tuner.search()`` serves the oracle and trains nothing; it returns when the search has ended.
In a worker, ``tuner.search()`` asks the chief for trials, trains them and reports them, and
returns when the chief says there are none left.

:func:`launch` (and ``python -m tfq_meta.distributed``) does this on one machine: it picks a free
port on ``host``, starts the chief and the workers with these variables, prefixes and streams
their output, restarts a worker that dies, waits for the search to end, stops every process it
started (also on timeouts, errors and Ctrl-C) and reports every trial and the best one from the
chief's project directory.

What keras-tuner 1.4.8 does when a worker dies, and what the launcher adds:

- The chief does not notice. The worker's trial stays ``RUNNING`` in the oracle and still counts
  towards ``max_trials``; the chief waits for it forever (and Hyperband's other workers wait for it
  too). ``max_retries_per_trial`` only applies to trials a worker *reports* as failed.
- A worker started again with the *same* ``KERASTUNER_TUNER_ID`` gets its unfinished trial back
  and runs it from the start. The launcher restarts a dead worker so, up to ``max_restarts``
  times.
- When a worker is not restarted, the launcher ends its unfinished trial in the oracle as
  ``INVALID`` (speaking to the chief over gRPC as that worker): with the tuner's
  ``max_retries_per_trial`` ≥ 1 another worker runs it again, otherwise it is recorded
  ``FAILED``. It then signs the dead worker off, so the chief can end the search.
- Finished trials are never run again: their results are in the chief's directory. When no
  worker is left to run an unfinished trial, the launcher stops and reports the search as
  ``incomplete``; running the same command again resumes it (the chief reloads its oracle and
  runs the unfinished trials first).

Two more differences from a search in one process: a trial's ``message`` does not cross gRPC
(keras-tuner's Trial proto has no such field), so a trial that failed on a worker is FAILED in the
chief's files without its reason (the reason is in that worker's log); and when
``max_consecutive_failed_trials`` is reached, the chief's error reaches the worker that reported
the last failure as a gRPC error, which ends that worker.
"""
import argparse
import collections
import dataclasses
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# Runs in every child process, before the user's script (with `python -c`, so TensorFlow is not
# imported before the script sets its own environment). It
# - stops the process, and what it started, if the launcher is killed without cleaning up;
# - in the chief: records the oracle's project directory for the launcher's report, and makes the
#   chief check every 0.25 s instead of every 20 s whether the search has ended (keras-tuner's
#   `oracle_chief.start_server` polls with `time.sleep(20)`);
# - runs the script (or `-m module`) as `python script.py args` would.
_BOOTSTRAP = r'''
import importlib.abc, importlib.util, json, os, runpy, signal, sys, threading, time, types

_launcher = os.environ.pop("TFQ_META_LAUNCHER_PID", None)
_info_path = os.environ.pop("TFQ_META_SEARCH_INFO", None)


def _watch_launcher(pid):
    while os.getppid() == pid:
        time.sleep(0.5)
    if os.name == "posix":  # this process leads its own group: it and whatever it started
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(70)


def _patch_chief(module):
    serve = module.start_server
    module.time = types.SimpleNamespace(sleep=lambda seconds: time.sleep(min(seconds, 0.25)))

    def report(oracle, ended):
        if _info_path:
            objective = oracle.objective
            info = {"project_dir": os.path.abspath(oracle._project_dir),
                    "objective": getattr(objective, "name", None),
                    "direction": getattr(objective, "direction", "min"),
                    "max_trials": oracle.max_trials, "ended": ended}
            with open(_info_path + ".tmp", "w") as file:
                json.dump(info, file)
            os.replace(_info_path + ".tmp", _info_path)

    def start_server(oracle):
        report(oracle, ended=False)
        serve(oracle)
        report(oracle, ended=True)

    module.start_server = start_server


class _PatchChiefOnImport(importlib.abc.MetaPathFinder):
    name = "keras_tuner.src.distribute.oracle_chief"

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def patched_exec_module(module):
            exec_module(module)
            _patch_chief(module)

        spec.loader.exec_module = patched_exec_module
        return spec


if _launcher:
    threading.Thread(target=_watch_launcher, args=(int(_launcher),), daemon=True).start()
sys.meta_path.insert(0, _PatchChiefOnImport())
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")
'''

STATUSES = ("completed", "incomplete", "failed", "timeout")
_TICK = 0.2


def is_chief():
    """Whether this process is keras-tuner's chief, or runs a search that is not distributed.

    In a distributed search only the chief knows when the search has ended. Guard code that
    follows ``tuner.search()`` (reports, ``get_best_models``) with it: in a worker, a call that
    reaches the oracle after the chief has exited waits for the chief (keras-tuner's gRPC timeout
    is one hour).
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return True
    return "chief" in os.environ.get("KERASTUNER_TUNER_ID", "")


@dataclasses.dataclass
class ProcessRun:
    """One run of a chief or worker process: its pid and exit code (negative: killed by that
    signal; None: still running when the report was made)."""
    pid: int
    returncode: int = None


@dataclasses.dataclass
class SearchResult:
    """What a distributed search did.

    Attributes:
        status: ``"completed"`` (the chief ended the search), ``"incomplete"`` (trials are left
            but no worker to run them; run again to resume), ``"failed"`` (the chief failed or
            never served the oracle, or every worker died) or ``"timeout"``.
        address: ``host:port`` the chief served the oracle on.
        project_dir: the chief's ``directory/project_name`` (None if it never served).
        objective, direction: the oracle's objective name and ``"min"`` / ``"max"``.
        trials: every trial in the chief's directory, in trial order: dicts with ``trial_id``,
            ``status``, ``score``, ``best_step`` and ``hyperparameters`` (the values).
        best_trial: the completed trial with the best score (None if none completed).
        processes: ``{"chief": [ProcessRun], "tuner0": [ProcessRun, …], …}``, one run per start.
        released: ``{tuner_id: trial_id}``, unfinished trials of dead workers ended as INVALID.
        messages: what the launcher noticed (deaths, restarts, releases, stopped processes).
        duration: seconds from the first start to the last process stopped.
    """
    status: str
    address: str
    project_dir: str = None
    objective: str = None
    direction: str = "min"
    trials: list = dataclasses.field(default_factory=list)
    best_trial: dict = None
    processes: dict = dataclasses.field(default_factory=dict)
    released: dict = dataclasses.field(default_factory=dict)
    messages: list = dataclasses.field(default_factory=list)
    duration: float = 0.0

    @property
    def best_hyperparameters(self):
        """The best trial's hyperparameter values (a dict), or None."""
        return None if self.best_trial is None else self.best_trial["hyperparameters"]

    def to_dict(self):
        return dataclasses.asdict(self)

    def summary(self):
        """A few lines for people: the outcome, the trial counts and the best trial."""
        lines = [f"search {self.status} in {self.duration:.0f} s"]
        if self.project_dir is not None:
            counts = collections.Counter(t["status"] for t in self.trials)
            lines[0] += (f": {len(self.trials)} trials ("
                         + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                         + f") in {self.project_dir}")
        if self.best_trial is not None:
            lines.append(f"best trial {self.best_trial['trial_id']}: {self.objective} = "
                         f"{self.best_trial['score']:.6g}")
            lines += [f"  {name} = {value}" for name, value in self.best_hyperparameters.items()]
        for name, runs in self.processes.items():
            lines.append(f"{name}: " + ", ".join(_describe_exit(run.returncode) for run in runs))
        return "\n".join(lines)


def launch(script, args=(), workers=2, module=False, host="127.0.0.1", port=None, timeout=None,
           max_restarts=1, shutdown_grace=15.0, log_dir=None, output=sys.stdout, env=None,
           cwd=None):
    """Runs ``script`` as a keras-tuner chief and ``workers`` workers on this machine.

    The script is a normal keras-tuner script (build the hypermodel and the tuner, call
    ``tuner.search``); each process runs it with its role in the environment
    (``KERASTUNER_TUNER_ID=chief``, ``tuner0`` … ``tuner{workers-1}``; ``KERASTUNER_ORACLE_IP``,
    ``KERASTUNER_ORACLE_PORT``). Give the tuner a fixed ``directory`` and ``project_name`` and no
    ``overwrite=True`` (every process would delete the others' files).

    Args:
        script: path of the Python script, or a module name with ``module=True``.
        args: command-line arguments of the script.
        workers: number of worker processes.
        module: run ``script`` as ``python -m script``.
        host: address the chief serves the oracle on and the workers connect to.
        port: port of the oracle; default a free one.
        timeout: seconds after which every process is stopped (``status="timeout"``).
        max_restarts: how many times a worker that dies (exits with an error or a signal) is
            started again, with the same tuner id; it then runs its unfinished trial again.
        shutdown_grace: seconds the processes get to exit by themselves once the search has
            ended, and to exit after SIGTERM before SIGKILL.
        log_dir: if given, each process's output also goes to ``log_dir/<tuner id>.log``.
        output: text stream for the prefixed output (``[chief] …``) and the launcher's messages;
            None for silence.
        env: extra environment variables for every process (``TF_CPP_MIN_LOG_LEVEL`` defaults
            to 2).
        cwd: working directory of every process (default the current one).

    Returns:
        A :class:`SearchResult`. A KeyboardInterrupt stops every process and is raised again.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"`workers` must be a positive int; got {workers!r}.")
    if not isinstance(max_restarts, int) or isinstance(max_restarts, bool) or max_restarts < 0:
        raise ValueError(f"`max_restarts` must be a non-negative int; got {max_restarts!r}.")
    if not module:
        script = os.path.abspath(os.path.join(cwd or os.getcwd(), os.fspath(script)))
        if not os.path.isfile(script):
            raise FileNotFoundError(f"No search script at {script}.")
    launcher = _Launcher(script, list(args), workers, module, host,
                         port if port else _free_port(host), timeout, max_restarts,
                         shutdown_grace, log_dir, output, env, cwd)
    return launcher.run()


def _free_port(host):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _describe_exit(returncode):
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited {returncode}"


class _Process:
    """A chief or worker process: its runs, output streaming and stopping."""

    def __init__(self, name, launcher):
        self.name = name
        self.launcher = launcher
        self.runs = []
        self.popen = None
        self.reader = None
        self.restarts = 0
        self.state = "new"  # running, finished (exit 0), dead (error / signal), stopped (by us)

    def start(self):
        launcher = self.launcher
        environment = {**os.environ, **launcher.env,
                       "KERASTUNER_TUNER_ID": self.name,
                       "KERASTUNER_ORACLE_IP": launcher.host,
                       "KERASTUNER_ORACLE_PORT": str(launcher.port),
                       "TFQ_META_LAUNCHER_PID": str(os.getpid()),
                       "PYTHONUNBUFFERED": "1"}
        if self.name == "chief":
            environment["TFQ_META_SEARCH_INFO"] = launcher.info_path
        target = ["-m", launcher.script] if launcher.module else [launcher.script]
        posix = os.name == "posix"
        self.popen = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, *target, *launcher.args], env=environment,
            cwd=launcher.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=posix,
            creationflags=0 if posix else subprocess.CREATE_NEW_PROCESS_GROUP)
        self.runs.append(ProcessRun(self.popen.pid))
        self.state = "running"
        self.reader = threading.Thread(target=self._stream, args=(self.popen.stdout,),
                                       daemon=True)
        self.reader.start()

    def _stream(self, pipe):
        for line in iter(pipe.readline, b""):
            self.launcher.write(self.name, line.decode("utf-8", "replace").rstrip("\n"))
        pipe.close()

    def poll(self):
        """The exit code if the process has just exited, else None."""
        if self.state != "running" or self.popen.poll() is None:
            return None
        self.runs[-1].returncode = self.popen.returncode
        self.state = "finished" if self.popen.returncode == 0 else "dead"
        return self.popen.returncode

    @property
    def running(self):
        return self.state == "running" and self.popen.poll() is None

    def signal(self, signum):
        """Sends ``signum`` to the process and everything it started (its process group)."""
        if self.popen is None:
            return
        try:
            if os.name == "posix":
                os.killpg(self.popen.pid, signum)
            elif self.popen.poll() is None:
                self.popen.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def group_alive(self):
        if os.name != "posix" or self.popen is None:
            return self.popen is not None and self.popen.poll() is None
        try:
            os.killpg(self.popen.pid, 0)
            return True
        except (ProcessLookupError, PermissionError):
            return False


class _Launcher:
    def __init__(self, script, args, n_workers, module, host, port, timeout, max_restarts,
                 shutdown_grace, log_dir, output, env, cwd):
        self.script, self.args, self.module = script, args, module
        self.host, self.port = host, port
        self.timeout, self.max_restarts, self.shutdown_grace = timeout, max_restarts, \
            shutdown_grace
        self.log_dir, self.output, self.cwd = log_dir, output, cwd
        self.env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                    **(env or {})}
        self.chief = _Process("chief", self)
        self.workers = [_Process(f"tuner{i}", self) for i in range(n_workers)]
        self.info = None
        self.info_path = None
        self.result = SearchResult(status="failed", address=f"{host}:{port}")
        self._lock = threading.Lock()
        self._logs = {}

    # -- output ----------------------------------------------------------------------------------

    def write(self, name, line):
        with self._lock:
            if self.log_dir is not None:
                if name not in self._logs:
                    os.makedirs(self.log_dir, exist_ok=True)
                    self._logs[name] = open(os.path.join(self.log_dir, f"{name}.log"), "a")
                self._logs[name].write(line + "\n")
                self._logs[name].flush()
            if self.output is not None:
                self.output.write(f"[{name}] {line}\n")
                self.output.flush()

    def note(self, message):
        self.result.messages.append(message)
        self.write("launcher", message)

    # -- the search ------------------------------------------------------------------------------

    def run(self):
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        info_dir = tempfile.mkdtemp(prefix="tfq_meta_search_")
        self.info_path = os.path.join(info_dir, "chief.json")
        count = len(self.workers)
        self.note(f"chief and {count} worker{'s' if count > 1 else ''}, oracle on "
                  f"{self.host}:{self.port}")
        supervised = False
        try:
            for process in [self.chief, *self.workers]:
                process.start()
            self.result.status = self._supervise(deadline)
            supervised = True
        except KeyboardInterrupt:
            self.note("interrupted: stopping every process")
            raise
        finally:
            self._stop_all()
            self._load_info()
            shutil.rmtree(info_dir, ignore_errors=True)
            self.result.duration = time.monotonic() - start
            self.result.processes = {p.name: p.runs for p in [self.chief, *self.workers]}
            self._report_trials()
            if supervised:
                for line in self.result.summary().splitlines():
                    self.write("launcher", line)
            with self._lock:
                for log in self._logs.values():
                    log.close()
                self._logs.clear()
        return self.result

    def _supervise(self, deadline):
        done_at = None  # when every worker had finished and every dead one was signed off
        while True:
            if deadline is not None and time.monotonic() > deadline:
                self.note(f"timeout after {self.timeout} s: stopping every process")
                return "timeout"
            self._load_info()
            returncode = self.chief.poll()
            if returncode is not None:
                return self._chief_exited(returncode)
            for worker in self.workers:
                returncode = worker.poll()
                if returncode is not None and returncode != 0:
                    self._worker_died(worker, returncode)
            if done_at is None and not any(w.running for w in self.workers):
                if not any(w.state == "finished" for w in self.workers):
                    self.note("every worker died: the search cannot go on")
                    self._note_unfinished_trials()
                    return "failed"
                if not self._sign_off_dead_workers():
                    self._note_unfinished_trials()
                    return "incomplete"
                done_at = time.monotonic()
            # The chief ends the search within a second of the last worker's sign-off; it may
            # then run the script's own code after tuner.search() for as long as it needs.
            if done_at is not None and not self._search_ended() and \
                    time.monotonic() - done_at > self.shutdown_grace:
                self.note(f"every worker is done but the chief had not ended the search after "
                          f"{self.shutdown_grace} s")
                self._note_unfinished_trials()
                return "incomplete"
            time.sleep(_TICK)

    def _chief_exited(self, returncode):
        self._load_info()
        if not self._search_ended():
            if returncode == 0:
                self.note("the chief exited without serving the oracle to the end: does the "
                          "script call tuner.search() in every process?")
            else:
                self.note(f"the chief {_describe_exit(returncode)}: stopping the workers")
            return "failed"
        if returncode != 0:
            self.note(f"the chief {_describe_exit(returncode)} after the search ended")
        # Workers normally exit at once; one still in code after tuner.search() that queries the
        # oracle would wait for the gone chief for an hour.
        deadline = time.monotonic() + self.shutdown_grace
        while time.monotonic() < deadline:
            for worker in self.workers:
                returncode = worker.poll()
                if returncode not in (None, 0):
                    self.note(f"{worker.name} {_describe_exit(returncode)} after the search "
                              "ended")
            if not any(w.state == "running" for w in self.workers):
                break
            time.sleep(_TICK)
        for worker in self.workers:
            if worker.state == "running":
                self.note(f"{worker.name} was still running {self.shutdown_grace} s after the "
                          "search ended (code after tuner.search() that needs the chief? guard "
                          "it with tfq_meta.distributed.is_chief()): stopping it")
        return "completed"

    def _worker_died(self, worker, returncode):
        if worker.restarts < self.max_restarts:
            worker.restarts += 1
            self.note(f"{worker.name} {_describe_exit(returncode)}: restarting it (restart "
                      f"{worker.restarts} of {self.max_restarts}); it runs its unfinished trial "
                      "again")
            worker.start()
            return
        self.note(f"{worker.name} {_describe_exit(returncode)} and is not restarted")
        if any(w.running for w in self.workers):
            self._release(worker)

    def _note_unfinished_trials(self):
        unfinished = {w.name: self._unfinished_trial(w.name) for w in self.workers
                      if w.state == "dead"}
        unfinished = {name: trial for name, trial in unfinished.items() if trial is not None}
        if unfinished:
            self.note(f"unfinished trials {unfinished} stay RUNNING in the oracle: run the same "
                      "search again to resume it (finished trials are kept)")

    # -- the oracle's state and gRPC calls as a dead worker --------------------------------------

    def _load_info(self):
        """Reads what the chief reported: its project directory, and whether the search ended."""
        if self.info_path and not self._search_ended():
            self.info = _read_json(self.info_path) or self.info

    def _search_ended(self):
        return self.info is not None and self.info["ended"]

    def _unfinished_trial(self, tuner_id):
        """The id of the trial the oracle has running on ``tuner_id``, or None.

        ``oracle.json`` lists a worker's trial in ``ongoing_trials`` until that worker asks for
        its next trial (it is saved before the ended trial is removed), so an entry is unfinished
        only if the trial has not ended (COMPLETED / FAILED) or been queued for a retry.
        """
        if self.info is None:
            return None
        directory = self.info["project_dir"]
        state = _read_json(os.path.join(directory, "oracle.json")) or {}
        trial_id = state.get("ongoing_trials", {}).get(tuner_id)
        if trial_id is None or trial_id in state.get("retry_queue", []):
            return None
        trial = _read_json(os.path.join(directory, f"trial_{trial_id}", "trial.json")) or {}
        if trial.get("status") in ("COMPLETED", "FAILED"):
            return None
        return trial_id

    def _release(self, worker):
        """Ends the dead worker's unfinished trial as INVALID, so the oracle retries or fails it."""
        trial_id = self._unfinished_trial(worker.name)
        if trial_id is None:
            return
        protos, stub, channel = _oracle_stub(self.host, self.port)
        try:
            trial = stub.CreateTrial(protos.get_service().CreateTrialRequest(
                tuner_id=worker.name), timeout=30).trial
            trial.status = protos.get_proto().TrialStatus.INVALID
            stub.EndTrial(protos.get_service().EndTrialRequest(trial=trial), timeout=30)
        except Exception as error:  # grpc.RpcError, e.g. the oracle's failure limit was reached
            self.note(f"could not end trial {trial_id} of {worker.name} in the oracle: {error}")
            return
        finally:
            channel.close()
        self.result.released[worker.name] = trial.trial_id
        self.note(f"ended trial {trial.trial_id} of {worker.name} as INVALID: the oracle retries "
                  "it on another worker if the tuner's max_retries_per_trial allows, else it is "
                  "FAILED")

    def _sign_off_dead_workers(self):
        """Tells the chief that dead workers want no more trials, so it can end the search.

        The chief ends the search once every tuner id that ever asked for a trial has been told
        to stop. Returns False if the oracle still has work for a dead worker.
        """
        dead = [w for w in self.workers if w.state == "dead"]
        if not dead:
            return True
        if any(self._unfinished_trial(w.name) is not None for w in dead):
            return False
        protos, stub, channel = _oracle_stub(self.host, self.port)
        try:
            for worker in dead:
                trial = stub.CreateTrial(protos.get_service().CreateTrialRequest(
                    tuner_id=worker.name), timeout=30).trial
                if trial.status != protos.get_proto().TrialStatus.STOPPED:
                    self.note(f"the oracle gave trial {trial.trial_id} to the dead "
                              f"{worker.name}: no worker is left to run it")
                    return False
        except Exception as error:  # grpc.RpcError
            if not self.chief.running:
                return True  # it has just ended the search: the next tick sees it exit
            self.note(f"could not sign off the dead workers: {error}")
            return False
        finally:
            channel.close()
        return True

    # -- stopping and reporting ------------------------------------------------------------------

    def _stop_all(self):
        processes = [self.chief, *self.workers]
        running = [p for p in processes if p.running]
        for process in running:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.shutdown_grace
        while any(p.running for p in running) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in processes:
            # SIGKILL to every group that still has a member: a process that ignored SIGTERM, or
            # anything the script started.
            if process.group_alive():
                process.signal(signal.SIGKILL)
            if process.popen is not None:
                process.popen.wait()
                if process.runs[-1].returncode is None:
                    process.runs[-1].returncode = process.popen.returncode
                    if process.state == "running":
                        process.state = "stopped"
            if process.reader is not None:
                process.reader.join(timeout=5)

    def _report_trials(self):
        if self.info is None:
            return
        self.result.project_dir = self.info["project_dir"]
        self.result.objective = self.info["objective"]
        self.result.direction = self.info["direction"]
        self.result.trials = _read_trials(self.info["project_dir"])
        completed = [t for t in self.result.trials
                     if t["status"] == "COMPLETED" and _is_number(t["score"])]
        if completed:
            sign = -1 if self.info["direction"] == "max" else 1
            # min() keeps the first of equal scores, as keras-tuner's stable sort does.
            self.result.best_trial = min(completed, key=lambda t: sign * t["score"])


def _oracle_stub(host, port):
    import grpc
    from keras_tuner.src import protos
    channel = grpc.insecure_channel(f"{host}:{port}")
    return protos, protos.get_service_grpc().OracleStub(channel), channel


def _read_json(path, attempts=20):
    """Reads a JSON file the chief may be rewriting (keras-tuner does not write atomically)."""
    for _ in range(attempts):
        try:
            with open(path) as file:
                return json.load(file)
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            time.sleep(0.05)
    return None


def _read_trials(project_dir):
    trials = []
    for entry in os.listdir(project_dir):
        path = os.path.join(project_dir, entry, "trial.json")
        if entry.startswith("trial_") and os.path.isfile(path):
            state = _read_json(path)
            if state is not None:
                trials.append({"trial_id": state["trial_id"], "status": state["status"],
                               "score": state["score"], "best_step": state["best_step"],
                               "hyperparameters": state["hyperparameters"]["values"]})
    return sorted(trials, key=lambda t: (len(t["trial_id"]), t["trial_id"]))


def _is_number(value):
    return isinstance(value, (int, float)) and not math.isnan(value)


# -- command line --------------------------------------------------------------------------------

def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m tfq_meta.distributed",
        description="Run a keras-tuner search script as a chief oracle and N workers on this "
                    "machine, and report the best trial.",
        epilog="Example: python -m tfq_meta.distributed --workers 2 examples/distributed_search.py")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address of the chief's oracle (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port of the oracle (default free)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="stop everything after this many seconds")
    parser.add_argument("--max-restarts", type=int, default=1,
                        help="times a dead worker is restarted (default 1)")
    parser.add_argument("--log-dir", default=None, help="also write each process's log here")
    parser.add_argument("--json", default=None, help="write the result to this JSON file")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the launcher's messages and the report")
    parser.add_argument("-m", dest="module", action="store_true",
                        help="the target is a module name (python -m) instead of a script")
    parser.add_argument("script", help="the search script (or module with -m)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the script")
    return parser


class _QuietOutput:
    """Passes on the launcher's own lines only."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if text.startswith("[launcher]"):
            self.stream.write(text)

    def flush(self):
        self.stream.flush()


def main(argv=None):
    """The command line: ``python -m tfq_meta.distributed [options] script.py [script args]``.

    Returns the exit code: 0 if the search completed and the chief's script exited cleanly, 1 if
    not, 130 if interrupted (Ctrl-C or SIGTERM; every process is stopped).
    """
    options = _parser().parse_args(argv)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    if threading.current_thread() is threading.main_thread():
        # Also when started in the background, where the shell makes SIGINT ignored.
        previous = {signum: signal.signal(signum, stop)
                    for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = launch(options.script, options.args, workers=options.workers,
                        module=options.module, host=options.host, port=options.port or None,
                        timeout=options.timeout, max_restarts=options.max_restarts,
                        log_dir=options.log_dir,
                        output=_QuietOutput(sys.stdout) if options.quiet else sys.stdout)
    except KeyboardInterrupt:
        print("[launcher] interrupted; finished trials are kept in the tuner's directory: run "
              "the same command again to resume", flush=True)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if options.json:
        with open(options.json, "w") as file:
            json.dump(result.to_dict(), file, indent=2)
    completed = result.status == "completed" and result.processes["chief"][-1].returncode == 0
    return 0 if completed else 1
