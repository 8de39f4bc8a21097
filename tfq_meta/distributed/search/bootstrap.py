"""Runs first in every chief and worker process the search launcher starts, then the user's script.

The launcher starts ``python <this file> script.py args`` (or ``-m module args``). It runs as a
script, by path, rather than with ``python -m tfq_meta...``: that would import ``tfq_meta``, and
with it TensorFlow, before the user's script could set up its environment or a
``tf.distribute`` strategy (which must come before TensorFlow's runtime starts). Before it hands
over to the script, it

- stops this process, and everything it started, if the launcher is killed without cleaning up;
- in the chief: patches keras-tuner's oracle server when the search imports it, to record the
  oracle's project directory for the launcher's report and to notice quickly that the search has
  ended (see ``tfq_meta._compat.keras_tuner.patch_chief_server``);
- runs the script (or module) as ``python script.py args`` (``python -m module args``) would.

Example (what the launcher runs; the environment variables below are set by it)::

    python tfq_meta/distributed/search/bootstrap.py examples/distributed_search.py --epochs 3
"""
import importlib.abc
import importlib.util
import json
import os
import runpy
import signal
import sys
import threading
import time

# Environment variables the launcher sets for its children; the bootstrap removes them, so that
# the user's script and its subprocesses do not see them.
LAUNCHER_PID = "TFQ_META_LAUNCHER_PID"
SEARCH_INFO = "TFQ_META_SEARCH_INFO"  # chief only: where to write the oracle's report
CHIEF_SERVER_MODULE = "TFQ_META_CHIEF_SERVER_MODULE"  # chief only: the module to patch

_WATCH_SECONDS = 0.5
_ORPHAN_EXIT_CODE = 70


def watch_launcher(pid):
    """Kills this process's group once the launcher ``pid`` is gone (this process is reparented)."""
    while os.getppid() == pid:
        time.sleep(_WATCH_SECONDS)
    if os.name == "posix":  # this process leads its own group: it and whatever it started
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(_ORPHAN_EXIT_CODE)


def write_report(info_path, oracle, ended):
    """Writes what the launcher needs to know about the chief's ``oracle`` to ``info_path``."""
    # The chief is in `tuner.search()`: keras-tuner is loaded.
    from tfq_meta._compat import keras_tuner as tuner_compat

    objective = oracle.objective
    info = {"project_dir": tuner_compat.oracle_project_dir(oracle),
            "objective": getattr(objective, "name", None),
            "direction": getattr(objective, "direction", "min"),
            "max_trials": oracle.max_trials, "ended": ended}
    with open(info_path + ".tmp", "w") as file:
        json.dump(info, file)
    os.replace(info_path + ".tmp", info_path)  # the launcher never reads a half-written report


def patch_chief_server(module, info_path):
    """Patches keras-tuner's chief server ``module`` to report the oracle to ``info_path``."""
    from tfq_meta._compat import keras_tuner as tuner_compat

    tuner_compat.patch_chief_server(
        module, on_start=lambda oracle: write_report(info_path, oracle, ended=False),
        on_end=lambda oracle: write_report(info_path, oracle, ended=True))


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Calls ``patch(module)`` right after the module ``name`` is first imported."""

    def __init__(self, name, patch):
        self.name, self.patch = name, patch

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def patched_exec_module(module):
            exec_module(module)
            self.patch(module)

        spec.loader.exec_module = patched_exec_module
        return spec


def run_target(argv):
    """Runs ``argv`` (``[script, args…]`` or ``["-m", module, args…]``) as ``python`` would."""
    if argv[0] == "-m":
        sys.argv = argv[1:]
        sys.path[0] = os.getcwd()
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
        runpy.run_path(sys.argv[0], run_name="__main__")


def main():
    launcher = os.environ.pop(LAUNCHER_PID, None)
    info_path = os.environ.pop(SEARCH_INFO, None)
    server_module = os.environ.pop(CHIEF_SERVER_MODULE, None)
    if launcher:
        threading.Thread(target=watch_launcher, args=(int(launcher),), daemon=True).start()
    if info_path and server_module:
        sys.meta_path.insert(0, PatchOnImport(
            server_module, lambda module: patch_chief_server(module, info_path)))
    run_target(sys.argv[1:])


if __name__ == "__main__":
    main()
