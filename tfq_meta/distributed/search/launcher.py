"""Runs a keras-tuner script as a distributed search on this machine: one chief and N workers.

In the chief, ``tuner.search()`` serves the oracle and trains nothing; it returns when the search
has ended. In a worker, ``tuner.search()`` asks the chief for trials, trains them and reports
them, and returns when the chief says there are none left. :func:`launch` picks a free port,
starts the chief and the workers with their roles in the environment, prefixes and streams their
output, restarts a worker that dies, waits for the search to end, stops every process it started
(also on timeouts, errors and Ctrl-C) and reports every trial and the best one.

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
import os
import shutil
import sys
import tempfile
import time

from tfq_meta._compat import keras_tuner as tuner_compat
from tfq_meta._validation import (check_bool, check_non_negative_int, check_positive_float,
                                  check_positive_int)
from tfq_meta.distributed import processes
from tfq_meta.distributed.processes import describe_exit
from tfq_meta.distributed.search import bootstrap, environment
from tfq_meta.distributed.search.oracle import OracleView
from tfq_meta.distributed.search.results import SearchResult, best_trial
from tfq_meta.distributed.search.tuner_process import TunerProcess

_TICK = 0.2


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
        port: port of the oracle, an int in 1 … 65535 free on ``host``; default (None) a free
            one.
        timeout: seconds after which every process is stopped (``status="timeout"``).
        max_restarts: how many times a worker that dies (exits with an error or a signal) is
            started again, with the same tuner id; it then runs its unfinished trial again.
        shutdown_grace: seconds the processes get to exit by themselves once the search has
            ended, and to exit after SIGTERM before SIGKILL.
        log_dir: if given, each process's output also goes to ``log_dir/<tuner id>.log``; it is
            created (and checked writable) before any process starts.
        output: text stream for the prefixed output (``[chief] …``) and the launcher's messages;
            None for silence.
        env: extra environment variables for every process (``TF_CPP_MIN_LOG_LEVEL`` defaults
            to 2).
        cwd: working directory of every process (default the current one).

    Returns:
        A :class:`SearchResult`. A KeyboardInterrupt stops every process and is raised again.

    Example::

        result = tfq_meta.distributed.launch("examples/distributed_search.py", workers=2)
        result.status, result.best_hyperparameters
        # ('completed', {'n_layers': 2, 'learning_rate': 0.03})
    """
    check_positive_int(workers, "workers")
    check_non_negative_int(max_restarts, "max_restarts")
    check_positive_float(shutdown_grace, "shutdown_grace")
    if timeout is not None:
        check_positive_float(timeout, "timeout")
    args, env = processes.check_arguments(args, "args"), processes.check_env(env) or {}
    cwd = processes.check_directory(cwd, "cwd")
    if output is not None and not callable(getattr(output, "write", None)):
        raise TypeError(f"`output` must be a text stream (with .write) or None; got "
                        f"{type(output).__name__}.")
    if log_dir is not None:
        processes.check_directory(log_dir, "log_dir", create=True)
    check_bool(module, "module")
    if not isinstance(script, (str, os.PathLike)) or (module and not isinstance(script, str)):
        raise TypeError(f"`script` must be a path (str or pathlib.Path), or with module=True a "
                        f"module name (str); got {script!r}.")
    if not module:
        script = os.path.abspath(os.path.join(cwd or os.getcwd(), os.fspath(script)))
        if not os.path.isfile(script):
            raise FileNotFoundError(f"No search script at {script}.")
    target = ["-m", script] if module else [script]
    processes.check_host(host)
    port = processes.free_ports(1, host)[0] if port is None else processes.check_port(port, host)
    launcher = _Launcher(target + list(args), workers, host, port, timeout, max_restarts,
                         shutdown_grace, processes.PrefixedOutput(output, log_dir),
                         {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
                          **env}, cwd)
    return launcher.run()


