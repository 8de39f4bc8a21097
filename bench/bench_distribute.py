"""Meta-training throughput (tasks per second) with 1 and 2 workers, and an estimate for clusters.

A step: one ``fit`` step (MAML of ``models.student(n_features=1)``, Sinusoid episodes of 4, 16 and
64 tasks) in worker processes: 1 worker (1 core) or 1 process (2 cores), no strategy; 2 workers
(MultiWorkerMirroredStrategy on 127.0.0.1); mirrored (2 logical CPUs). Estimate for W workers of
1 core: t1(B) = a + c B on 1 core; o2 = median of t2(B) - t1(B/2); communication m(W) = m0 + m1
(W - 1) among 2-4 light processes; overhead o(W) from o2 m(W) / m(2) to o2 - m(2) + m(W); strong
t = a + 64 c / W + o(W); weak t = a + 16 c + o(W) + 16 s (W - 1), s: sampling a task.

Run:  python bench/bench_distribute.py [--quick]   (about 8 minutes). Writes
      bench/output/bench_distribute.json.
"""
import contextlib
import dataclasses
import statistics
import time

import common  # first: sets up TensorFlow's environment
import numpy as np
import tensorflow as tf

import timing

META_BATCHES, SHOTS = (4, 16, 64), 10
ESTIMATE_WORKERS, COLLECTIVE_WORKERS = (1, 2, 8, 64), (2, 3, 4)
GRADIENT_SHAPES = ((32,), (4, 1), (1,))  # the student's trainable variables, 37 parameters
N_LOGS = 2  # loss, mae (the training logs)
STRONG_BATCH, WEAK_TASKS_PER_WORKER = 64, 16
ONE, TWO, TWO_CORES, MIRRORED = ("1 worker (1 core)", "2 workers (1 core each)",
                                 "1 process (2 cores)", "mirrored (2 cores)")
CONFIGURATIONS = {ONE: ("single_1core", 1), TWO: ("multiworker_1core", 2),
                  TWO_CORES: ("single", 1), MIRRORED: ("mirrored", 1)}  # (worker kind, processes)
SPEEDUPS = {"2 workers / 1 worker (1 core)": (ONE, TWO),
            "2 workers / 1 process (2 cores)": (TWO_CORES, TWO),
            "mirrored / 1 process (2 cores)": (TWO_CORES, MIRRORED)}
TIMING = timing.BlockTiming(block_seconds=1.0, settle_seconds=0.2, configuration_seconds=80.0,
                            min_repeats=6, warmup_steps=5)
QUICK = dataclasses.replace(TIMING, block_seconds=0.3, settle_seconds=0.05,
                            configuration_seconds=8.0, min_repeats=3, warmup_steps=2)


def worker_main(kind):
    """Answers "start", "step" and the timed collectives ("collective" workers have no model).
    TensorFlow is set up before tfq_meta is imported: that starts the runtime."""
    if kind.endswith("_1core") or kind == "collective":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    state = {}

    def handle(command):
        if command["op"] == "start":
            if kind.startswith("multiworker") or kind == "collective":
                strategy = tf.distribute.MultiWorkerMirroredStrategy()
            elif kind == "mirrored":
                strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
            else:
                strategy = tf.distribute.get_strategy()
            state["strategy"] = strategy
            if kind == "collective":
                state["gradients"] = [tf.zeros(shape) for shape in GRADIENT_SHAPES]
            else:
                state["step"], state["gradients"] = meta_training(strategy)
            state.update(collectives(strategy, state["gradients"]))
            return {"replicas": strategy.num_replicas_in_sync}
        if command["op"] == "step":
            return {"loss": state["step"](command["tasks"])}
        function, strategy = state[command["op"]], state["strategy"]
        for n in (5, command["n"]):  # 5 untimed calls first
            start = time.perf_counter()
            for _ in range(n):
                tf.nest.map_structure(lambda t: t.numpy(),
                                      strategy.experimental_local_results(function()))
        return {"seconds": (time.perf_counter() - start) / command["n"]}

    common.serve(handle)


def collectives(strategy, gradients):
    """The gradients' all-reduce, and that and then the reduction of the logs (as Keras)."""
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
    """step(n_tasks), as ``fit`` runs it, and the MetaLearner's variables."""
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


def started(name, kind, n_processes):
    """:class:`common.Workers` of ``kind`` that have started their strategy's replicas."""
    from tfq_meta.distributed.workers import local_tf_configs

    envs = [{"TF_CONFIG": c} for c in local_tf_configs(n_processes)] if n_processes > 1 else [{}]
    start, workers = time.perf_counter(), common.Workers(__file__, kind, envs, name)
    try:
        replicas = workers.ask(op="start", timeout=300.0)[0]["replicas"]
        if replicas != n_processes * (2 if kind == "mirrored" else 1):
            raise workers.failure(f"{replicas} replicas")
    except BaseException:
        workers.close()
        raise
    print(f"started {name}: {replicas} replicas ({time.perf_counter() - start:.0f} s)", flush=True)
    return workers


