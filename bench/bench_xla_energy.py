"""XLA against TensorFlow's executor for a MAML meta-step of energy models with two-qubit gates.

A step: one ``train_on_batch`` of ``MetaLearner(models.energy_model(ansatz, tasks.XXZChain(8)))``
with its defaults (MAML, 5 inner steps; the ``Energy`` loss) on an episode of 16 tasks, compiled
with XLA (``jit_compile="auto"``, the default) or without (``jit_compile=False``); both start
from the same weights, and their first losses are checked to agree. Ansatzes: the README's
symmetry circuit (``singlet_sector_encoding + number_conserving_layers(8, 5)``: an ISWAP and a
ZZ power on every bond, which the engine merges into one step per bond) and ``xxz_ansatz(8)``
(4 layers). First step: tracing, compilation and the first run. Steps to break even: the
first-step difference over the steady-step difference. Ratio: median [quartiles] of paired
blocks.

Run:  python bench/bench_xla_energy.py [--quick]   (about 5 minutes; --quick: the symmetry
      circuit only, 2 minutes). Writes bench/output/bench_xla_energy.json.
"""
import dataclasses

import common  # first: sets up TensorFlow's environment
import keras
import tensorflow as tf

import tfq_meta
from tfq_meta import circuits, models, tasks
from timing import BlockTiming, timed_first_call

N_QUBITS, N_TASKS = 8, 16
ANSATZES = {
    "symmetry": lambda: (circuits.singlet_sector_encoding(N_QUBITS,
                                                          thresholds=[-0.58, -0.46, -0.35, 0.58])
                         + circuits.number_conserving_layers(N_QUBITS, n_layers=5)),
    "xxz_hva": lambda: circuits.xxz_ansatz(N_QUBITS, n_layers=4)}
XLA, EXECUTOR = "XLA", "no XLA"
RATIOS = {"executor/XLA": (EXECUTOR, XLA)}
TIMING = BlockTiming(block_seconds=1.0, settle_seconds=0.05, configuration_seconds=30.0,
                     min_repeats=4, warmup_steps=1)
QUICK = dataclasses.replace(TIMING, block_seconds=0.3, configuration_seconds=3.0, min_repeats=3)


def meta_learner(ansatz, jit_compile):
    keras.utils.set_random_seed(0)
    model = models.energy_model(ANSATZES[ansatz](), tasks.XXZChain(n_qubits=N_QUBITS),
                                initializer=keras.initializers.RandomUniform(-0.5, 0.5))
    meta = tfq_meta.MetaLearner(model)
    meta.compile(loss=tfq_meta.Energy(), jit_compile=jit_compile)
    return meta


def build_steps(ansatz, episode):
    """Both steps of one ansatz, each run once (timed), their first losses checked."""
    learners = {XLA: meta_learner(ansatz, "auto"), EXECUTOR: meta_learner(ansatz, False)}
    steps = {way: (lambda meta=meta: meta.train_on_batch(episode, return_dict=True)["loss"])
             for way, meta in learners.items()}
    first = {way: timed_first_call(step) for way, step in steps.items()}
    common.agree(f"{ansatz}: first loss, XLA vs executor", first[XLA][0], first[EXECUTOR][0],
                 1e-5)
    return steps, {"ansatz": ansatz, "jit_compile": learners[XLA].jit_compile,
                   "first_step_s": {way: seconds for way, (_, seconds) in first.items()}}


def break_even(row):
    """Steps after which XLA's compile time is paid back, or None if its steps are not faster."""
    saved_ms = row["median_ms"][EXECUTOR] - row["median_ms"][XLA]
    extra_s = row["first_step_s"][XLA] - row["first_step_s"][EXECUTOR]
    return None if saved_ms <= 0 else max(0.0, 1e3 * extra_s / saved_ms)


def main(args):
    tf.get_logger().setLevel("ERROR")
    run = common.start(args)
    episode = {key: tf.constant(value) for key, value in
               tasks.XXZChain(n_qubits=N_QUBITS).sample(N_TASKS, seed=0).items()}
    rows = []
    for ansatz in args.ansatzes:
        steps, row = build_steps(ansatz, episode)
        row.update(args.timing.measure(steps, args.repeats, ratios=RATIOS, label=ansatz))
        row["break_even_steps"] = break_even(row)
        rows.append(row)
    common.print_timings(
        f"MAML meta-step of {N_TASKS} tasks at {N_QUBITS} qubits", rows, ("ansatz",), digits=1,
        after={"first step XLA, s": lambda r: f"{r['first_step_s'][XLA]:.1f}",
               "first step no XLA, s": lambda r: f"{r['first_step_s'][EXECUTOR]:.1f}",
               "XLA pays after, steps": lambda r: ("never" if r["break_even_steps"] is None
                                                   else f"{r['break_even_steps']:.0f}")})
    common.write_json("bench_xla_energy", __doc__, {**run, "rows": rows})


if __name__ == "__main__":
    parser = common.parser(__doc__, timing=TIMING)
    parser.add_argument("--ansatzes", nargs="+", default=list(ANSATZES), choices=list(ANSATZES))
    parser.add_argument("--repeats", type=int, default=8,
                        help="most timed blocks per implementation (>= 3)")
    common.run(parser, main, ansatzes=["symmetry"], repeats=3, timing=QUICK)
