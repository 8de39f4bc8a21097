"""Cost of the MAML stabilisers: a meta-step with each of them against a plain MAML meta-step.

A step: one ``train_on_batch`` of MAML (5 inner steps) of ``models.student(n_features=1)`` on 16
sinusoid tasks, plain (every stabiliser off) or with lslr (learned rates), multi-step (query loss
after every step), clipping (inner norm 1), annealing (its first-order epochs) or defaults
(``MetaLearner(student)``: the first three). Ratio: median [quartiles] of paired blocks.

Run:  python bench/bench_stabilisers.py [--quick]   (about 3 minutes). Writes
      bench/output/bench_stabilisers.json.
"""
import dataclasses

import common  # first: sets up TensorFlow's environment
import keras
import tensorflow as tf

from tfq_meta import MetaLearner, models, tasks
from timing import BlockTiming

PLAIN = dict(learn_inner_lr=False, multi_step_loss=False, inner_clipnorm=None)
VARIANTS = {"lslr": {**PLAIN, "learn_inner_lr": True},
            "multi-step": {**PLAIN, "multi_step_loss": True},
            "clipping": {**PLAIN, "inner_clipnorm": 1.0},
            "annealing": {**PLAIN, "first_order_epochs": 1}, "defaults": {}}
TIMING = BlockTiming(block_seconds=1.0, settle_seconds=0.05, configuration_seconds=25.0,
                     min_repeats=5, warmup_steps=3)
QUICK = dataclasses.replace(TIMING, block_seconds=0.2, settle_seconds=0.02,
                            configuration_seconds=2.0, min_repeats=3, warmup_steps=1)


def train_step(options, episode):
    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1), "maml", inner_steps=5, inner_lr=0.1,
                       **options)
    meta.compile(loss="mse")
    return lambda: meta.train_on_batch(episode)


def main(args):
    run = common.start(args)
    episode = {key: tf.constant(value, tf.float32) for key, value in
               tasks.Sinusoid(shots=10).sample(16, seed=0).items()}
    rows = [{"stabilisers": name, "options": options, **args.timing.measure(
        {"variant": train_step(options, episode), "plain": train_step(PLAIN, episode)},
        args.repeats, ratios={"variant/plain": ("variant", "plain")}, label=name)}
        for name, options in VARIANTS.items()]
    common.print_timings("meta-step", rows, ("stabilisers",), digits=1)
    ratio = next(r["ratios"]["variant/plain"]["median"] for r in rows
                 if r["stabilisers"] == "defaults")
    verdict = common.goal("defaults / plain MAML meta-step", 1.3, {"ratio": ratio}, at_least=False)
    common.write_json("bench_stabilisers", __doc__, {**run, "rows": rows, "goal": verdict})


if __name__ == "__main__":
    common.run(common.parser(__doc__, timing=TIMING, repeats=15), main, timing=QUICK, repeats=3)