def collectives_ms(workers, label, n):
    """{op: ms of one call, the slowest worker's mean of ``n``}, printed after ``label``."""
    ms = {op: 1e3 * max(reply["seconds"] for reply in workers.ask(op=op, n=n))
          for op in ("all_reduce", "communication")}
    print(f"  collectives among {label}: " + ", ".join(f"{op} {t:.2f} ms" for op, t in ms.items()),
          flush=True)
    return ms


def measure_training(args):
    """{meta-batch: the configurations' timing record}, and the 2 training workers' collectives."""
    batches = {}
    with contextlib.ExitStack() as stack:
        configurations = {name: stack.enter_context(started(name, *configuration))
                          for name, configuration in CONFIGURATIONS.items()}
        for n_tasks in META_BATCHES:
            steps = {name: (lambda w=w, n=n_tasks: w.ask(op="step", tasks=n)[0]["loss"])
                     for name, w in configurations.items()}
            # Ratios of step times are ratios of tasks per second.
            record = args.timing.measure(steps, args.repeats, ratios=SPEEDUPS,
                                         label=f"meta-batch {n_tasks:>2}")
            batches[n_tasks] = {**record, "tasks_per_s": {
                k: 1e3 * n_tasks / ms for k, ms in record["median_ms"].items()}}
        return batches, collectives_ms(configurations[TWO], "the 2 training workers "
                                       "(communication: a step's, no compute)", args.reduce_calls)


def sampling_ms_per_task(n_tasks=64, repeats=50):
    """NumPy cost of sampling one Sinusoid task (what each worker does for every global task)."""
    from tfq_meta import tasks

    family = tasks.Sinusoid(shots=SHOTS)
    start = time.perf_counter()
    for i in range(repeats):
        family.sample(n_tasks, seed=[0, i])
    return 1e3 * (time.perf_counter() - start) / (repeats * n_tasks)


def cost_model(one_core, two_workers, communication, sampling):
    """The module docstring's model, fitted to the measurements (ms)."""
    fit = np.polynomial.polynomial.polyfit
    fixed, per_task = fit(list(one_core), list(one_core.values()), 1)
    overheads = {n: two_workers[n] - (fixed + per_task * n / 2) for n in two_workers}
    overhead_2 = statistics.median(overheads.values())
    comm_0, comm_1 = fit([w - 1 for w in communication], list(communication.values()), 1)
    rows = []
    for w in ESTIMATE_WORKERS:
        comm, comm_2 = comm_0 + comm_1 * (w - 1), comm_0 + comm_1
        # All overhead grows like the communication, or only its communication part grows.
        overhead = [0.0, 0.0] if w == 1 else [overhead_2 * comm / comm_2,
                                              overhead_2 - comm_2 + comm]
        row = {"workers": w, "overhead_ms": overhead}
        for scaling, tasks, compute in (
                ("strong", STRONG_BATCH, fixed + per_task * STRONG_BATCH / w),
                ("weak", WEAK_TASKS_PER_WORKER * w,
                 fixed + (per_task + sampling * (w - 1)) * WEAK_TASKS_PER_WORKER)):
            row[scaling] = {"global_tasks": tasks, "step_ms": [compute + o for o in overhead],
                            "tasks_per_s": [1e3 * tasks / (compute + o) for o in overhead]}
        rows.append(row)
    return {"fixed_ms_per_step": fixed, "ms_per_task": per_task,
            "overhead_ms_at_2_workers": overheads, "overhead_ms_at_2_workers_median": overhead_2,
            "communication_fit_ms": {"at_1_worker": comm_0, "per_extra_worker": comm_1},
            "sampling_ms_per_task": sampling, "rows": rows}


def span(values, spec):
    low, high = (f"{v:{spec}}" for v in sorted(values))
    return low if low == high else f"{low}-{high}"


def report(batches, model):
    common.print_table("tasks per second (median over repeats), and paired speed-ups (tasks/s of "
                       "the second over the first; median [quartiles]):",
                       ["meta-batch", *CONFIGURATIONS, *SPEEDUPS],
                       [[n, *(f"{b['tasks_per_s'][name]:.0f}" for name in CONFIGURATIONS),
                         *(timing.format_ratio(b["ratios"][key]) for key in SPEEDUPS)]
                        for n, b in batches.items()])
    fit = model["communication_fit_ms"]
    print(f"\ncost model, 1 core: {model['fixed_ms_per_step']:.1f} ms per step + "
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
    run, light = common.start(args), {}
    batches, in_training = measure_training(args)
    for count in COLLECTIVE_WORKERS:
        with started(f"{count} collective workers", "collective", count) as cluster:
            light[count] = collectives_ms(cluster, f"{count} light workers", args.reduce_calls)
    model = cost_model(*({n: b["median_ms"][name] for n, b in batches.items()}
                         for name in (ONE, TWO)),
                       {count: ms["communication"] for count, ms in light.items()},
                       sampling_ms_per_task())
    report(batches, model)
    common.write_json("bench_distribute", __doc__, {
        **run, "meta_batches": batches, "cost_model": model,
        "collectives_ms": {"2_training_workers": in_training, "light_workers": light}})


if __name__ == "__main__":
    # reduce_calls: calls per timed collective.
    common.run(common.parser(__doc__, timing=TIMING, repeats=12, reduce_calls=300), main,
               worker_main, timing=QUICK, repeats=4, reduce_calls=20)
