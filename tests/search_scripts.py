"""Scripts and helpers shared by the search launcher's tests (not a test module)."""
import json
import os
import pathlib

PLAIN_SCRIPT = """
import glob, json, os, signal, subprocess, sys, time

role = os.environ["KERASTUNER_TUNER_ID"]
mode = os.environ["MODE"]
record = {"argv": sys.argv, "pid": os.getpid(), "ip": os.environ["KERASTUNER_ORACLE_IP"],
          "port": os.environ["KERASTUNER_ORACLE_PORT"], "children": []}
if mode == "hang":
    if role != "chief":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)   # must be killed with SIGKILL
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    record["children"].append(child.pid)
with open(f"{role}-{os.getpid()}.json", "w") as file:
    json.dump(record, file)
if mode == "hang" or (mode == "workers_fail" and role == "chief"):
    time.sleep(600)
if mode == "workers_fail":
    sys.exit(3)
if mode == "exit" and role == "chief":
    # The chief exits last, so that no worker is stopped before it has recorded its start.
    deadline = time.monotonic() + 20
    while len(glob.glob("*-*.json")) < int(os.environ["PROCESSES"]) and \\
            time.monotonic() < deadline:
        time.sleep(0.05)
"""


def records(directory):
    return {path.name.split("-")[0]: json.loads(path.read_text())
            for path in pathlib.Path(directory).glob("*-*.json")}


def alive(pid):
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
