"""Meta-training throughput (tasks per second) with 1 and 2 workers, and an estimate for clusters.

Workload: README's meta-learning example, MAML (second order, 1 inner step) of
``models.student(n_features=1)`` (4 qubits, 2 layers, 37 parameters) on ``Sinusoid(shots=10)``
episodes of 4, 16 and 64 tasks. A step is what ``fit`` runs per episode (the Keras train
function fed by the distributed episode iterator), sent as a command to the configuration's
worker processes (the pipe round trip, ~0.1 ms, is part of the time):
  1 worker (1 core)        one process, no strategy, 1 TensorFlow thread per pool
  2 workers (1 core each)  MultiWorkerMirroredStrategy, 2 such processes on 127.0.0.1
  1 process (2 cores)      one process, no strategy, TensorFlow's default threads
  mirrored (2 cores)       one process, MirroredStrategy over 2 logical CPU devices
Speed-ups are medians [quartiles] of paired blocks (timing.py).

Estimate for W workers of 1 core each, from measured costs:
  a, c   fixed cost per step and per task on 1 core: least squares of t1(B) = a + c B;
  o2     overhead of 2 workers, median over B of t2(B) - t1(B/2) (collectives, the slower
         worker, each worker sampling the whole global episode);
  m(W)   a step's collectives alone (gradient all-reduce and the logs' reduction) among W = 2, 3,
         4 light processes without a model, fitted as m0 + m1 (W - 1) (a ring takes 2 (W - 1)
         latency-bound hops);
  o(W)   between o2 m(W) / m(2) (all overhead grows like the communication) and
         o2 - m(2) + m(W) (only its communication part grows);  s  NumPy cost of one task.
  Strong scaling (64 tasks a step): t(W) = a + 64 c / W + o(W); weak (16 tasks a worker):
  t(W) = a + 16 c + o(W) + 16 s (W - 1). Assumes per-task compute independent of W, gRPC on
  loopback as costly as a datacenter hop, and stragglers no worse with W.

Run:  python bench/bench_distribute.py   (about 8 minutes; --quick for a smoke run). Writes
      bench/output/bench_distribute.json.
"""
import statistics
import time

import common  # first: sets up TensorFlow's environment
import timing

META_BATCHES = (4, 16, 64)
SHOTS = 10
ESTIMATE_WORKERS = (1, 2, 8, 64)
COLLECTIVE_WORKERS = (2, 3, 4)
GRADIENT_SHAPES = ((32,), (4, 1), (1,))  # the student's trainable variables, 37 parameters
N_LOGS = 2  # loss, mae (the training logs)
STRONG_BATCH, WEAK_TASKS_PER_WORKER = 64, 16
STARTUP_SECONDS = 300
ONE, TWO, TWO_CORES, MIRRORED = ("1 worker (1 core)", "2 workers (1 core each)",
                                 "1 process (2 cores)", "mirrored (2 cores)")
CONFIGURATIONS = {ONE: ("single_1core", 1), TWO: ("multiworker_1core", 2),
                  TWO_CORES: ("single", 1), MIRRORED: ("mirrored", 1)}  # (worker kind, processes)
SPEEDUPS = {"2 workers / 1 worker (1 core)": (ONE, TWO),
            "2 workers / 1 process (2 cores)": (TWO_CORES, TWO),
            "mirrored / 1 process (2 cores)": (TWO_CORES, MIRRORED)}
QUICK_TIMING = timing.BlockTiming(block_seconds=0.3, settle_seconds=0.05,
                                  configuration_seconds=8.0, min_repeats=3, warmup_steps=2)
TIMING = timing.BlockTiming(block_seconds=1.0, settle_seconds=0.2, configuration_seconds=80.0,
                            min_repeats=6, warmup_steps=5)


# Worker processes: TensorFlow set up *before* tfq_meta is imported (it starts the runtime).

def strategy_of(kind):
    import tensorflow as tf

    if kind.endswith("_1core") or kind == "collective":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if kind.startswith("multiworker") or kind == "collective":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    return tf.distribute.get_strategy()


def worker_main(kind):
    """Answers "start" (the replicas), "step" (one training step of ``tasks`` tasks) and the
    timed collectives; kind ``collective`` has no model, only its gradients' shapes."""
    import tensorflow as tf

    state = {}

    def handle(command):
        if command["op"] == "start":
            state["strategy"] = strategy = strategy_of(kind)
            if kind == "collective":
                state["gradients"] = [tf.zeros(shape) for shape in GRADIENT_SHAPES]
            else:
                state["step"], state["gradients"] = meta_training(strategy)
            state.update(collectives(strategy, state["gradients"]))
            return {"replicas": strategy.num_replicas_in_sync}
        if command["op"] == "step":
            return {"loss": state["step"](command["tasks"])}
        function, strategy = state[command["op"]], state["strategy"]
        start = time.perf_counter()
        for _ in range(command["n"]):
            tf.nest.map_structure(lambda t: t.numpy(),
                                  strategy.experimental_local_results(function()))
        return {"seconds": (time.perf_counter() - start) / command["n"]}

    common.serve(handle)


