"""Meta-training throughput (tasks per second) with 1 and 2 workers, and an estimate for clusters.

The workload is README's meta-learning example: MAML (exact second order, 1 inner step) of
``tfq_meta.models.student(n_features=1)`` (4 qubits, 2 layers, 37 parameters, statevector engine)
on ``tasks.Sinusoid(shots=10)`` episodes, at global meta-batches of 4, 16 and 64 tasks. A step is
what ``fit`` runs per episode: the Keras train function (inner loop, outer gradient, all-reduce,
optimizer, metrics, the logs' reduction), fed by the same distributed episode iterator as ``fit``.

Configurations, each a set of processes alive for the whole run (idle when not timed):
  1 worker (1 core)      one process, no strategy, TensorFlow limited to 1 thread per pool
  2 workers (1 core each) MultiWorkerMirroredStrategy, 2 processes on 127.0.0.1 (gRPC on
                         loopback), each limited to 1 thread per pool: half the tasks each
  1 process (2 cores)    one process, no strategy, TensorFlow's default threads (both cores)
  mirrored (2 cores)     one process, MirroredStrategy over 2 logical CPU devices, default threads

The controller times blocks of steps of each configuration in rotated order (bench/timing.py);
each step is a command to the configuration's processes and their answer (a pipe round trip,
~0.1 ms, is part of the time). Ratios are medians of paired blocks. The machine has 2 cores,
shared with other work: "2 workers (1 core each)" against "1 worker (1 core)" is the scaling of
adding a worker of the same size; against "1 process (2 cores)" it is what this machine gains.

Estimate for 8 and 64 workers of 1 core each, from measured costs:
  a, c   fixed cost per step and cost per task of 1 core: least squares of the 1-core step times
         t1(B) = a + c B over the meta-batches B;
  o2     overhead of 2 workers per step, o2 = t2(B) - t1(B/2), median over B: the collectives,
         waiting for the slower worker, and each worker sampling the whole global episode
         (tf.data shards episodes after generating them);
  m(W)   a step's communication without its computation, measured among W = 2, 3, 4 light
         worker processes (no model) on loopback: the gradient all-reduce (37 float32) and
         Keras' reduction of the 4 logs across workers (2 collectives per logged value per step
         under MultiWorkerMirroredStrategy), fitted as m(W) = m0 + m1 (W - 1): collectives of
         tiny tensors are latency-bound, a ring all-reduce takes 2 (W - 1) sequential hops;
  o(W)   the overhead at W workers, between o2 m(W) / m(2) (all of it grows like the
         communication) and o2 - m(2) + m(W) (only its communication part grows);
  s      NumPy cost of sampling one task.
  Strong scaling, 64 tasks per step split over W workers: t(W) = a + c 64 / W + o(W).
  Weak scaling, 16 tasks per worker (16 W per step): t(W) = a + 16 c + o(W) + s 16 (W - 1).
  Tasks per second = tasks per step / t(W). Assumptions: per-task compute does not change with
  W; a hop between machines costs what gRPC on loopback costs here (its software stack, ~0.5 ms
  a hop, dominates a datacenter network's wire latency); stragglers do not get worse with W;
  3-4 single-threaded light processes on 2 cores inflate m(3), m(4) a little.

Run:  python bench/bench_distribute.py            (about 8 minutes; --quick for a smoke run)
      Prints tables, the ratios and the estimate; writes bench/output/bench_distribute.json.
"""
import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))  # measure this checkout's tfq_meta, here and in the workers
OUTPUT = BENCH / "output" / "bench_distribute.json"
META_BATCHES = (4, 16, 64)
SHOTS = 10
ESTIMATE_WORKERS = (1, 2, 8, 64)
COLLECTIVE_WORKERS = (2, 3, 4)
GRADIENT_SHAPES = ((32,), (4, 1), (1,))  # the student's trainable variables, 37 parameters
N_LOGS = 2  # loss, mae (the training logs; pre-adaptation metrics are validation-only)
STRONG_BATCH, WEAK_TASKS_PER_WORKER = 64, 16
STARTUP_SECONDS = 300  # building processes, per configuration
CONFIGURATIONS = {  # name: (worker kind, processes)
    "1 worker (1 core)": ("single_1core", 1),
    "2 workers (1 core each)": ("multiworker_1core", 2),
    "1 process (2 cores)": ("single", 1),
    "mirrored (2 cores)": ("mirrored", 1),
}


