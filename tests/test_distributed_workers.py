"""run_workers runs a script as a local tf.distribute cluster; none of its workers outlives it.

The workers here are plain Python (no TensorFlow): they read their TF_CONFIG, so each knows its
index, and exit or sleep as told. Oracles: the exit codes, /proc (a killed worker is gone) and
the clock.
"""
import json
import os
import signal
import sys
import time

import pytest

from tfq_meta.distributed.workers import local_tf_configs, run_workers


def test_local_tf_configs_describe_one_cluster_with_distinct_free_ports():
    configs = [json.loads(config) for config in local_tf_configs(3)]
    cluster = configs[0]["cluster"]
    assert all(config["cluster"] == cluster for config in configs)
    assert [config["task"] for config in configs] == \
        [{"type": "worker", "index": index} for index in range(3)]
    hosts, ports = zip(*(address.split(":") for address in cluster["worker"]))
    assert set(hosts) == {"127.0.0.1"} and len(set(ports)) == 3
    with pytest.raises(ValueError, match="`n_workers` must be a positive int; got 0"):
        local_tf_configs(0)
    with pytest.raises(ValueError, match="`timeout` must be a positive finite number"):
        run_workers([sys.executable, "-c", "pass"], n_workers=1, timeout=None)


def test_run_workers_kills_the_others_when_a_worker_fails_or_time_runs_out():
    worker = ("import json, os, sys, time\n"
              "index = json.loads(os.environ['TF_CONFIG'])['task']['index']\n"
              "print(os.getpid(), flush=True)\n"
              "time.sleep(float(sys.argv[index + 1]))\n"
              "sys.exit(3)\n")
    start = time.monotonic()
    failed, waiting = run_workers([sys.executable, "-c", worker, "1", "600"], n_workers=2,
                                  timeout=60, check=False)
    assert time.monotonic() - start < 20
    assert failed.returncode == 3 and waiting.returncode == -signal.SIGKILL
    assert not os.path.exists(f"/proc/{int(waiting.stdout)}")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out after 2 s"):
        run_workers([sys.executable, "-c", worker, "600", "600"], n_workers=2, timeout=2)
    assert time.monotonic() - start < 15