def collectives(strategy, gradients):
    """{"all_reduce": the gradients' all-reduce, "communication": that and then Keras' reduction
    of the training logs, shaped as tfq_meta._compat.keras.step_logs shapes them}."""
    import tensorflow as tf

    def reduced():
        return tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, [tf.identity(g) for g in gradients])

    def logs():
        total = tf.reduce_sum(reduced()[0])
        return [tf.reshape(total + i, [1]) for i in range(N_LOGS)]

    return {"all_reduce": tf.function(lambda: strategy.run(reduced)),
            "communication": tf.function(lambda: [strategy.reduce("MEAN", log, axis=0)
                                                  for log in strategy.run(logs)])}


def meta_training(strategy):
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
    family, iterators = tasks.Sinusoid(shots=SHOTS), {}

    def step(n_tasks):
        if n_tasks not in iterators:
            iterators[n_tasks] = iter(strategy.experimental_distribute_dataset(
                family.episodes(n_tasks, seed=n_tasks)))
        logs = meta.train_function(iterators[n_tasks])
        return float((logs.get_value() if hasattr(logs, "get_value") else logs)["loss"])

    return step, [v.value for v in meta.trainable_variables]


# The controller.

def start_workers(name, kind, n_processes):
    from tfq_meta.distributed.workers import local_tf_configs

    envs = [{"TF_CONFIG": c} for c in local_tf_configs(n_processes)] if n_processes > 1 else [{}]
    workers = common.Workers(__file__, kind, envs, name)
    try:
        workers.replicas = workers.ask(op="start", timeout=STARTUP_SECONDS)[0]["replicas"]
        if workers.replicas != n_processes * (2 if kind == "mirrored" else 1):
            raise workers.failure(f"{workers.replicas} replicas")
    except BaseException:
        workers.close()
        raise
    return workers


def collective_seconds(workers, op, n):
    """Seconds of one ``op`` call, the slowest worker's mean of ``n`` (after 5 untimed)."""
    workers.ask(op=op, n=5)
    return max(reply["seconds"] for reply in workers.ask(op=op, n=n))


def measure(configurations, plan, max_repeats):
    """{meta-batch: the configurations' timing record, tasks per second and speed-ups}."""
    results = {}
    for n_tasks in META_BATCHES:
        steps = {name: (lambda w=w, n=n_tasks: w.ask(op="step", tasks=n)[0]["loss"])
                 for name, w in configurations.items()}
        n_steps, samples = plan.measure(steps, max_repeats)
        record = common.timing_record(n_steps, samples)
        print(f"  meta-batch {n_tasks:>2}: " + ", ".join(
            f"{name} {ms:.1f} ms" for name, ms in record["median_ms"].items()), flush=True)
        results[n_tasks] = {
            **record,
            "tasks_per_s": {k: 1e3 * n_tasks / ms for k, ms in record["median_ms"].items()},
            # ratios of step times = ratios of tasks per second
            "paired_speedups": {key: timing.paired_ratio(samples, a, b)
                                for key, (a, b) in SPEEDUPS.items()}}
    return results