class _Launcher:
    """Starts, supervises and stops the processes of one search, and reports it."""

    def __init__(self, argv, n_workers, host, port, timeout, max_restarts, shutdown_grace,
                 output, env, cwd):
        self.host, self.port, self.timeout = host, port, timeout
        self.max_restarts, self.shutdown_grace = max_restarts, shutdown_grace
        self.output = output
        self.info_dir = tempfile.mkdtemp(prefix="tfq_meta_search_")
        self.oracle = OracleView(host, port, os.path.join(self.info_dir, "chief.json"))
        command = [sys.executable, bootstrap.__file__, *argv]
        self.chief = TunerProcess(environment.CHIEF, command, self._environment(
            environment.CHIEF, env), cwd, output)
        self.workers = [TunerProcess(name, command, self._environment(name, env), cwd, output)
                        for name in environment.worker_names(n_workers)]
        self.result = SearchResult(status="failed", address=f"{host}:{port}")

    def _environment(self, name, env):
        variables = {**os.environ, **env, **environment.role_environment(name, self.host,
                                                                          self.port),
                     bootstrap.LAUNCHER_PID: str(os.getpid()), "PYTHONUNBUFFERED": "1"}
        if name == environment.CHIEF:
            variables[bootstrap.SEARCH_INFO] = self.oracle.info_path
            variables[bootstrap.CHIEF_SERVER_MODULE] = tuner_compat.CHIEF_SERVER_MODULE
        return variables

    def note(self, message):
        self.result.messages.append(message)
        self.output.write("launcher", message)

    # -- the search ------------------------------------------------------------------------------

    def run(self):
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
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
            self.oracle.refresh()
            shutil.rmtree(self.info_dir, ignore_errors=True)
            self.result.duration = time.monotonic() - start
            self.result.processes = {p.name: p.runs for p in [self.chief, *self.workers]}
            self._report_trials()
            if supervised:
                for line in self.result.summary().splitlines():
                    self.output.write("launcher", line)
            self.output.close()
        return self.result

    def _supervise(self, deadline):
        done_at = None  # when every worker had finished and every dead one was signed off
        while True:
            if deadline is not None and time.monotonic() > deadline:
                self.note(f"timeout after {self.timeout} s: stopping every process")
                return "timeout"
            self.oracle.refresh()
            returncode = self.chief.poll()
            if returncode is not None:
                return self._chief_exited(returncode)
            for worker in self.workers:
                returncode = worker.poll()
                if returncode is not None and returncode != 0:
                    self._worker_died(worker, returncode)
            if done_at is None and not any(w.running for w in self.workers):
                status = self._workers_done()
                if status is not None:
                    return status
                done_at = time.monotonic()
            # The chief ends the search within a second of the last worker's sign-off; it may
            # then run the script's own code after tuner.search() for as long as it needs.
            if done_at is not None and not self.oracle.search_ended() and \
                    time.monotonic() - done_at > self.shutdown_grace:
                self.note(f"every worker is done but the chief had not ended the search after "
                          f"{self.shutdown_grace} s")
                self._note_unfinished_trials()
                return "incomplete"
            time.sleep(_TICK)

    def _workers_done(self):
        """Once no worker runs: None if the chief can end the search, else the search's status."""
        if not any(w.state == "finished" for w in self.workers):
            self.note("every worker died: the search cannot go on")
            self._note_unfinished_trials()
            return "failed"
        if not self._sign_off_dead_workers():
            self._note_unfinished_trials()
            return "incomplete"
        return None

    def _chief_exited(self, returncode):
        self.oracle.refresh()
        if not self.oracle.search_ended():
            if returncode == 0:
                self.note("the chief exited without serving the oracle to the end: does the "
                          "script call tuner.search() in every process?")
            else:
                self.note(f"the chief {describe_exit(returncode)}: stopping the workers")
            return "failed"
        if returncode != 0:
            self.note(f"the chief {describe_exit(returncode)} after the search ended")
        self._wait_for_workers_to_exit()
        return "completed"

    def _wait_for_workers_to_exit(self):
        # Workers normally exit at once; one still in code after tuner.search() that queries the
        # oracle would wait for the gone chief for an hour.
        deadline = time.monotonic() + self.shutdown_grace
        while time.monotonic() < deadline:
            for worker in self.workers:
                returncode = worker.poll()
                if returncode not in (None, 0):
                    self.note(f"{worker.name} {describe_exit(returncode)} after the search "
                              "ended")
            if not any(w.state == "running" for w in self.workers):
                break
            time.sleep(_TICK)
        for worker in self.workers:
            if worker.state == "running":
                self.note(f"{worker.name} was still running {self.shutdown_grace} s after the "
                          "search ended (code after tuner.search() that needs the chief? guard "
                          "it with tfq_meta.distributed.is_chief()): stopping it")

    def _worker_died(self, worker, returncode):
        if worker.restarts < self.max_restarts:
            worker.restarts += 1
            self.note(f"{worker.name} {describe_exit(returncode)}: restarting it (restart "
                      f"{worker.restarts} of {self.max_restarts}); it runs its unfinished trial "
                      "again")
            worker.start()
            return
        self.note(f"{worker.name} {describe_exit(returncode)} and is not restarted")
        if any(w.running for w in self.workers) and tuner_compat.DEAD_WORKER_TRIAL.applies():
            self._release(worker)

    def _note_unfinished_trials(self):
        unfinished = {w.name: self.oracle.unfinished_trial(w.name) for w in self.workers
                      if w.state == "dead"}
        unfinished = {name: trial for name, trial in unfinished.items() if trial is not None}
        if unfinished:
            self.note(f"unfinished trials {unfinished} stay RUNNING in the oracle: run the same "
                      "search again to resume it (finished trials are kept)")

    # -- dead workers ----------------------------------------------------------------------------

    def _release(self, worker):
        """Ends the dead worker's unfinished trial as INVALID, so the oracle retries or fails it."""
        trial_id = self.oracle.unfinished_trial(worker.name)
        if trial_id is None:
            return
        try:
            trial_id = self.oracle.end_running_trial(worker.name)
        except Exception as error:  # grpc.RpcError, e.g. the oracle's failure limit was reached
            self.note(f"could not end trial {trial_id} of {worker.name} in the oracle: {error}")
            return
        self.result.released[worker.name] = trial_id
        self.note(f"ended trial {trial_id} of {worker.name} as INVALID: the oracle retries "
                  "it on another worker if the tuner's max_retries_per_trial allows, else it is "
                  "FAILED")

    def _sign_off_dead_workers(self):
        """Tells the chief that dead workers want no more trials, so it can end the search.
        Returns False if the oracle still has work for a dead worker."""
        dead = [w.name for w in self.workers if w.state == "dead"]
        if not dead or not tuner_compat.DEAD_WORKER_TRIAL.applies():
            return True
        if any(self.oracle.unfinished_trial(name) is not None for name in dead):
            return False
        try:
            handed_out = self.oracle.sign_off(dead)
        except Exception as error:  # grpc.RpcError
            if not self.chief.running:
                return True  # it has just ended the search: the next tick sees it exit
            self.note(f"could not sign off the dead workers: {error}")
            return False
        if handed_out is not None:
            name, trial_id = handed_out
            self.note(f"the oracle gave trial {trial_id} to the dead {name}: no worker is left "
                      "to run it")
            return False
        return True

    # -- stopping and reporting ------------------------------------------------------------------

    def _stop_all(self):
        every = [self.chief, *self.workers]
        processes.stop_process_groups([p.popen for p in every], self.shutdown_grace)
        for process in every:
            process.record_stop()

    def _report_trials(self):
        info = self.oracle.info
        if info is None:
            return
        self.result.project_dir = info["project_dir"]
        self.result.objective = info["objective"]
        self.result.direction = info["direction"]
        self.result.trials = self.oracle.trials()
        self.result.best_trial = best_trial(self.result.trials, info["direction"])
