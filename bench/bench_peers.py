"""tfq_meta against its JAX peers, PennyLane on JAX and TensorCircuit-ng on JAX, side by side.

Engine step (bench_engines.py's): ``reuploading_circuit(n, n_layers=3)``'s Z expectations on 160
examples and the gradient of their sum against a fixed cotangent w.r.t. weights and features,
by CircuitExpectation (engine "auto") in ``tf.function(jit_compile=True)`` ("tfq_meta XLA", the
default: auto runs statevector under XLA up to 16 qubits) and without XLA ("tfq_meta no XLA",
qsim from 14 qubits); by PennyLane ``default.qubit`` on JAX (backprop, ``jax.jit``) with parameter
broadcasting ("PL-JAX bcast") or ``jax.vmap`` over the examples ("PL-JAX vmap"); by
TensorCircuit-ng on JAX (``K.jit`` of
``K.vectorized_value_and_grad``, "TC-JAX"); and, as information, by PennyLane on torch
(pennylane_torch.py, broadcasting, complex128: "PL-torch"). Peers: bench/peers_jax.py. At 4-12
qubits all of them; at 14 and 16 tfq_meta alone, for its GB/s.

Meta-step (bench_meta.py's): 16 sinusoid tasks, ``student(n_features=1, n_qubits=Q, n_layers=3)``, 5
inner SGD steps (0.1), Adam 1e-3, 10 support + 10 query shots, FOMAML and exact second-order MAML:
``MetaLearner.train_on_batch`` (the episode as tensors, as the peers hold device arrays) compiled
with the library's defaults ("tfq_meta default": no jit_compile argument; XLA, the tasks split into
shards run at once, one per core: tfq_meta/meta/task_shards.py), and as information with
``task_shards=1`` (the whole step one XLA computation, "tfq_meta one shard") and
``jit_compile=False`` ("tfq_meta no XLA"); the JAX peers' whole step (inner loop as a ``lax.scan``,
meta-gradient, optax Adam) under one ``jax.jit``, vmapped over the tasks ("PL-JAX vmap", "TC-JAX
vmap") or one broadcast qnode call over every task's examples ("PL-JAX bcast"). Peers compute in
float32 / complex64 (JAX's x64 off), as tfq_meta does.

Each peer is checked before it is timed: engine steps against tfq_meta's values and gradients,
meta-steps' query loss and meta-gradient against bench_meta's float64 PennyLane-torch reference.
Times: steady-state median ms (timing.BlockTiming, ratios paired per repeat, peer / tfq_meta's
default) and the first call (tracing, compilation, first run) separately: in this process, and
for tfq_meta's default and the JAX peers each in fresh processes, as a user's script meets it
(the goal's: the median of up to 3 processes each, see ``FRESH_REPEATS``).

Physical limit (peers_report.py): each row's state traffic per step as GB/s against this
machine's copy bandwidth; every implementation's CPU ms per step and cores busy, and the ratio
with every core busy. At 4 qubits much of a step is not the circuit's: the rows there also time
each framework's step without a circuit (circuit_free.py: TensorFlow's compiled call and JAX's
jitted one; tfq_meta's MetaLearner, Keras' least train_on_batch and the JAX meta-step), and
report the ratio net of them; and the meta-rows there time one task shard of the default alone
(``tfq_meta_shard_alone``): the peer's time over it bounds what the default could reach with no
TensorFlow or Keras cost at all.

Run:  python bench/bench_peers.py [--quick]   (about 60 minutes on 2 cores, most of it JAX
      compiling the meta-steps: PennyLane's broadcast 8-qubit MAML step took 10 minutes, once here
      and once in a fresh process; --quick: 4 qubits, FOMAML only, 6 minutes). Writes
      bench/output/bench_peers.json.
"""
import dataclasses
import functools

import common  # first: sets up TensorFlow's environment
import keras
import numpy as np
import tensorflow as tf
import torch

import bench_engines
import bench_meta
import circuit_free
import pennylane_torch
import peers_jax
import peers_report
import timing
from tfq_meta.meta import MetaLearner, task_shards
from tfq_meta.tasks import Sinusoid
from timing import timed_first_call

