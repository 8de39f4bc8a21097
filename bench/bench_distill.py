"""Inference time of a distilled student against its teacher (the models of distill_digits.py).

Teacher: ``models.teacher(8, 5, "classification", n_qubits=8, n_layers=4)``; student:
``models.student(8, 5, "classification", n_qubits=4, n_layers=2)``; both ``engine="auto"``, with
their initial weights (inference time does not depend on them). Two ways a user predicts, at
batch 1, 32 and 270 (distill_digits.py's test split):
  predict  ``model.predict_on_batch(x)``
  served   ``tf.saved_model.load(path).serve(x)`` of ``model.export(path)``
Both must give predict's outputs (to 1e-5). Teacher and student are timed in alternating blocks
(timing.py); teacher/student is the median [quartiles] of paired blocks.

Goal: teacher/student >= 4 on ``predict`` at batch 270.

Run:  pip install -e ".[bench]" && python bench/bench_distill.py   (about 2 minutes; --quick for
      a smoke run). Writes bench/output/bench_distill.json.
"""
import json
import tempfile
from pathlib import Path

import common  # first: sets up TensorFlow's environment
import keras
import numpy as np
import tensorflow as tf

import tfq_meta
from timing import BlockTiming, format_ratio, paired_ratio

N_FEATURES, N_CLASSES = 8, 5
BATCH_SIZES = (1, 32, 270)
GOAL_BATCH, GOAL_RATIO = 270, 4.0
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=20.0,
                     min_repeats=5, warmup_steps=3)
QUICK_TIMING = BlockTiming(block_seconds=0.1, settle_seconds=0.02, configuration_seconds=2.0,
                           min_repeats=3, warmup_steps=1)


def models():
    keras.utils.set_random_seed(0)
    return {"teacher": tfq_meta.models.teacher(N_FEATURES, N_CLASSES, "classification",
                                               n_qubits=8, n_layers=4),
            "student": tfq_meta.models.student(N_FEATURES, N_CLASSES, "classification",
                                               n_qubits=4, n_layers=2)}


def predictors(model, directory):
    """{way: function(x)} of the two ways a user predicts with ``model``."""
    path = str(Path(directory) / model.name)
    model.export(path, verbose=False)
    served = tf.saved_model.load(path)
    return {"predict": model.predict_on_batch, "served": lambda x: served.serve(x)}


def check_same_outputs(functions, model, x):
    expected = model.predict_on_batch(x)
    for way, function in functions.items():
        error = float(np.max(np.abs(np.asarray(function(x)) - expected)))
        if error > 1e-5:
            raise AssertionError(f"{model.name} {way} differs from predict by {error:.2e}")


def time_predictions(timing, max_repeats):
    rng = np.random.default_rng(0)
    pair, rows = models(), []
    with tempfile.TemporaryDirectory() as directory:
        ways = {role: predictors(model, directory) for role, model in pair.items()}
        for batch in BATCH_SIZES:
            x = rng.uniform(0, np.pi, (batch, N_FEATURES)).astype(np.float32)
            for role, model in pair.items():
                check_same_outputs(ways[role], model, x)
            for way in ("predict", "served"):
                steps = {role: (lambda f=ways[role][way]: f(x)) for role in pair}
                n_steps, samples = timing.measure(steps, max_repeats)
                rows.append({"batch": batch, "way": way, **common.timing_record(n_steps, samples),
                             "teacher_over_student": paired_ratio(samples, "teacher", "student")})
    return rows, {role: tfq_meta.models.circuit_summary(model) for role, model in pair.items()}


def main(args):
    run = common.start(args)
    rows, sizes = time_predictions(QUICK_TIMING if args.quick else TIMING, 3 if args.quick else 15)
    common.print_table("ms per prediction (median), teacher/student (median [quartiles] of "
                       "paired repeats):", ["batch", "way", "teacher", "student", "ratio"],
                       [[r["batch"], r["way"], f"{r['median_ms']['teacher']:.2f}",
                         f"{r['median_ms']['student']:.2f}",
                         format_ratio(r["teacher_over_student"])] for r in rows])
    ratio = next(r["teacher_over_student"]["median"] for r in rows
                 if r["batch"] == GOAL_BATCH and r["way"] == "predict")
    verdict = {"goal": f"teacher/student >= {GOAL_RATIO} (predict, batch {GOAL_BATCH})",
               "ratio": ratio, "met": ratio >= GOAL_RATIO}
    print("\nmodel sizes:", json.dumps(sizes))
    print(f"goal: {verdict['goal']}: {ratio:.2f} -> {common.verdict(verdict['met'])}")
    common.write_json("bench_distill", __doc__,
                      {**run, "rows": rows, "sizes": sizes, "goal": verdict})


if __name__ == "__main__":
    main(common.parse(common.parser(__doc__)))
