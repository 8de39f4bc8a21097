"""Local processes for distributed runs: free ports, process groups, stopping, prefixed logs.

Every launcher in tfq_meta (the ``tf.distribute`` worker runner, the keras-tuner search launcher,
the worker processes of ``bench/``) starts its processes with :func:`start_process_group`, so each
one leads a process group of its own: a signal to the group also reaches whatever the process
started (a data loader, a subprocess of the user's script), and nothing outlives the launcher.

Example:

>>> import sys
>>> from tfq_meta.distributed import processes
>>> port, = processes.free_ports(1)
>>> child = processes.start_process_group([sys.executable, "-c", "import time; time.sleep(60)"])
>>> processes.stop_process_groups([child], grace=5.0)
>>> child.returncode   # -SIGTERM
-15
"""
import os
import signal
import socket
import subprocess
import threading
import time

from tfq_meta._validation import check_positive_int

_POSIX = os.name == "posix"


def free_ports(n, host="127.0.0.1"):
    """``n`` distinct TCP ports free on ``host`` right now.

    Args:
        n: how many ports.
        host: an address of this machine to bind; an IPv6 address (with ``:``) binds an IPv6
            socket.

    Returns:
        a list of ``n`` port numbers. Another process may take one before it is used, so use
        them at once.

    Raises:
        ValueError: ``host`` is not an address this machine can listen on.

    Example:

    >>> len(set(free_ports(2)))
    2
    """
    check_positive_int(n, "n")
    check_host(host)
    sockets = []
    try:
        # All bound at once, so that the operating system hands out distinct ports.
        for _ in range(n):
            sockets.append(_bound_socket(host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def listen_problem(host, port=0):
    """Why this machine cannot listen on ``host:port`` (port 0: any free port), in words, or None
    if it can. Checked by binding a socket, which resolves ``host`` as the servers will."""
    try:
        _bound_socket(host, port).close()
    except (OSError, UnicodeError, OverflowError) as error:  # socket.gaierror is an OSError
        return getattr(error, "strerror", None) or str(error)
    return None


def check_host(host, argument="host"):
    """Returns ``host`` if this machine can listen on it, else raises a ValueError naming
    ``argument``: an unknown name or another machine's address fails here, not in a child."""
    problem = listen_problem(host) if isinstance(host, str) and host else "not an address"
    if problem is not None:
        raise ValueError(f"`{argument}` must be an address of this machine (e.g. 127.0.0.1 or "
                         f"localhost); got {host!r}: {problem}.")
    return host


def check_port(port, host, argument="port"):
    """Returns ``port`` if it is an int in 1 … 65535 that is free on ``host``, else raises a
    ValueError naming ``argument``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"`{argument}` must be a TCP port, an int in 1 … 65535; got {port!r}.")
    problem = listen_problem(host, port)
    if problem is not None:
        raise ValueError(f"`{argument}` {port} cannot be listened on at {host}: {problem}. Give "
                         "a free port, or none for one chosen at random.")
    return port


def check_arguments(arguments, argument):
    """``arguments`` as a list of strings (``os.PathLike`` too) for a command line: a single
    string would otherwise pass each of its characters as an argument."""
    if isinstance(arguments, (list, tuple)) and all(isinstance(a, (str, os.PathLike))
                                                    for a in arguments):
        return [os.fspath(a) for a in arguments]
    raise TypeError(f"`{argument}` must be a list of strings, e.g. ['--epochs', '3']; got "
                    f"{arguments!r}.")


def check_env(env, argument="env"):
    """``env`` (None, or a mapping of str to str) as a dict or None; subprocess would reject
    anything else only when the first process starts."""
    if env is None:
        return None
    if not hasattr(env, "items") or not all(isinstance(k, str) and isinstance(v, str)
                                            for k, v in env.items()):
        raise TypeError(f"`{argument}` must be None or a mapping of str to str; got {env!r}.")
    return dict(env)


def check_directory(path, argument, create=False):
    """Returns ``path`` if it is None or an existing directory, else raises a ValueError naming
    ``argument``, before any process starts. With ``create`` it is made first and must be
    writable (a directory for logs)."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{argument}` must be a directory path (str or os.PathLike); got "
                        f"{type(path).__name__}.")
    try:
        if create:
            os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ValueError(f"`{argument}` must be a directory this process can create; "
                         f"{os.fspath(path)!r} cannot be: {error.strerror or error}.") from None
    if not os.path.isdir(path) or (create and not os.access(path, os.W_OK | os.X_OK)):
        kind = "a writable directory" if create else "an existing directory"
        raise ValueError(f"`{argument}` must be {kind}; got {os.fspath(path)!r}.")
    return path


def _bound_socket(host, port):
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def start_process_group(command, **popen_arguments):
    """Starts ``command`` as the leader of a new process group (a new session on POSIX).

    Args:
        command: the argument list, e.g. ``[sys.executable, "train.py"]``.
        **popen_arguments: passed to ``subprocess.Popen`` (``env``, ``cwd``, ``stdout`` …).

    Returns:
        the ``subprocess.Popen``.

    Example:

    >>> import sys
    >>> child = start_process_group([sys.executable, "-c", "print(1)"], text=True,
    ...                             stdout=subprocess.PIPE)
    >>> child.communicate()[0].strip()
    '1'
    """
    if _POSIX:
        popen_arguments["start_new_session"] = True
    else:
        popen_arguments["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    return subprocess.Popen(command, **popen_arguments)


def signal_process_group(process, signum):
    """Sends ``signum`` to ``process`` and everything it started (its process group).

    Args:
        process: a ``subprocess.Popen`` started by :func:`start_process_group`.
        signum: e.g. ``signal.SIGTERM``.
    """
    try:
        if _POSIX:
            os.killpg(process.pid, signum)
        elif process.poll() is None:
            process.send_signal(signum)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group has exited already


def kill_process_group(process):
    """SIGKILL to ``process``'s group (on Windows: kills the process)."""
    if _POSIX:
        signal_process_group(process, signal.SIGKILL)
    elif process.poll() is None:
        process.kill()


def process_group_alive(process):
    """Whether any member of ``process``'s group is still running (on Windows: the process)."""
    if not _POSIX:
        return process.poll() is None
    try:
        os.killpg(process.pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_process_groups(processes, grace):
    """SIGTERM to every group, then SIGKILL to those alive after ``grace`` seconds; waits for all.

    Args:
        processes: ``subprocess.Popen`` objects started by :func:`start_process_group` (None
            entries are skipped).
        grace: seconds the processes get to exit after SIGTERM.

    Example::

        stop_process_groups([chief, worker], grace=15.0)
    """
    processes = [p for p in processes if p is not None]
    running = [p for p in processes if p.poll() is None]
    for process in running:
        signal_process_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.poll() is None for p in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        # Also groups whose leader has exited: anything the process started is killed too.
        if process_group_alive(process):
            kill_process_group(process)
        process.wait()


class PrefixedOutput:
    """Writes the lines of several processes to one stream as ``[name] line``, and optionally
    each process's lines to ``log_dir/<name>.log``; safe to call from several threads.

    Args:
        stream: a text stream (e.g. ``sys.stdout``), or None for no output.
        log_dir: a directory for the per-process log files, or None.

    Example:

    >>> import sys
    >>> output = PrefixedOutput(sys.stdout)   # and log_dir="logs" for logs/chief.log
    >>> output.write("chief", "serving the oracle")
    [chief] serving the oracle
    >>> output.close()
    """

    def __init__(self, stream, log_dir=None):
        self.stream, self.log_dir = stream, log_dir
        self._lock = threading.Lock()
        self._logs = {}

    def write(self, name, line):
        with self._lock:
            if self.log_dir is not None:
                self._log(name).write(line + "\n")
                self._logs[name].flush()
            if self.stream is not None:
                self.stream.write(f"[{name}] {line}\n")
                self.stream.flush()

    def _log(self, name):
        if name not in self._logs:
            os.makedirs(self.log_dir, exist_ok=True)
            self._logs[name] = open(os.path.join(self.log_dir, f"{name}.log"), "a")
        return self._logs[name]

    def stream_from(self, name, pipe):
        """Starts a daemon thread writing the lines of the binary ``pipe`` as ``name``'s."""
        thread = threading.Thread(target=self._copy_lines, args=(name, pipe), daemon=True)
        thread.start()
        return thread

    def _copy_lines(self, name, pipe):
        for line in iter(pipe.readline, b""):
            self.write(name, line.decode("utf-8", "replace").rstrip("\n"))
        pipe.close()

    def close(self):
        with self._lock:
            for log in self._logs.values():
                log.close()
            self._logs.clear()


def describe_exit(returncode):
    """``returncode`` in words: ``"running"``, ``"exited 3"`` or ``"killed by SIGKILL"``."""
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited {returncode}"
