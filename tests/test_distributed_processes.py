"""Process utilities: free ports, process groups that take their children along, prefixed logs.

The processes are plain Python; oracles are the operating system (binding a port, /proc, exit
codes) and the text written.
"""
import io
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from search_scripts import alive
from tfq_meta.distributed import processes

# Prints its child's pid, then sleeps; with "ignore", it survives SIGTERM.
PARENT = """
import signal, subprocess, sys, time
if sys.argv[1] == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def start_parent(mode):
    parent = processes.start_process_group([sys.executable, "-c", PARENT, mode],
                                           stdout=subprocess.PIPE, text=True)
    return parent, int(parent.stdout.readline())


def test_free_ports_are_distinct_and_bindable():
    ports = processes.free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
    with pytest.raises(ValueError, match="`n` must be a positive int; got 0"):
        processes.free_ports(0)


def test_stopping_process_groups_ends_children_and_kills_what_ignores_sigterm():
    polite, polite_child = start_parent("exit")
    stubborn, stubborn_child = start_parent("ignore")
    assert processes.process_group_alive(polite)
    start = time.monotonic()
    processes.stop_process_groups([polite, None, stubborn], grace=1.0)
    assert time.monotonic() - start < 10
    assert polite.returncode == -signal.SIGTERM
    assert stubborn.returncode == -signal.SIGKILL
    time.sleep(0.2)  # the orphaned children are reaped by init
    assert not [pid for pid in (polite_child, stubborn_child) if alive(pid)]


def test_a_group_outlives_its_leader_until_it_is_killed():
    parent, child = start_parent("exit")
    os.kill(parent.pid, signal.SIGKILL)  # the leader only
    parent.wait()
    assert alive(child) and processes.process_group_alive(parent)
    processes.kill_process_group(parent)
    time.sleep(0.2)
    assert not alive(child)


def test_prefixed_output_streams_each_process_with_its_name_and_logs_it(tmp_path):
    stream = io.StringIO()
    output = processes.PrefixedOutput(stream, log_dir=tmp_path / "logs")
    child = subprocess.Popen([sys.executable, "-c", "print('one'); print('two')"],
                             stdout=subprocess.PIPE)
    output.stream_from("tuner0", child.stdout).join(timeout=30)
    child.wait()
    output.write("launcher", "done")
    output.close()
    assert stream.getvalue() == "[tuner0] one\n[tuner0] two\n[launcher] done\n"
    assert (tmp_path / "logs" / "tuner0.log").read_text() == "one\ntwo\n"
    assert (tmp_path / "logs" / "launcher.log").read_text() == "done\n"
    processes.PrefixedOutput(None).write("chief", "silent")  # no stream, no logs: nothing


def test_exits_are_described_in_words():
    assert processes.describe_exit(None) == "running"
    assert processes.describe_exit(3) == "exited 3"
    assert processes.describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert processes.describe_exit(-200) == "killed by signal 200"
