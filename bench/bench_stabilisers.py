"""Cost of the MAML stabilisers: a meta-step with each of them against a plain MAML meta-step.

Model: ``tfq_meta.models.student(n_features=1)`` (4 qubits, 2 layers, 37 parameters, statevector
engine), as the main example uses it. Episodes: 16 sinusoid tasks, K=10 support and 10 query
points. Every learner runs MAML with 5 inner steps at rate 0.1 and takes the same episode; each
is one ``train_on_batch`` (Keras' compiled train function):

  plain         every stabiliser off: fixed rate, last step's query loss only, no clipping
  lslr          + learned rates per weight group and step
  multi-step    + the query loss after every step (all steps' queries in one batched call)
  clipping      + inner gradients clipped to norm 1
  annealing     + derivative-order annealing, timed in its first-order epochs (only the branch
                of the epoch runs, so this is what FOMAML costs)
  defaults      ``MetaLearner(student)``: learned rates, multi-step loss and clipping, as a user
                gets it

Each is timed in alternating blocks against plain (bench/timing.py); ratios are medians over
repeats of paired blocks.

Goal (issue text): the stabilisers cost at most 1.3x a plain MAML meta-step (judged on
``defaults``).

Run:  python bench/bench_stabilisers.py    (about 3 minutes; --quick for a smoke run). Prints a
      table and the goal, writes bench/output/bench_stabilisers.json.
"""
import os
import statistics
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from machine_state import (note_if_busy, quick_and_wait_arguments,  # noqa: E402
                           save_results, wait_for_idle)
from tfq_meta import MetaLearner, models, tasks  # noqa: E402
from timing import BlockTiming, format_ratio, paired_ratio  # noqa: E402

OUTPUT = Path(__file__).parent / "output" / "bench_stabilisers.json"
GOAL_RATIO = 1.3
PLAIN = dict(learn_inner_lr=False, multi_step_loss=False, inner_clipnorm=None)
VARIANTS = {
    "plain": PLAIN,
    "lslr": {**PLAIN, "learn_inner_lr": True},
    "multi-step": {**PLAIN, "multi_step_loss": True},
    "clipping": {**PLAIN, "inner_clipnorm": 1.0},
    "annealing": {**PLAIN, "first_order_epochs": 1},
    "defaults": {},
}
TIMING = BlockTiming(block_seconds=1.0, settle_seconds=0.05, configuration_seconds=25.0,
                     min_repeats=5, warmup_steps=3)
QUICK_TIMING = BlockTiming(block_seconds=0.2, settle_seconds=0.02, configuration_seconds=2.0,
                           min_repeats=3, warmup_steps=1)


def learner(options):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1), "maml", inner_steps=5, inner_lr=0.1,
                       **options)
    meta.compile(loss="mse")
    return meta


def run(timing, max_repeats):
    episode = {key: tf.constant(value, tf.float32) for key, value in
               tasks.Sinusoid(shots=10).sample(16, seed=0).items()}
    rows = []
    for name, options in VARIANTS.items():
        if name == "plain":
            continue
        steps = {variant: (lambda meta=learner(VARIANTS[variant]): meta.train_on_batch(episode))
                 for variant in ("plain", name)}
        _, samples = timing.measure(steps, max_repeats)
        rows.append({"variant": name, "options": options,
                     "median_ms": {v: 1e3 * statistics.median(s) for v, s in samples.items()},
                     "over_plain": paired_ratio(samples, name, "plain"),
                     "samples_ms": {v: [1e3 * s for s in t] for v, t in samples.items()}})
        print(f"  {name:<11} {rows[-1]['median_ms'][name]:7.1f} ms  plain "
              f"{rows[-1]['median_ms']['plain']:7.1f} ms  ratio "
              f"{format_ratio(rows[-1]['over_plain'])}", flush=True)
    return rows


def main(args):
    waited = wait_for_idle(args.wait)
    busy_before = note_if_busy()
    rows = run(QUICK_TIMING if args.quick else TIMING, 3 if args.quick else 15)
    ratio = next(row["over_plain"]["median"] for row in rows if row["variant"] == "defaults")
    verdict = {"goal": f"defaults / plain MAML meta-step <= {GOAL_RATIO}", "ratio": ratio,
               "met": ratio <= GOAL_RATIO}
    print(f"goal: {verdict['goal']}: {ratio:.2f} -> {'met' if verdict['met'] else 'MISSED'}")
    save_results(OUTPUT, {"rows": rows, "goal": verdict, "quick": args.quick}, waited,
                 busy_before)


if __name__ == "__main__":
    main(quick_and_wait_arguments(__doc__.splitlines()[0]).parse_args())
