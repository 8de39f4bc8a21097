"""The command line ``python -m tfq_meta.distributed [options] script.py [script args]``.

Example::

    python -m tfq_meta.distributed --workers 2 --timeout 600 --json result.json search.py
"""
import argparse
import functools
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path

from tfq_meta.distributed import processes
from tfq_meta.distributed.search.launcher import launch
from tfq_meta.saving import write_atomically

_INTERRUPTED = 130


def parser():
    """The argument parser of the command line."""
    arguments = argparse.ArgumentParser(
        prog="python -m tfq_meta.distributed",
        description="Run a keras-tuner search script as a chief oracle and N workers on this "
                    "machine, and report the best trial.",
        epilog="Example: python -m tfq_meta.distributed --workers 2 examples/distributed_search.py")
    arguments.add_argument("--workers", type=_int_at_least(1), default=2,
                           help="worker processes (default 2)")
    arguments.add_argument("--host", type=_checked_by(processes.check_host, "--host"),
                           default="127.0.0.1",
                           help="address of the chief's oracle (default 127.0.0.1)")
    arguments.add_argument("--port", type=_port, default=0,
                           help="port of the oracle (default 0: a free one)")
    arguments.add_argument("--timeout", type=_positive_seconds, default=None,
                           help="stop everything after this many seconds")
    arguments.add_argument("--max-restarts", type=_int_at_least(0), default=1,
                           help="times a dead worker is restarted (default 1)")
    arguments.add_argument("--log-dir", default=None, type=_checked_by(
                               functools.partial(processes.check_directory, create=True),
                               "--log-dir"),
                           help="also write each process's log here")
    arguments.add_argument("--json", type=_json_path, default=None,
                           help="write the result to this JSON file")
    arguments.add_argument("--quiet", action="store_true",
                           help="print only the launcher's messages and the report")
    arguments.add_argument("-m", dest="module", action="store_true",
                           help="the target is a module name (python -m) instead of a script")
    arguments.add_argument("script", help="the search script (or module with -m)")
    arguments.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the script")
    return arguments


# Option types: argparse reports their errors as "argument --option: <message>" and exits with
# status 2 before anything starts; a search is not launched only to fail at its end.

def _int_at_least(minimum):
    def convert(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an int >= {minimum}; got {text!r}")
        return value
    convert.__name__ = f"int >= {minimum}"
    return convert


def _positive_seconds(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds; got {text!r}")
    return value


def _port(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port in 1 … 65535 (0: a free one); got "
                                         f"{text!r}")
    return value


def _checked_by(check, option):
    """An option type running ``check(text, option)``, a check of :mod:`..processes`, whose
    error argparse then reports after "argument <option>:"."""
    def convert(text):
        try:
            return check(text, option)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(str(error).replace(f"`{option}` ", "")) from None
    convert.__name__ = option
    return convert


def _json_path(text):
    directory = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text) or not os.path.isdir(directory) or \
            not os.access(directory, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"must be a file path in an existing, writable "
                                         f"directory; got {text!r}")
    return text


class QuietOutput:
    """A text stream that passes on the launcher's own lines only."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if text.startswith("[launcher]"):
            self.stream.write(text)

    def flush(self):
        self.stream.flush()


def main(argv=None):
    """Runs the command line with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        the exit code: 0 if the search completed and the chief's script exited cleanly, 1 if
        not, 130 if interrupted (Ctrl-C or SIGTERM; every process is stopped).

    Example::

        main(["--workers", "2", "examples/distributed_search.py"])
        # 0
    """
    options = _checked(parser(), argv)
    try:
        with _signals_interrupt():
            result = launch(options.script, options.args, workers=options.workers,
                            module=options.module, host=options.host, port=options.port or None,
                            timeout=options.timeout, max_restarts=options.max_restarts,
                            log_dir=options.log_dir,
                            output=QuietOutput(sys.stdout) if options.quiet else sys.stdout)
    except KeyboardInterrupt:
        print("[launcher] interrupted; finished trials are kept in the tuner's directory: run "
              "the same command again to resume", flush=True)
        return _INTERRUPTED
    if options.json:
        _write_json(options.json, result.to_dict())
    completed = result.status == "completed" and result.processes["chief"][-1].returncode == 0
    return 0 if completed else 1


def _checked(arguments, argv):
    """The parsed options, after the checks that need two of them or the file system; errors go
    through argparse (usage, exit status 2) before any process starts."""
    options = arguments.parse_args(argv)
    if not options.module and not os.path.isfile(options.script):
        arguments.error(f"argument script: no file {options.script!r} (give a Python script, or "
                        "-m and a module name)")
    problem = options.port and processes.listen_problem(options.host, options.port)
    if problem:
        arguments.error(f"argument --port: {options.port} cannot be listened on at "
                        f"{options.host}: {problem}; give a free port, or 0 for one chosen at "
                        "random")
    return options


class _signals_interrupt:
    """Within it, SIGINT and SIGTERM raise KeyboardInterrupt, also when started in the background,
    where the shell makes SIGINT ignored (only possible in the main thread)."""

    def __enter__(self):
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, _interrupt)
                             for signum in (signal.SIGINT, signal.SIGTERM)}

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _write_json(path, value):
    """Writes ``value`` to ``path`` through a temporary file, so a reader never sees half."""
    def write(staging):
        with open(staging, "w") as file:
            json.dump(value, file, indent=2)
    write_atomically(write, Path(path))