BATCH, ENGINE_QUBITS, LARGE_QUBITS = 160, (4, 6, 8, 10, 12), (14, 16)
META_QUBITS, ALGORITHMS = (4, 8), ("fomaml", "maml")
ENGINE_TIMING, META_TIMING = bench_engines.TIMING, bench_meta.TIMING
TOLERANCE = 1e-4  # engine: peers' values and gradients against tfq_meta's
FIRST_CALL_TIMEOUT = 3600.0  # seconds: PennyLane's broadcast 8-qubit MAML step compiled 10-16 min
# Fresh-process first calls: up to this many each, while their sum is under the budget (s). One
# sample is noisy on a shared machine (4-qubit MAML: 14.4 s once, 9.3-9.7 s in medians of four).
FRESH_REPEATS, FRESH_BUDGET_S = 3, 60.0
BANDWIDTH_SHARE, BANDWIDTH_QUBITS = 0.3, 12
META_CONSTANTS = (bench_meta.INNER_STEPS, bench_meta.INNER_LR, bench_meta.OUTER_LR,
                  bench_meta.EPISODE)
XLA, NO_XLA, PL_BCAST, PL_VMAP, TC, PL_TORCH = (
    "tfq_meta XLA", "tfq_meta no XLA", "PL-JAX bcast", "PL-JAX vmap", "TC-JAX", "PL-torch")
DEFAULT, ONE_SHARD, META_NO_XLA, TC_VMAP = (
    "tfq_meta default", "tfq_meta one shard", "tfq_meta no XLA", "TC-JAX vmap")
ENGINE_DEFAULT, ENGINE_PEERS, META_PEERS = XLA, (PL_BCAST, PL_VMAP, TC), (PL_VMAP, PL_BCAST,
                                                                           TC_VMAP)
ENGINE_KEYS = ("loss", "grad_weights", "grad_features", "values")
# Rows timed beside the circuit-free steps (circuit_free.py), and their names.
CIRCUIT_FREE_QUBITS = (4,)
TF_FREE, JAX_FREE, META_FREE, KERAS_FLOOR = (
    "TF no circuit", "JAX no circuit", "tfq_meta no circuit", "Keras floor")
NET = "net of no-circuit steps"
# Timed beside the meta-steps of CIRCUIT_FREE_QUBITS: the default's one task shard alone, and the
# fastest peer's ratio over it.
SHARD_ALONE, BOUND = "tfq_meta shard alone", "bound: one shard alone"


def tfq_meta_engine(config, xla):
    """bench_engines.py's step with the library's defaults (engine "auto"), under XLA when asked
    for and the circuit can run there (up to 16 qubits: TFQ's qsim ops have no XLA)."""
    step, expectation, engine = common.expectation_step(config, xla=xla)
    return step, {"engine": engine, "compiled": expectation.compiled}


def engine_peer(build):
    return lambda config: (build(config), {})


def tfq_meta_meta(config, algorithm, model=None, **compile_options):
    """bench_meta.py's MetaLearner (plain MAML: stabilisers off) of the student, or of
    ``model``, compiled with ``loss="mse"``, its Adam and ``compile_options`` only; a step
    returns (query loss before the update, None)."""
    if model is None:
        model = bench_meta.new_model(config["qubits"], config["weights"])
    meta = MetaLearner(model, algorithm,
                       inner_steps=bench_meta.INNER_STEPS, inner_lr=bench_meta.INNER_LR,
                       learn_inner_lr=False, multi_step_loss=False, inner_clipnorm=None)
    meta.compile(optimizer=keras.optimizers.Adam(bench_meta.OUTER_LR), loss="mse",
                 **compile_options)
    # Tensors, converted once: the JAX peers hold their episode as device arrays, and fit's
    # tf.data pipeline hands the step tensors too.
    episode = {key: tf.constant(value) for key, value in config["episode"].items()}
    return (lambda: (meta.train_on_batch(episode, return_dict=True)["loss"], None),
            {"meta": meta, "compiled": config["layer"].compiled_circuit})


def tfq_meta_circuit_free(config, algorithm):
    """:func:`tfq_meta_meta` of circuit_free.py's classical student: a step returns the loss."""
    step, _ = tfq_meta_meta(config, algorithm,
                            model=circuit_free.classical_student(config["qubits"]))
    return lambda: step()[0]


