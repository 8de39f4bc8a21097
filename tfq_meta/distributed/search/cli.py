"""The command line ``python -m tfq_meta.distributed [options] script.py [script args]``.

Example::

    python -m tfq_meta.distributed --workers 2 --timeout 600 --json result.json search.py
"""
import argparse
import json
import os
import signal
import sys
import threading

from tfq_meta.distributed.search.launcher import launch

_INTERRUPTED = 130


def parser():
    """The argument parser of the command line."""
    arguments = argparse.ArgumentParser(
        prog="python -m tfq_meta.distributed",
        description="Run a keras-tuner search script as a chief oracle and N workers on this "
                    "machine, and report the best trial.",
        epilog="Example: python -m tfq_meta.distributed --workers 2 examples/distributed_search.py")
    arguments.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    arguments.add_argument("--host", default="127.0.0.1",
                           help="address of the chief's oracle (default 127.0.0.1)")
    arguments.add_argument("--port", type=int, default=0, help="port of the oracle (default free)")
    arguments.add_argument("--timeout", type=float, default=None,
                           help="stop everything after this many seconds")
    arguments.add_argument("--max-restarts", type=int, default=1,
                           help="times a dead worker is restarted (default 1)")
    arguments.add_argument("--log-dir", default=None, help="also write each process's log here")
    arguments.add_argument("--json", default=None, help="write the result to this JSON file")
    arguments.add_argument("--quiet", action="store_true",
                           help="print only the launcher's messages and the report")
    arguments.add_argument("-m", dest="module", action="store_true",
                           help="the target is a module name (python -m) instead of a script")
    arguments.add_argument("script", help="the search script (or module with -m)")
    arguments.add_argument("args", nargs=argparse.REMAINDER, help="arguments of the script")
    return arguments


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
    options = parser().parse_args(argv)
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
    with open(f"{path}.tmp", "w") as file:
        json.dump(value, file, indent=2)
    os.replace(f"{path}.tmp", path)
