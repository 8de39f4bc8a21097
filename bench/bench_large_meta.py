"""MetaLearner's default MAML on a 14-qubit student, with XLA (the default) and without, side by
side: from 14 to 16 qubits ``engine="auto"`` runs the statevector engine in a step XLA compiles
and qsim in one it does not (tfq_meta/ops.py).

A step: ``MetaLearner(models.student(n_features=1, n_qubits=Q)).train_on_batch`` of one episode of
4 sinusoid tasks (10 support and 10 query shots), the learner's defaults throughout (MAML, 5 inner
steps, Adam with a moving average), compiled with ``loss="mse"`` ("XLA (default)") or also
``jit_compile=False`` ("no XLA"). Both start from the same weights, and their first query losses
must agree (1e-4) before their times count. Times: the first step (tracing, XLA's compile or
TensorFlow's graph optimizer, and the run) and ``--steps`` more, one step per block, alternating
between the two. Ratio: no XLA / XLA, paired per repeat.

Run:  python bench/bench_large_meta.py [--quick]   (22 minutes on 2 cores, 20 of them qsim's
      steps, 8.9 GB resident when sampled; --quick: 8 qubits, where auto runs statevector with
      and without XLA, 1 minute). Writes bench/output/bench_large_meta.json.
"""
import time

import common  # first: sets up TensorFlow's environment
import keras
import tensorflow as tf

import timing
from tfq_meta import MetaLearner, models
from tfq_meta.tasks import Sinusoid
from timing import timed_first_call

QUBITS, TASKS, SHOTS, STEPS, TOLERANCE = 14, 4, 10, 2, 1e-4
XLA, NO_XLA = "XLA (default)", "no XLA"
COMPILE_OPTIONS = {XLA: {}, NO_XLA: {"jit_compile": False}}


def learner(n_qubits, weights, options):
    """The default MetaLearner on the student with ``weights``, and the engine its step runs."""
    model = models.student(n_features=1, n_qubits=n_qubits)
    model.set_weights(weights)
    meta = MetaLearner(model)
    meta.compile(loss="mse", **options)
    circuit = next(layer for layer in model.layers if hasattr(layer, "xla_engine"))
    return meta, circuit.xla_engine if meta.jit_compile else circuit.engine


def main(args):
    run = common.start(args)
    keras.utils.set_random_seed(0)
    weights = models.student(n_features=1, n_qubits=args.qubits).get_weights()
    episode = {key: tf.constant(value) for key, value in
               Sinusoid(shots=SHOTS, query_shots=SHOTS).sample(TASKS, seed=0).items()}
    steps, engines, first_call, losses = {}, {}, {}, {}
    for name, options in COMPILE_OPTIONS.items():
        meta, engines[name] = learner(args.qubits, weights, options)
        steps[name] = lambda meta=meta: meta.train_on_batch(episode, return_dict=True)["loss"]
        losses[name], first_call[name] = timed_first_call(steps[name])
        print(f"  {name} ({engines[name]}): first step {first_call[name]:.1f} s", flush=True)
    error = common.agree("the first query losses", losses[NO_XLA], losses[XLA], TOLERANCE)
    samples = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            start = time.perf_counter()
            timing.sync(step())
            samples[name].append(time.perf_counter() - start)
    row = {"config": f"{args.qubits}q maml", "qubits": args.qubits, "tasks": TASKS,
           "engines": engines, "first_call_s": first_call, "loss_relative_error": error,
           **timing.record(1, samples, ratios={"no XLA/XLA": (NO_XLA, XLA)})}
    common.print_timings("meta-step", [row], ("config",), digits=0)
    common.print_table("first step, s (tracing, compilation, first run):",
                       ["config", *first_call], [[row["config"], *(f"{s:.1f}" for s in
                                                                   first_call.values())]])
    common.write_json("bench_large_meta", __doc__, {**run, "rows": [row]})


if __name__ == "__main__":
    parser = common.parser(__doc__)
    parser.add_argument("--qubits", type=int, default=QUBITS)
    parser.add_argument("--steps", type=int, default=STEPS, help="timed steps after the first")
    common.run(parser, main, qubits=8, steps=1)