def tfq_meta_shard_alone(config, algorithm, expected_gradients):
    """The meta-gradients of one task shard of :func:`tfq_meta_meta`'s default MetaLearner (the
    shard's share of the episode's tasks), one XLA computation called directly: no Keras,
    optimizer, metrics or other shard. The default step computes every shard, one per core at
    once, and this one with the machine to itself, so the step takes at least this long: the
    fastest peer's time over it is the most the default can reach with this circuit's kernel if
    TensorFlow and Keras cost nothing. Checked first: the shards' mean gradient against
    ``expected_gradients`` (the float64 reference of the whole episode). A step returns the first
    shard's first gradient."""
    _, info = tfq_meta_meta(config, algorithm)
    n_shards = task_shards.shard_count("auto", bench_meta.N_TASKS)
    size = bench_meta.N_TASKS // n_shards
    shards = [{key: tf.constant(value[i * size:(i + 1) * size])
               for key, value in config["episode"].items()} for i in range(n_shards)]
    gradients = tf.function(info["meta"].meta_gradients, jit_compile=True,
                            autograph=False).get_concrete_function(shards[0])
    by_shard = [timing.sync(gradients(shard)) for shard in shards]
    for parts, expected in zip(zip(*by_shard), expected_gradients):
        mean = np.mean(parts, axis=0)
        common.agree(f"{SHARD_ALONE} ({config['qubits']}q {algorithm}): its shards' mean vs "
                     "float64 on the meta-gradient", mean, expected, bench_meta.GRADIENT_TOLERANCE)
    return lambda: gradients(shards[0])[0]


def float64_reference(config, algorithm):
    """(query loss, [meta-gradients]) of bench_meta's float64 PennyLane-torch step, as NumPy."""
    gradients, loss = bench_meta.PennyLaneMeta(config, algorithm, dtype=torch.float64).gradients()
    return loss.numpy(), [g.numpy() for g in gradients]


def meta_peer(build):
    return lambda config, algorithm: (build(config, algorithm, META_CONSTANTS), {})


# {name: builder}: the first is the default every ratio divides by; add a row here to compare it.
ENGINE = {XLA: functools.partial(tfq_meta_engine, xla=True),
          NO_XLA: functools.partial(tfq_meta_engine, xla=False),
          PL_BCAST: engine_peer(peers_jax.pennylane_engine_step),
          PL_VMAP: engine_peer(functools.partial(peers_jax.pennylane_engine_step, vmap=True)),
          TC: engine_peer(peers_jax.tensorcircuit_engine_step),
          PL_TORCH: engine_peer(bench_engines.pennylane_step)}
META = {DEFAULT: tfq_meta_meta, ONE_SHARD: functools.partial(tfq_meta_meta, task_shards=1),
        META_NO_XLA: functools.partial(tfq_meta_meta, jit_compile=False),
        PL_VMAP: meta_peer(peers_jax.pennylane_meta),
        PL_BCAST: meta_peer(functools.partial(peers_jax.pennylane_meta, broadcast=True)),
        TC_VMAP: meta_peer(peers_jax.tensorcircuit_meta)}
# Circuit-free steps, {name: step builder}: timed beside the rows of CIRCUIT_FREE_QUBITS, not
# checked against the circuits' (they compute something else), no ratio of their own.
ENGINE_FREE = {TF_FREE: circuit_free.tensorflow_engine, JAX_FREE: circuit_free.jax_engine}
META_FREE_STEPS = {
    META_FREE: tfq_meta_circuit_free,
    KERAS_FLOOR: lambda config, algorithm: circuit_free.keras_floor(config),
    JAX_FREE: lambda config, algorithm: circuit_free.jax_meta(config, algorithm, META_CONSTANTS)}
CIRCUIT_FREE = {*ENGINE_FREE, *META_FREE_STEPS}


def ratio_keys(names, default):
    return {f"{name}/default": (name, default) for name in names if name != default}


def fastest_peer(row, peers):
    """Adds the paired ratio of the peer with the lowest median to the row's ratios."""
    measured = [p for p in peers if p in row["median_ms"]]
    if measured:
        peer = min(measured, key=row["median_ms"].get)
        row["ratios"][peers_report.FASTEST] = {**row["ratios"][f"{peer}/default"], "peer": peer}


