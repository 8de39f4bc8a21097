"""Cost of the MAML stabilisers: a meta-step with each of them against a plain MAML meta-step.

Model ``models.student(n_features=1)`` (4 qubits, 2 layers, 37 parameters); one episode of 16
sinusoid tasks (10 support, 10 query points); MAML, 5 inner steps at rate 0.1; a step is one
``train_on_batch``. Variants, each timed in alternating blocks against plain (timing.py):
  plain       every stabiliser off: fixed rate, last step's query loss only, no clipping
  lslr        + learned rates per weight group and step
  multi-step  + the query loss after every step
  clipping    + inner gradients clipped to norm 1
  annealing   + derivative-order annealing, in its first-order epochs (what FOMAML costs)
  defaults    ``MetaLearner(student)``: learned rates, multi-step loss and clipping
"ratio" is variant/plain, the median [quartiles] of paired blocks.

Goal: defaults / plain <= 1.3.

Run:  python bench/bench_stabilisers.py   (about 3 minutes; --quick for a smoke run). Writes
      bench/output/bench_stabilisers.json.
"""
import common  # first: sets up TensorFlow's environment
import keras
import tensorflow as tf

from tfq_meta import MetaLearner, models, tasks
from timing import BlockTiming, format_ratio, paired_ratio

GOAL_RATIO = 1.3
PLAIN = dict(learn_inner_lr=False, multi_step_loss=False, inner_clipnorm=None)
VARIANTS = {
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


def train_step(options, episode):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1), "maml", inner_steps=5, inner_lr=0.1,
                       **options)
    meta.compile(loss="mse")
    return lambda: meta.train_on_batch(episode)


def time_variants(timing, max_repeats):
    episode = {key: tf.constant(value, tf.float32) for key, value in
               tasks.Sinusoid(shots=10).sample(16, seed=0).items()}
    rows = []
    for name, options in VARIANTS.items():
        steps = {"plain": train_step(PLAIN, episode), name: train_step(options, episode)}
        n_steps, samples = timing.measure(steps, max_repeats)
        rows.append({"variant": name, "options": options, **common.timing_record(n_steps, samples),
                     "over_plain": paired_ratio(samples, name, "plain")})
    return rows


def main(args):
    run = common.start(args)
    rows = time_variants(QUICK_TIMING if args.quick else TIMING, 3 if args.quick else 15)
    common.print_table("ms per meta-step (median), variant/plain (median [quartiles] of paired "
                       "repeats):", ["variant", "variant ms", "plain ms", "ratio"],
                       [[r["variant"], f"{r['median_ms'][r['variant']]:.1f}",
                         f"{r['median_ms']['plain']:.1f}", format_ratio(r["over_plain"])]
                        for r in rows])
    ratio = next(row["over_plain"]["median"] for row in rows if row["variant"] == "defaults")
    verdict = {"goal": f"defaults / plain MAML meta-step <= {GOAL_RATIO}", "ratio": ratio,
               "met": ratio <= GOAL_RATIO}
    print(f"\ngoal: {verdict['goal']}: {ratio:.2f} -> {common.verdict(verdict['met'])}")
    common.write_json("bench_stabilisers", __doc__, {**run, "rows": rows, "goal": verdict})


if __name__ == "__main__":
    main(common.parse(common.parser(__doc__)))