# ------------------------------------------------------------------------- worker processes

def worker_main(kind):
    """Runs in a worker process: sets TensorFlow up *before* importing tfq_meta (which starts
    TensorFlow's runtime), builds the MetaLearner, then answers commands on stdin. Kind
    ``collective`` only all-reduces tensors shaped like the MetaLearner's gradients."""
    import tensorflow as tf

    if kind.endswith("_1core") or kind == "collective":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if kind.startswith("multiworker") or kind == "collective":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    else:
        strategy = tf.distribute.get_strategy()

    step = None
    if kind == "collective":
        gradients = [tf.zeros(shape) for shape in GRADIENT_SHAPES]
    else:
        step, gradients = _meta_training(strategy)

    @tf.function
    def all_reduce():
        def one_replica():
            return tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, [tf.identity(g) for g in gradients])
        return strategy.run(one_replica)

    @tf.function
    def communication():
        """A training step's communication without its computation: the gradient all-reduce,
        then Keras' reduction of the training logs (loss, mae) shaped
        as tfq_meta._compat.keras.step_logs shapes them."""
        def one_replica():
            reduced = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, [tf.identity(g) for g in gradients])
            return [tf.reshape(tf.reduce_sum(reduced[0]) + i, [1]) for i in range(N_LOGS)]
        logs = strategy.run(one_replica)
        return [strategy.reduce("MEAN", log, axis=0) for log in logs]

    functions = {"all_reduce": all_reduce, "communication": communication}

    print(json.dumps({"ready": True, "replicas": strategy.num_replicas_in_sync}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "step":
            answer = {"loss": step(command["tasks"])}
        elif command["op"] in functions:
            function = functions[command["op"]]
            start = time.perf_counter()
            for _ in range(command["n"]):
                result = function()
                tf.nest.map_structure(lambda t: t.numpy(), strategy.experimental_local_results(
                    result))
            answer = {"seconds": (time.perf_counter() - start) / command["n"]}
        else:
            break
        print(json.dumps(answer), flush=True)


def _meta_training(strategy):
    """step(n_tasks): one training step of the MetaLearner as ``fit`` runs it; and its
    variables (the shapes of its gradients)."""
    import keras

    import tfq_meta
    from tfq_meta import tasks

    with strategy.scope():
        keras.utils.set_random_seed(0)
        meta = tfq_meta.MetaLearner(tfq_meta.models.student(n_features=1), "maml",
                                    inner_steps=1, inner_lr=0.3, learn_inner_lr=False)
        meta.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    assert [tuple(v.shape) for v in meta.trainable_variables] == list(GRADIENT_SHAPES)
    meta.make_train_function()
    family = tasks.Sinusoid(shots=SHOTS)
    iterators = {}

    def step(n_tasks):
        if n_tasks not in iterators:
            iterators[n_tasks] = iter(strategy.experimental_distribute_dataset(
                family.episodes(n_tasks, seed=n_tasks)))
        logs = meta.train_function(iterators[n_tasks])
        logs = logs.get_value() if hasattr(logs, "get_value") else logs
        return float(logs["loss"])

    return step, [v.value for v in meta.trainable_variables]


# ---------------------------------------------------------------------------- the controller

class Configuration:
    """The processes of one configuration, driven by JSON lines on their stdin/stdout."""

    def __init__(self, name, kind, n_processes, timeout):
        from tfq_meta.distributed import processes
        from tfq_meta.distributed.workers import local_tf_configs

        self.name, self.timeout = name, timeout
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        configs = local_tf_configs(n_processes) if n_processes > 1 else [None]
        self.processes, self.errors = [], []
        for config in configs:
            self.errors.append(tempfile.TemporaryFile("w+"))
            self.processes.append(processes.start_process_group(
                [sys.executable, __file__, "--worker", kind],
                env=env if config is None else {**env, "TF_CONFIG": config},
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors[-1],
                text=True))
        try:
            self.replicas = self._answers(STARTUP_SECONDS)[0]["replicas"]
            if self.replicas != n_processes * (2 if kind == "mirrored" else 1):
                raise self._failed(f"{self.replicas} replicas")
        except BaseException:
            self.close()
            raise

    def _failed(self, message):
        tails = []
        for error in self.errors:
            error.seek(0)
            tails.append(error.read()[-2000:])
        return RuntimeError(f"{self.name}: {message}\n" + "\n---\n".join(tails))

    def _answers(self, timeout):
        answers = []
        deadline = time.monotonic() + timeout
        for process in self.processes:
            while True:
                ready, _, _ = select.select([process.stdout], [], [],
                                            max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise self._failed(f"no answer within {timeout} s")
                line = process.stdout.readline()
                if not line:
                    raise self._failed("a worker exited")
                if line.startswith("{"):
                    answers.append(json.loads(line))
                    break
        return answers

    def command(self, **command):
        for process in self.processes:
            process.stdin.write(json.dumps(command) + "\n")
            process.stdin.flush()
        return self._answers(self.timeout)

    def close(self):
        from tfq_meta.distributed.processes import kill_process_group

        for process in self.processes:
            try:
                process.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_process_group(process)
                process.wait()
        for error in self.errors:
            error.close()


def measure(configurations, timing, max_repeats):
    """{meta-batch: {configuration: [seconds per step, one per repeat]}} and steps per block."""
    samples, steps_per_block = {}, {}
    for n_tasks in META_BATCHES:
        steps = {name: (lambda c=c, n=n_tasks: c.command(op="step", tasks=n)[0]["loss"])
                 for name, c in configurations.items()}
        steps_per_block[n_tasks], samples[n_tasks] = timing.measure(steps, max_repeats)
        medians = {name: statistics.median(v) for name, v in samples[n_tasks].items()}
        print(f"  meta-batch {n_tasks:>2}: " + ", ".join(
            f"{name} {1e3 * s:.1f} ms ({n_tasks / s:.0f} tasks/s)"
            for name, s in medians.items()), flush=True)
    return samples, steps_per_block


def sampling_seconds_per_task(n_tasks=64, repeats=50):
    """NumPy cost of sampling one Sinusoid task (what each worker does for every global task)."""
    from tfq_meta import tasks

    family = tasks.Sinusoid(shots=SHOTS)
    start = time.perf_counter()
    for i in range(repeats):
        family.sample(n_tasks, seed=[0, i])
    return (time.perf_counter() - start) / (repeats * n_tasks)


def collective_seconds(configuration, op, n):
    """Seconds of one call of ``op`` (``all_reduce``: the gradients' all-reduce; ``communication``:
    a training step's collectives without its computation), the slowest worker's mean of n."""
    configuration.command(op=op, n=5)
    return max(answer["seconds"] for answer in configuration.command(op=op, n=n))


def collective_latencies(n):
    """{op: {workers: seconds}} for light clusters (no model) of COLLECTIVE_WORKERS processes."""
    latencies = {"all_reduce": {}, "communication": {}}
    for workers in COLLECTIVE_WORKERS:
        cluster = Configuration(f"{workers} collective workers", "collective", workers,
                                timeout=120)
        try:
            for op, by_workers in latencies.items():
                by_workers[workers] = collective_seconds(cluster, op, n)
        finally:
            cluster.close()
        print(f"  {workers} light workers: " + ", ".join(
            f"{op} {1e3 * by_workers[workers]:.2f} ms" for op, by_workers in latencies.items()),
            flush=True)
    return latencies


def cost_model(one_core, two_workers, communication, per_task_sampling):
    """The model of the module docstring, fitted to the measurements (seconds)."""
    import numpy as np

    batches = np.array(sorted(one_core), dtype=float)
    fixed, per_task = np.polynomial.polynomial.polyfit(
        batches, [one_core[int(b)] for b in batches], 1)
    overheads = {n: two_workers[n] - (fixed + per_task * n / 2) for n in two_workers}
    overhead_2 = statistics.median(overheads.values())
    workers = np.array(sorted(communication), dtype=float)
    comm_0, comm_per_worker = np.polynomial.polynomial.polyfit(
        workers - 1, [communication[int(w)] for w in workers], 1)

    def comm(w):
        return comm_0 + comm_per_worker * (w - 1)

    def overheads_at(w):
        """(proportional, additive): the whole 2-worker overhead grows like the communication,
        or only its communication part does."""
        if w == 1:
            return 0.0, 0.0
        return overhead_2 * comm(w) / comm(2), overhead_2 - comm(2) + comm(w)

    rows = []
    for w in ESTIMATE_WORKERS:
        row = {"workers": w, "overhead_ms": [1e3 * o for o in overheads_at(w)]}
        for scaling, tasks, compute in (
                ("strong", STRONG_BATCH, fixed + per_task * STRONG_BATCH / w),
                ("weak", WEAK_TASKS_PER_WORKER * w, fixed + per_task * WEAK_TASKS_PER_WORKER +
                 per_task_sampling * WEAK_TASKS_PER_WORKER * (w - 1))):
            steps = [compute + o for o in overheads_at(w)]
            row[scaling] = {"global_tasks": tasks, "step_ms": [1e3 * t for t in steps],
                            "tasks_per_s": [tasks / t for t in steps]}
        rows.append(row)
    return {"fixed_ms_per_step": 1e3 * fixed, "ms_per_task": 1e3 * per_task,
            "overhead_ms_at_2_workers": {n: 1e3 * o for n, o in overheads.items()},
            "overhead_ms_at_2_workers_median": 1e3 * overhead_2,
            "communication_fit_ms": {"at_1_worker": 1e3 * comm_0,
                                     "per_extra_worker": 1e3 * comm_per_worker},
            "sampling_ms_per_task": 1e3 * per_task_sampling, "rows": rows}


def main(args):
    sys.path.insert(0, str(BENCH))
    from machine_state import environment, note_if_busy, wait_for_idle
    from timing import BlockTiming, format_ratio, paired_ratio

    timing = (BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=8.0,
                          min_repeats=3, warmup_steps=2) if args.quick else
              BlockTiming(block_seconds=1.0, settle_seconds=0.2, configuration_seconds=80.0,
                          min_repeats=6, warmup_steps=5))
    n_reduce = 20 if args.quick else 300
    waited = wait_for_idle(args.wait)
    busy_before = note_if_busy()
    configurations = {}
    try:
        for name, (kind, n_processes) in CONFIGURATIONS.items():
            start = time.perf_counter()
            configurations[name] = Configuration(name, kind, n_processes, timeout=120)
            print(f"started {name}: {configurations[name].replicas} replicas "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        samples, steps_per_block = measure(configurations, timing, 4 if args.quick else 12)
        in_training = {op: collective_seconds(configurations["2 workers (1 core each)"], op,
                                              n_reduce)
                       for op in ("all_reduce", "communication")}
    finally:
        for configuration in configurations.values():
            configuration.close()
    print("collectives (ms per call; communication = a step's collectives without compute):\n"
          "  2 training workers: " + ", ".join(
              f"{op} {1e3 * t:.2f} ms" for op, t in in_training.items()), flush=True)
    latencies = collective_latencies(n_reduce)
    sampling = sampling_seconds_per_task()

    medians = {n: {name: statistics.median(v) for name, v in by_name.items()}
               for n, by_name in samples.items()}
    one, two = "1 worker (1 core)", "2 workers (1 core each)"
    ratios = {n: {"2 workers / 1 worker (1 core)": paired_ratio(samples[n], one, two),
                  "2 workers / 1 process (2 cores)": paired_ratio(
                      samples[n], "1 process (2 cores)", two),
                  "mirrored / 1 process (2 cores)": paired_ratio(
                      samples[n], "1 process (2 cores)", "mirrored (2 cores)")}
              for n in META_BATCHES}  # ratios of step times = ratios of tasks per second
    model = cost_model({n: medians[n][one] for n in META_BATCHES},
                       {n: medians[n][two] for n in META_BATCHES}, latencies["communication"],
                       sampling)

    print("\ntasks per second (median over repeats):")
    for n in META_BATCHES:
        print(f"  meta-batch {n:>2}: " + ", ".join(
            f"{name}: {n / s:.0f}" for name, s in medians[n].items()))
    print("paired speed-ups (tasks/s of the second over the first; median [quartiles]):")
    for n in META_BATCHES:
        print(f"  meta-batch {n:>2}: " + "; ".join(
            f"{name} {format_ratio(r)}" for name, r in ratios[n].items()))
    print(f"\ncost model, 1 core: {model['fixed_ms_per_step']:.1f} ms per step + "
          f"{model['ms_per_task']:.3f} ms per task; sampling {model['sampling_ms_per_task']:.3f} "
          "ms per task")
    print("overhead of 2 workers, ms per step (t2(B) - t1(B/2)): " + ", ".join(
        f"B={n}: {o:.1f}" for n, o in model["overhead_ms_at_2_workers"].items()) +
          "; a step's communication (light workers, fit): "
          f"{model['communication_fit_ms']['at_1_worker']:.2f} + "
          f"{model['communication_fit_ms']['per_extra_worker']:.2f} (W - 1) ms")
    print("estimate, workers of 1 core, [overhead growing in proportion - only its "
          "communication part growing] (model in the docstring):")
    for row in model["rows"]:
        print(f"  {row['workers']:>2} workers: overhead " + _span(row["overhead_ms"], ".1f") +
              f" ms/step; strong ({STRONG_BATCH} tasks/step) " +
              _span(row["strong"]["tasks_per_s"], ".0f") +
              f" tasks/s; weak ({WEAK_TASKS_PER_WORKER} tasks/worker) " +
              _span(row["weak"]["tasks_per_s"], ".0f") + " tasks/s")

    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps({
        "workload": {"model": "student(n_features=1): 4 qubits, 2 layers, 37 parameters",
                     "algorithm": "maml, inner_steps=1", "shots": SHOTS},
        "median_ms_per_step": {n: {k: 1e3 * v for k, v in m.items()} for n, m in medians.items()},
        "tasks_per_s": {n: {k: n / v for k, v in m.items()} for n, m in medians.items()},
        "paired_speedups": ratios, "steps_per_block": steps_per_block,
        "samples_ms": {n: {k: [1e3 * s for s in v] for k, v in by.items()}
                       for n, by in samples.items()},
        "collectives_ms": {"2_training_workers": {op: 1e3 * t for op, t in in_training.items()},
                           "light_workers": {op: {w: 1e3 * t for w, t in by.items()}
                                             for op, by in latencies.items()}},
        "cost_model": model,
        "quick": args.quick,
        "machine": {"waited_for_idle": waited, "busy_share_before": busy_before,
                    "busy_share_after": note_if_busy("after the run")},
        "environment": environment()}, indent=1))
    print(f"wrote {OUTPUT}")


def _span(values, spec):
    low, high = sorted(values)
    return f"{low:{spec}}" if f"{low:{spec}}" == f"{high:{spec}}" else \
        f"{low:{spec}}-{high:{spec}}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="minutes to wait for an idle machine first (default 0)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker:
        worker_main(arguments.worker)
    else:
        main(arguments)