def engine_row(n_qubits, args, implementations):
    config = common.circuit_configuration(n_qubits, BATCH)
    steps, info, first_call, results = {}, {}, {}, {}
    for name in implementations:
        steps[name], info[name] = ENGINE[name](config)
        results[name], first_call[name] = timed_first_call(steps[name])
        print(f"  {n_qubits} qubits {name}: first call {first_call[name]:.1f} s", flush=True)
    reference = timing.sync(results[ENGINE_DEFAULT])
    errors = {name: {key: common.agree(f"{name} vs {ENGINE_DEFAULT} ({n_qubits} qubits) on {key}",
                                       value, expected, TOLERANCE)
                     for key, value, expected in zip(ENGINE_KEYS, timing.sync(results[name]),
                                                     reference)}
              for name in steps if name != ENGINE_DEFAULT}
    threads = (pennylane_torch.choose_threads(steps[PL_TORCH], args.engine_timing,
                                              args.torch_threads) if PL_TORCH in steps else None)
    engine = info[ENGINE_DEFAULT]["engine"]
    ratios = ratio_keys(steps, ENGINE_DEFAULT)
    if n_qubits in CIRCUIT_FREE_QUBITS and set(ENGINE_PEERS) & set(steps):
        steps.update({name: build(config) for name, build in ENGINE_FREE.items()})
    record = args.engine_timing.measure(steps, args.repeats, ratios=ratios,
                                        label=f"{n_qubits:>2} qubits (auto -> {engine})")
    row = {"config": f"{n_qubits}q", "qubits": n_qubits, "batch": BATCH, "gates": config["gates"],
           "auto_engine": engine, **record, "first_call_s": first_call,
           "relative_errors_vs_default": errors, "torch_threads": threads,
           "state_passes": 3 * peers_report.forward_passes(info[ENGINE_DEFAULT]["compiled"])}
    fastest_peer(row, ENGINE_PEERS)
    add_net_ratio(row, ENGINE_DEFAULT, TF_FREE)
    return row


def add_net_ratio(row, default, default_free):
    """Adds, where the circuit-free steps were timed, the fastest JAX peer's ratio net of them
    (:func:`circuit_free.net_ratio`)."""
    fastest = row["ratios"].get(peers_report.FASTEST)
    if fastest and default_free in row["median_ms"]:
        row["ratios"][NET] = circuit_free.net_ratio(row, fastest["peer"], default, JAX_FREE,
                                                    default_free)


def meta_configuration(n_qubits):
    """The meta-step's student (seeded weights, its circuit layer) and episode."""
    keras.utils.set_random_seed(0)
    model = bench_meta.new_model(n_qubits)
    return {"qubits": n_qubits, "weights": model.get_weights(), "layer": model.get_layer("circuit"),
            "episode": Sinusoid(shots=bench_meta.SHOTS, query_shots=bench_meta.SHOTS).sample(
                bench_meta.N_TASKS, seed=0)}


def first_call_worker(kind):
    """Answers {name, qubits, algorithm} with the seconds of that meta-step's first call."""
    def handle(command):
        step, _ = META[command["name"]](meta_configuration(command["qubits"]),
                                        command["algorithm"])
        return {"seconds": timed_first_call(step)[1]}

    common.serve(handle)


def fresh_first_calls(n_qubits, algorithm):
    """({name: median seconds}, {name: every run's seconds}) of the first meta-step of the goal's
    implementations (tfq_meta's default and the JAX peers), each in a fresh process of its own,
    one after another: what a user's script meets. In the long benchmark process tfq_meta's
    first calls ran up to 1.8x as long. Each runs up to ``FRESH_REPEATS`` times, while its runs
    took less than ``FRESH_BUDGET_S`` in all, the same rule for every implementation."""
    runs = {}
    for name in (DEFAULT, *META_PEERS):
        runs[name] = []
        while len(runs[name]) < FRESH_REPEATS and sum(runs[name]) < FRESH_BUDGET_S:
            with common.Workers(__file__, "first_call", name=f"{name} first call") as worker:
                runs[name].append(worker.ask(timeout=FIRST_CALL_TIMEOUT, name=name,
                                             qubits=n_qubits, algorithm=algorithm
                                             )[0]["seconds"])
        print(f"  {n_qubits}q {algorithm} {name}: first call in a fresh process "
              f"{np.median(runs[name]):.1f} s (median of "
              f"{', '.join(f'{s:.1f}' for s in runs[name])})", flush=True)
    return {name: float(np.median(seconds)) for name, seconds in runs.items()}, runs


