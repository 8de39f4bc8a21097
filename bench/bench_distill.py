"""Inference time of a distilled student against its teacher (the models of distill_digits.py).

Teacher ``models.teacher(8, 5, "classification", n_qubits=8, n_layers=4)``, student
``models.student(8, 5, "classification", n_qubits=4, n_layers=2)``, at batch 1, 32 and 270, by
``predict`` (``model.predict_on_batch``) or ``served`` (``tf.saved_model.load(path).serve`` of
``model.export(path)``; agrees with predict to 1e-5). Ratio: median [quartiles] of paired blocks.

Run:  python bench/bench_distill.py [--quick]   (about 2 minutes). Writes
      bench/output/bench_distill.json.
"""
import dataclasses
import json
import tempfile

import common  # first: sets up TensorFlow's environment
import keras
import numpy as np
import tensorflow as tf

import tfq_meta
from timing import BlockTiming

N_FEATURES, N_CLASSES, BATCH_SIZES, GOAL_BATCH = 8, 5, (1, 32, 270), 270
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=20.0,
                     min_repeats=5, warmup_steps=3)
QUICK = dataclasses.replace(TIMING, block_seconds=0.1, settle_seconds=0.02,
                            configuration_seconds=2.0, min_repeats=3, warmup_steps=1)


def main(args):
    run = common.start(args)
    keras.utils.set_random_seed(0)
    models = {"teacher": tfq_meta.models.teacher(N_FEATURES, N_CLASSES, "classification",
                                                 n_qubits=8, n_layers=4),
              "student": tfq_meta.models.student(N_FEATURES, N_CLASSES, "classification",
                                                 n_qubits=4, n_layers=2)}
    rng, rows, ways = np.random.default_rng(0), [], {}
    with tempfile.TemporaryDirectory() as directory:
        for role, model in models.items():
            model.export(f"{directory}/{role}", verbose=False)
            # The loaded object must live on: its function references its variables.
            loaded = tf.saved_model.load(f"{directory}/{role}")
            ways[role] = {"predict": model.predict_on_batch,
                          "served": lambda x, loaded=loaded: loaded.serve(x)}
        for batch in BATCH_SIZES:
            x = rng.uniform(0, np.pi, (batch, N_FEATURES)).astype(np.float32)
            for role, model in models.items():
                common.agree(f"{role} served vs predict", ways[role]["served"](x),
                             model.predict_on_batch(x), 1e-5)
            for way in ("predict", "served"):
                steps = {role: (lambda f=ways[role][way]: f(x)) for role in models}
                rows.append({"batch": batch, "way": way, **args.timing.measure(
                    steps, args.repeats, ratios={"teacher/student": ("teacher", "student")},
                    label=f"batch {batch} {way}")})
    common.print_timings("prediction", rows, ("batch", "way"))
    sizes = {role: tfq_meta.models.circuit_summary(model) for role, model in models.items()}
    print("\nmodel sizes:", json.dumps(sizes))
    ratio = next(r["ratios"]["teacher/student"]["median"] for r in rows
                 if r["batch"] == GOAL_BATCH and r["way"] == "predict")
    verdict = common.goal("teacher/student (predict)", 4.0, {f"batch {GOAL_BATCH}": ratio})
    common.write_json("bench_distill", __doc__,
                      {**run, "rows": rows, "sizes": sizes, "goal": verdict})


if __name__ == "__main__":
    common.run(common.parser(__doc__, timing=TIMING, repeats=15), main, timing=QUICK, repeats=3)
