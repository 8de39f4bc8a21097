"""Running training on several local worker processes with ``tf.distribute``.

``MetaLearner`` and ``Distiller`` train under ``tf.distribute.MirroredStrategy`` and
``tf.distribute.MultiWorkerMirroredStrategy`` like any Keras model: create the strategy, then build
and compile the model inside ``strategy.scope()`` and call ``fit``. Each episode's tasks (each
batch's examples) are split across the replicas and their gradients averaged, each weighted by its
share of the tasks, so training gives the same weights as in one process, up to float rounding.

One thing differs from plain Keras: ``import tfq_meta`` (through ``import tensorflow_quantum``,
which creates a ``tf.CriticalSection`` at import) starts TensorFlow's runtime, after which
``tf.config.set_logical_device_configuration`` and ``MultiWorkerMirroredStrategy()`` fail
("Collective ops must be configured at program startup"). Set up devices and create the strategy
*before* importing tfq_meta::

    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()   # reads TF_CONFIG
    import tfq_meta

This module (which imports tfq_meta, so use it from the launching process) starts such worker
processes on one machine, e.g. to try a multi-worker script before running it on a cluster::

    from tfq_meta.distribute import run_workers
    results = run_workers([sys.executable, "train.py"], n_workers=2, timeout=600)

It also holds :class:`DistributedFit`, the fixes that let Keras 3 ``fit`` run under
``MultiWorkerMirroredStrategy`` at all, which MetaLearner and Distiller inherit.
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import tensorflow as tf

from tfq_meta._validation import check_positive_int


def free_ports(n, host="127.0.0.1"):
    """``n`` distinct TCP ports free on ``host`` right now."""
    sockets = []
    try:
        for _ in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def local_tf_configs(n_workers, host="127.0.0.1"):
    """``TF_CONFIG`` values (JSON strings) of ``n_workers`` workers of one cluster on ``host``.

    Worker 0 is the chief (it writes checkpoints and logs). Each worker's gRPC server gets a port
    free at the time of the call.
    """
    check_positive_int(n_workers, "n_workers")
    cluster = {"worker": [f"{host}:{port}" for port in free_ports(n_workers, host)]}
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
    """
    configs = local_tf_configs(n_workers)
    environment = dict(os.environ if env is None else env)
    processes, outputs = [], []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        for config in configs:
            stdout, stderr = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
            outputs.append((stdout, stderr))
            processes.append(subprocess.Popen(
                command, env={**environment, "TF_CONFIG": config}, cwd=cwd, stdout=stdout,
                stderr=stderr, text=True, start_new_session=True))
        while any(p.poll() is None for p in processes):
            if any(p.poll() not in (None, 0) for p in processes):
                break  # a worker failed: the others would wait for it forever
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.1)
    finally:
        for process in processes:
            if process.poll() is None:
                _kill_group(process)
        for process in processes:
            process.wait()
    results = []
    for process, (stdout, stderr) in zip(processes, outputs):
        texts = []
        for stream in (stdout, stderr):
            stream.seek(0)
            texts.append(stream.read())
            stream.close()
        results.append(subprocess.CompletedProcess(command, process.returncode, *texts))
    if check and (timed_out or any(r.returncode != 0 for r in results)):
        reason = f"timed out after {timeout} s" if timed_out else "failed"
        details = "\n".join(f"--- worker {i} (exit {r.returncode}):\n{r.stderr[-3000:]}"
                            for i, r in enumerate(results) if r.returncode != 0)
        raise RuntimeError(f"Local workers {reason}.\n{details}")
    return results


def _kill_group(process):
    """SIGKILL to the worker's process group (it was started in a session of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


# ------------------------------------------------------------ Keras 3 under tf.distribute

class DistributedFit:
    """Mixin of tfq_meta's ``keras.Model`` subclasses: ``fit``/``evaluate`` under tf.distribute.

    Keras 3 (3.15, TensorFlow backend) fails under ``MultiWorkerMirroredStrategy`` twice, for any
    model (keras-team/keras#20585, #20329; tensorflow/tensorflow#72388):

    - before the first step it builds the model from ``strategy.reduce("MEAN", first_batch)``,
      which under that strategy takes no nested batches (a dict of episode arrays, ``(x, y)``)
      and under any strategy needs the replicas' parts of the batch to have equal shapes. The
      build only reads shapes and dtypes, so it is given this worker's first replica's part;
    - it averages each step's logs over the workers with ``strategy.reduce("MEAN", log,
      axis=0)``, which fails on scalars: :func:`step_logs` gives the logs an axis of length 1
      there.

    Without a strategy nothing changes.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = getattr(self, "_distribute_strategy", None)
        if strategy is not None and iterator is not None and data_batch is None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(
                    lambda value: strategy.experimental_local_results(value)[0], next(batches))
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def step_logs(logs):
    """A train or test step's logs, shaped for Keras' reduction across workers (see
    :class:`DistributedFit`): scalars get an axis of length 1 under a multi-worker
    ``MultiWorkerMirroredStrategy``; otherwise ``logs`` unchanged."""
    strategy = tf.distribute.get_strategy()
    multi_worker = (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
                    getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)())
    if not multi_worker:
        return logs
    return tf.nest.map_structure(
        lambda value: tf.reshape(value, [1]) if tf.convert_to_tensor(value).shape.rank == 0
        else value, logs)