def meta_row(n_qubits, algorithm, args):
    config = meta_configuration(n_qubits)
    expected_loss, expected_gradients = float64_reference(config, algorithm)
    steps, info, first_call, errors, where = {}, {}, {}, {}, f"{n_qubits}q {algorithm}"
    for name, build in META.items():
        step, info[name] = build(config, algorithm)
        (loss, gradients), first_call[name] = timed_first_call(step)
        print(f"  {where} {name}: first call {first_call[name]:.1f} s", flush=True)
        errors[name] = {"query_loss_vs_float64": common.agree(
            f"{name} ({where}) vs float64 on the query loss", loss, expected_loss,
            bench_meta.LOSS_TOLERANCE)}
        if gradients is not None:
            errors[name]["meta_gradient_vs_float64"] = max(
                common.agree(f"{name} ({where}) vs float64 on the meta-gradient", g, e,
                             bench_meta.GRADIENT_TOLERANCE)
                for g, e in zip(gradients, expected_gradients))
        steps[name] = (lambda step: lambda: step()[0])(step)
    ratios = ratio_keys(steps, DEFAULT)
    if n_qubits in CIRCUIT_FREE_QUBITS:
        steps.update({name: build(config, algorithm) for name, build in META_FREE_STEPS.items()})
        steps[SHARD_ALONE] = tfq_meta_shard_alone(config, algorithm, expected_gradients)
    record = args.meta_timing.measure(steps, args.repeats, ratios=ratios, label=where)
    forward = peers_report.forward_passes(info[DEFAULT]["compiled"])
    inner = bench_meta.INNER_STEPS * (3 if algorithm == "maml" else 1)
    row = {"config": where, "qubits": n_qubits, "algorithm": algorithm,
           "batch": bench_meta.N_TASKS * bench_meta.SHOTS, "auto_engine": config["layer"].engine,
           **record, "first_call_s": first_call, "relative_errors": errors,
           "jit_compile_resolved": {name: info[name]["meta"].jit_compile
                                    for name in (DEFAULT, ONE_SHARD, META_NO_XLA)},
           "state_passes": 3 * forward * (inner + 1)}
    row["first_call_fresh_s"], row["first_call_fresh_runs_s"] = fresh_first_calls(n_qubits,
                                                                                 algorithm)
    fastest_peer(row, META_PEERS)
    add_net_ratio(row, DEFAULT, META_FREE)
    add_shard_bound(row)
    return row


def add_shard_bound(row):
    """Adds, where one shard alone was timed, the fastest JAX peer's ratio over it (the bound
    :func:`tfq_meta_shard_alone` explains)."""
    fastest = row["ratios"].get(peers_report.FASTEST)
    if fastest and SHARD_ALONE in row["median_ms"]:
        row["ratios"][BOUND] = {**timing.paired_ratio(row["samples_ms"], fastest["peer"],
                                                      SHARD_ALONE), "peer": fastest["peer"]}


def goals(engine_rows, meta_rows):
    def ratios(rows, key, qubits):
        return {r["config"]: r["ratios"][key]["median"] for r in rows
                if r["qubits"] in qubits and key in r["ratios"]}

    meta_required = [f"{n}q {a}" for n in META_QUBITS for a in ALGORITHMS]
    first = {r["config"]: r["first_call_fresh_s"][DEFAULT] / min(
        r["first_call_fresh_s"][p] for p in META_PEERS) for r in meta_rows
        if r["qubits"] in META_QUBITS}
    large = {r["config"]: r["share_of_bandwidth"][ENGINE_DEFAULT] for r in engine_rows
             if r["qubits"] >= BANDWIDTH_QUBITS}
    return {
        "meta_step": common.goal("meta-step: fastest JAX peer / tfq_meta default", 2.0,
                                 ratios(meta_rows, peers_report.FASTEST, META_QUBITS),
                                 required=meta_required),
        "engine": common.goal("engine step: fastest JAX peer / tfq_meta XLA", 1.5,
                              ratios(engine_rows, peers_report.FASTEST, (4, 6, 8, 10)),
                              required=[f"{n}q" for n in (4, 6, 8, 10)]),
        "first_meta_step": common.goal(
            "first meta-step in a fresh process: tfq_meta default / fastest JAX peer's", 0.5,
            first, at_least=False, required=meta_required),
        "bandwidth": common.goal(f"engine step at >= {BANDWIDTH_QUBITS} qubits: tfq_meta auto's "
                                 "state traffic / copy bandwidth", BANDWIDTH_SHARE, large,
                                 required=[f"{BANDWIDTH_QUBITS}q"])}


