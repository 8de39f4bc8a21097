"""One chief or worker process of a search: its runs, its output and its state.

Example::

    worker = TunerProcess("tuner0", command, environment, cwd=None, output=output)
    worker.start()
    worker.poll()        # None while it runs; its exit code once, when it has exited
"""
import subprocess

from tfq_meta.distributed import processes
from tfq_meta.distributed.search.results import ProcessRun


class TunerProcess:
    """A chief or worker process, started again (with the same tuner id) after each death.

    Args:
        name: its tuner id (``chief``, ``tuner0`` …), also the prefix of its output.
        command: the argument list to start it with.
        environment: its environment.
        cwd: its working directory.
        output: a :class:`~tfq_meta.distributed.processes.PrefixedOutput` for its lines.

    Attributes:
        runs: a :class:`ProcessRun` per start.
        restarts: how many times it was started again.
        state: ``new``, ``running``, ``finished`` (exit 0), ``dead`` (error or signal) or
            ``stopped`` (by the launcher).
    """

    def __init__(self, name, command, environment, cwd, output):
        self.name, self.command, self.environment = name, command, environment
        self.cwd, self.output = cwd, output
        self.runs = []
        self.popen = None
        self.reader = None
        self.restarts = 0
        self.state = "new"

    def start(self):
        self.popen = processes.start_process_group(
            self.command, env=self.environment, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.runs.append(ProcessRun(self.popen.pid))
        self.state = "running"
        self.reader = self.output.stream_from(self.name, self.popen.stdout)

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

    def record_stop(self):
        """After the launcher stopped the process: records its exit and joins its output."""
        if self.popen is not None and self.runs[-1].returncode is None:
            self.runs[-1].returncode = self.popen.returncode
            if self.state == "running":
                self.state = "stopped"
        if self.reader is not None:
            self.reader.join(timeout=5)
