"""A local ``tf.distribute`` cluster: one script run as several worker processes on one machine.

Each worker gets its ``TF_CONFIG`` (the cluster's addresses and its own index), so a script that
creates ``tf.distribute.MultiWorkerMirroredStrategy()`` *before* ``import tfq_meta`` trains as one
of the cluster's workers. Useful to try a multi-worker script before running it on a cluster.

Example::

    from tfq_meta.distributed.workers import run_workers
    results = run_workers([sys.executable, "train.py"], n_workers=2, timeout=600)
    [r.returncode for r in results]
    # [0, 0]
"""
import json
import os
import subprocess
import tempfile
import time

from tfq_meta._validation import check_bool, check_positive_float, check_positive_int
from tfq_meta.distributed import processes

_POLL_SECONDS = 0.1


def local_tf_configs(n_workers, host="127.0.0.1"):
    """``TF_CONFIG`` values (JSON strings) of ``n_workers`` workers of one cluster on ``host``.

    Worker 0 is the chief (it writes checkpoints and logs). Each worker's gRPC server gets a port
    free at the time of the call.

    Args:
        n_workers: how many workers.
        host: the address every worker listens on, one of this machine's.

    Returns:
        a list of ``n_workers`` JSON strings, in worker order.

    Example:

    >>> json.loads(local_tf_configs(2)[1])["task"]
    {'type': 'worker', 'index': 1}
    """
    check_positive_int(n_workers, "n_workers")
    cluster = {"worker": [f"{host}:{port}" for port in processes.free_ports(n_workers, host)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            for index in range(n_workers)]


def run_workers(command, n_workers, timeout, env=None, cwd=None, check=True):
    """Runs ``command`` as ``n_workers`` processes of one local cluster and waits for them.

    Each process gets its ``TF_CONFIG`` (see :func:`local_tf_configs`) on top of ``env``
    (default: this process's environment). A worker whose peer dies waits forever in its
    collective ops, so as soon as one worker fails, or ``timeout`` seconds have passed, all the
    others are killed (with their children); none outlives this call.

    Args:
        command: the argument list of each worker, e.g. ``[sys.executable, "train.py"]``.
        n_workers: how many workers.
        timeout: seconds for the whole run.
        env: environment of the workers; default ``os.environ``.
        cwd: their working directory.
        check: raise ``RuntimeError`` (with the failed workers' output) unless all succeed.

    Returns:
        one ``subprocess.CompletedProcess`` per worker, in worker order (``returncode`` is
        negative for a worker killed by a signal).

    Example::

        run_workers([sys.executable, "train.py"], n_workers=2, timeout=600)
    """
    command = _check_command(command)
    check_positive_int(n_workers, "n_workers")
    if timeout is None:
        raise ValueError("`timeout` must be a positive finite number of seconds; got None: a "
                         "worker whose peer hangs waits in its collective ops forever, so the "
                         "run needs a deadline.")
    check_positive_float(timeout, "timeout")
    cwd = processes.check_directory(cwd, "cwd")
    check_bool(check, "check")
    environment = dict(os.environ if env is None else processes.check_env(env))
    configs = local_tf_configs(n_workers)
    workers, outputs = [], []
    timed_out = False
    try:
        for config in configs:
            outputs.append((tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")))
            workers.append(processes.start_process_group(
                command, env={**environment, "TF_CONFIG": config}, cwd=cwd,
                stdout=outputs[-1][0], stderr=outputs[-1][1], text=True))
        timed_out = _wait_until_done_or_failed(workers, time.monotonic() + timeout)
    finally:
        for worker in workers:
            if worker.poll() is None:
                processes.kill_process_group(worker)
        for worker in workers:
            worker.wait()
    results = [subprocess.CompletedProcess(command, worker.returncode, *_read_all(streams))
               for worker, streams in zip(workers, outputs)]
    if check and (timed_out or any(r.returncode != 0 for r in results)):
        raise RuntimeError(_failure_report(results, timed_out, timeout))
    return results


def _check_command(command):
    if isinstance(command, (str, os.PathLike)) or not command:
        raise TypeError(f"`command` must be a non-empty list of strings, e.g. [sys.executable, "
                        f"'train.py']; got {command!r}.")
    return processes.check_arguments(command, "command")


def _wait_until_done_or_failed(workers, deadline):
    """Waits for every worker to exit, or one to fail; returns whether the deadline passed."""
    while any(w.poll() is None for w in workers):
        if any(w.poll() not in (None, 0) for w in workers):
            return False  # a worker failed: the others would wait for it forever
        if time.monotonic() > deadline:
            return True
        time.sleep(_POLL_SECONDS)
    return False


def _read_all(streams):
    texts = []
    for stream in streams:
        stream.seek(0)
        texts.append(stream.read())
        stream.close()
    return texts


def _failure_report(results, timed_out, timeout):
    reason = f"timed out after {timeout} s" if timed_out else "failed"
    details = "\n".join(f"--- worker {i} (exit {r.returncode}):\n{r.stderr[-3000:]}"
                        for i, r in enumerate(results) if r.returncode != 0)
    return f"Local workers {reason}.\n{details}"