def main(args):
    tf.get_logger().setLevel("ERROR")  # every configuration traces anew, on purpose
    run = common.start(args)
    run["machine"]["torch_before"] = pennylane_torch.stall_probe()
    bandwidth = peers_report.memory_bandwidth()
    print(f"memory bandwidth (NumPy copy of {peers_report.BANDWIDTH_BYTES >> 20} MB, read + "
          f"write): {bandwidth:.1f} GB/s", flush=True)
    engine_rows = [engine_row(n, args, list(ENGINE)) for n in args.qubits]
    engine_rows += [engine_row(n, args, [XLA]) for n in args.large_qubits]
    meta_rows = [meta_row(n, algorithm, args) for n in args.meta_qubits
                 for algorithm in args.algorithms]
    peers_report.add_throughput(engine_rows + meta_rows, bandwidth, {*CIRCUIT_FREE, SHARD_ALONE})
    peers_report.report(f"batch of {BATCH}, forward + gradient w.r.t. weights and features",
                        engine_rows, ENGINE_DEFAULT, bandwidth)
    peers_report.report(f"meta-step of {bench_meta.N_TASKS} tasks x {2 * bench_meta.SHOTS} "
                        f"examples, {bench_meta.INNER_STEPS} inner steps", meta_rows, DEFAULT,
                        bandwidth)
    print()
    verdicts = goals(engine_rows, meta_rows)
    cores = task_shards.usable_cores()
    bounds = {"cores": cores,
              "engine": peers_report.core_bounds(engine_rows, ENGINE_DEFAULT, cores),
              "meta_step": peers_report.core_bounds(meta_rows, DEFAULT, cores)}
    peers_report.print_core_bounds("engine step", bounds["engine"], cores)
    peers_report.print_core_bounds("meta-step", bounds["meta_step"], cores)
    net = {what: {r["config"]: r["ratios"][NET]["median"] for r in rows if NET in r["ratios"]}
           for what, rows in (("engine", engine_rows), ("meta_step", meta_rows))}
    peers_report.print_by_config("fastest JAX peer / tfq_meta default, each less its framework's "
                                 "step without a circuit (circuit_free.py)",
                                 {**net["engine"], **net["meta_step"]})
    bound = {r["config"]: r["ratios"][BOUND]["median"] for r in meta_rows if BOUND in r["ratios"]}
    peers_report.print_by_config("fastest JAX peer / one task shard of tfq_meta default alone (the "
                                 "most the default reaches with TensorFlow and Keras costing "
                                 "nothing)", bound)
    run["machine"]["torch_after"] = pennylane_torch.stall_probe("at the end")
    run["machine"]["memory_bandwidth_gb_s"] = bandwidth
    common.write_json("bench_peers", __doc__, {**run, "goals": verdicts,
                                               "all_cores_busy_bounds": bounds,
                                               "net_of_no_circuit_steps": net,
                                               "bound_one_shard_alone": bound, "engine_rows":
                                               engine_rows, "meta_rows": meta_rows},
                      torch=torch.__version__, **peers_jax.versions())


if __name__ == "__main__":
    parser = common.parser(__doc__, engine_timing=ENGINE_TIMING, meta_timing=META_TIMING)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(ENGINE_QUBITS),
                        help="engine steps, every implementation")
    parser.add_argument("--large-qubits", type=int, nargs="*", default=list(LARGE_QUBITS),
                        help="engine steps of tfq_meta XLA alone: its state traffic")
    parser.add_argument("--meta-qubits", type=int, nargs="+", default=list(META_QUBITS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation (slow ones get fewer, >= 4)")
    pennylane_torch.add_threads_argument(parser)
    common.run(parser, main, first_call_worker, qubits=[4], large_qubits=[], meta_qubits=[4],
               algorithms=["fomaml"], repeats=2,
               engine_timing=dataclasses.replace(ENGINE_TIMING, configuration_seconds=3.0),
               meta_timing=dataclasses.replace(META_TIMING, configuration_seconds=5.0))