def measure_training(args):
    """:func:`measure` of the four configurations, and the collectives' seconds among the 2
    training workers."""
    configurations = {}
    try:
        for name, (kind, n_processes) in CONFIGURATIONS.items():
            start = time.perf_counter()
            configurations[name] = start_workers(name, kind, n_processes)
            print(f"started {name}: {configurations[name].replicas} replicas "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
        batches = measure(configurations, QUICK_TIMING if args.quick else TIMING,
                          4 if args.quick else 12)
        return batches, {op: collective_seconds(configurations[TWO], op, args.reduce_calls)
                         for op in ("all_reduce", "communication")}
    finally:
        for workers in configurations.values():
            workers.close()


def collective_latencies(n):
    """{op: {workers: seconds}} for light clusters (no model) of COLLECTIVE_WORKERS processes."""
    latencies = {"all_reduce": {}, "communication": {}}
    for count in COLLECTIVE_WORKERS:
        cluster = start_workers(f"{count} collective workers", "collective", count)
        try:
            for op, by_count in latencies.items():
                by_count[count] = collective_seconds(cluster, op, n)
        finally:
            cluster.close()
        print(f"  {count} light workers: " + ", ".join(
            f"{op} {1e3 * by_count[count]:.2f} ms" for op, by_count in latencies.items()),
            flush=True)
    return latencies


def sampling_seconds_per_task(n_tasks=64, repeats=50):
    """NumPy cost of sampling one Sinusoid task (what each worker does for every global task)."""
    from tfq_meta import tasks

    family = tasks.Sinusoid(shots=SHOTS)
    start = time.perf_counter()
    for i in range(repeats):
        family.sample(n_tasks, seed=[0, i])
    return (time.perf_counter() - start) / (repeats * n_tasks)


def cost_model(one_core, two_workers, communication, per_task_sampling):
    """The module docstring's model, fitted to the measurements (seconds)."""
    import numpy as np

    fit = np.polynomial.polynomial.polyfit
    fixed, per_task = fit(list(one_core), list(one_core.values()), 1)
    overheads = {n: two_workers[n] - (fixed + per_task * n / 2) for n in two_workers}
    overhead_2 = statistics.median(overheads.values())
    comm_0, comm_1 = fit([w - 1 for w in communication], list(communication.values()), 1)

    def comm(w):
        return comm_0 + comm_1 * (w - 1)

    def overheads_at(w):  # (all overhead grows like communication, only communication grows)
        return (0.0, 0.0) if w == 1 else (overhead_2 * comm(w) / comm(2),
                                          overhead_2 - comm(2) + comm(w))

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
            "communication_fit_ms": {"at_1_worker": 1e3 * comm_0, "per_extra_worker": 1e3 * comm_1},
            "sampling_ms_per_task": 1e3 * per_task_sampling, "rows": rows}


def span(values, spec):
    low, high = (f"{v:{spec}}" for v in sorted(values))
    return low if low == high else f"{low}-{high}"


def report(batches, in_training, model):
    common.print_table("tasks per second (median over repeats), and paired speed-ups (tasks/s of "
                       "the second over the first; median [quartiles]):",
                       ["meta-batch", *CONFIGURATIONS, *SPEEDUPS],
                       [[n, *(f"{b['tasks_per_s'][name]:.0f}" for name in CONFIGURATIONS),
                         *(timing.format_ratio(b["paired_speedups"][key]) for key in SPEEDUPS)]
                        for n, b in batches.items()])
    print("\ncollectives among the 2 training workers (ms per call; communication = a step's "
          "collectives without compute): "
          + ", ".join(f"{op} {1e3 * t:.2f}" for op, t in in_training.items()))
    fit = model["communication_fit_ms"]
    print(f"cost model, 1 core: {model['fixed_ms_per_step']:.1f} ms per step + "
          f"{model['ms_per_task']:.3f} ms per task; sampling {model['sampling_ms_per_task']:.3f} "
          "ms per task\noverhead of 2 workers, ms per step (t2(B) - t1(B/2)): " + ", ".join(
              f"B={n}: {o:.1f}" for n, o in model["overhead_ms_at_2_workers"].items())
          + f"; a step's communication (light workers, fit): {fit['at_1_worker']:.2f} + "
          f"{fit['per_extra_worker']:.2f} (W - 1) ms")
    common.print_table(
        "estimate, workers of 1 core, [overhead growing in proportion - only its communication "
        "part growing] (model in the docstring):",
        ["workers", "overhead ms/step", f"strong ({STRONG_BATCH} tasks/step) tasks/s",
         f"weak ({WEAK_TASKS_PER_WORKER} tasks/worker) tasks/s"],
        [[r["workers"], span(r["overhead_ms"], ".1f"), span(r["strong"]["tasks_per_s"], ".0f"),
          span(r["weak"]["tasks_per_s"], ".0f")] for r in model["rows"]])


def main(args):
    run = common.start(args)
    batches, in_training = measure_training(args)
    latencies = collective_latencies(args.reduce_calls)
    model = cost_model(*({n: b["median_ms"][name] / 1e3 for n, b in batches.items()}
                         for name in (ONE, TWO)), latencies["communication"],
                       sampling_seconds_per_task())
    report(batches, in_training, model)
    common.write_json("bench_distribute", __doc__, {
        **run, "meta_batches": batches, "cost_model": model,
        "collectives_ms": {"2_training_workers": {op: 1e3 * t for op, t in in_training.items()},
                           "light_workers": {op: {w: 1e3 * t for w, t in by.items()}
                                             for op, by in latencies.items()}}})


if __name__ == "__main__":
    parser = common.parser(__doc__, workers=True)
    parser.set_defaults(reduce_calls=300)  # calls per timed collective (--quick: 20)
    arguments = common.parse(parser, reduce_calls=20)
    if arguments.worker:
        worker_main(arguments.worker)
    else:
        main(arguments)
