"""The machine the benchmarks run on: other work on its 2 cores, and what software is measured.

Other processes on the cores slow every implementation, unevenly, so the scripts note the busy
share before they start (and can wait for it to drop), and record it with the software versions
and the checkout measured next to their results.
"""
import os
import platform
import subprocess
import time
from pathlib import Path

# Busy CPU share above this means other work competes for the cores.
BUSY_SHARE = 0.2
# Waiting for an idle machine: busy share below this, polled this often.
IDLE_SHARE = 0.25
POLL_SECONDS = 30.0


def busy_cpu_share(seconds=1.0):
    """Share of all CPUs' time spent busy over ``seconds`` (from /proc/stat), or None."""
    def idle_and_total():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle_after - idle_before) / max(1, total_after - total_before)


def note_if_busy(when="before starting"):
    """Measures the busy share, prints a note when other work competes; returns the share."""
    share = busy_cpu_share()
    if share is not None and share > BUSY_SHARE:
        print(f"note: the CPUs were {100 * share:.0f}% busy {when}; other processes compete "
              "for them, so expect noisier times.", flush=True)
    return share


def wait_for_idle(minutes):
    """Polls the busy CPU share until it is below IDLE_SHARE or ``minutes`` have passed; returns
    what happened, for the record (None when ``minutes`` is 0: no waiting)."""
    if minutes <= 0:
        return None
    deadline = time.monotonic() + 60 * minutes
    history = []
    while True:
        share = busy_cpu_share(2.0)
        history.append(share)
        if share is None or share < IDLE_SHARE:
            return {"idle": True, "waited_s": (len(history) - 1) * POLL_SECONDS,
                    "busy_shares": history}
        if time.monotonic() + POLL_SECONDS > deadline:
            print(f"WARNING: the CPUs stayed busy ({100 * share:.0f}%) for {minutes} minutes; "
                  "running anyway, expect noisy times.", flush=True)
            return {"idle": False, "waited_s": 60 * minutes, "busy_shares": history}
        print(f"  CPUs {100 * share:.0f}% busy; waiting for them to go idle...", flush=True)
        time.sleep(POLL_SECONDS)


def git_state():
    """Commit and modified files of the checkout measured (the engine changes often)."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        modified = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                  cwd=root, capture_output=True, text=True,
                                  check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "modified": [line[3:] for line in modified if line.strip()]}


def environment(**extra):
    """Checkout, Python, TensorFlow, TFQ and Keras versions and the CPUs, plus ``extra``."""
    import keras
    import tensorflow as tf
    import tensorflow_quantum as tfq

    return {"git": git_state(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "tensorflow_quantum": tfq.__version__,
            "keras": keras.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
            **extra}


def save_results(path, results, waited, busy_before):
    """Writes ``results`` as JSON to ``path`` with the machine's state (the idle wait, the busy
    share before and now) and the software measured."""
    import json

    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({
        **results,
        "machine": {"waited_for_idle": waited, "busy_share_before": busy_before,
                    "busy_share_after": note_if_busy("after the run")},
        "environment": environment()}, indent=1))
    print(f"wrote {path}")


def quick_and_wait_arguments(description):
    """The command line of the small benchmarks: ``--quick`` and ``--wait MINUTES``."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="minutes to wait for an idle machine first (default 0)")
    return parser
