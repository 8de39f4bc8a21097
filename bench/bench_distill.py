"""Inference time of a distilled student against its teacher (the models of distill_digits.py).

Teacher: ``tfq_meta.models.teacher(8, 5, "classification", n_qubits=8, n_layers=4)`` (8 qubits,
4 re-uploading layers, 157 parameters). Student: ``tfq_meta.models.student(8, 5,
"classification", n_qubits=4, n_layers=2)`` (Dense projection to 4 angles, 4 qubits, 2 layers,
93 parameters). Both on ``engine="auto"`` (statevector at these sizes), as a user gets them.
Inference time does not depend on the weights' values, so both keep their initial ones.

Two ways a user predicts, each at batch 1, 32 and 270 (the size of distill_digits.py's test
split):
  predict   ``model.predict_on_batch(x)``: Keras' compiled predict function.
  served    ``tf.saved_model.load(path).serve(x)`` of ``model.export(path)``: what a deployment
            calls.
For each, the teacher and student are timed in alternating blocks (bench/timing.py); the ratio
teacher/student is the median over repeats of paired blocks.

Goal (issue text): the student's inference at least 4x faster than the teacher's, judged on
``predict`` at batch 270 (the example's test set); the other batch sizes are reported next to it.

Run:  pip install -e ".[bench]" && python bench/bench_distill.py    (about 2 minutes; --quick
      for a smoke run). Prints a table and the goal, writes bench/output/bench_distill.json.
"""
import json
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfq_meta  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from machine_state import (note_if_busy, quick_and_wait_arguments,  # noqa: E402
                           save_results, wait_for_idle)
from timing import BlockTiming, format_ratio, paired_ratio  # noqa: E402

OUTPUT = Path(__file__).parent / "output" / "bench_distill.json"
N_FEATURES, N_CLASSES = 8, 5
BATCH_SIZES = (1, 32, 270)
GOAL_BATCH, GOAL_RATIO = 270, 4.0
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=20.0,
                     min_repeats=5, warmup_steps=3)
QUICK_TIMING = BlockTiming(block_seconds=0.1, settle_seconds=0.02, configuration_seconds=2.0,
                           min_repeats=3, warmup_steps=1)


def models():
    keras.utils.set_random_seed(0)
    return {
        "teacher": tfq_meta.models.teacher(N_FEATURES, N_CLASSES, "classification",
                                           n_qubits=8, n_layers=4),
        "student": tfq_meta.models.student(N_FEATURES, N_CLASSES, "classification",
                                           n_qubits=4, n_layers=2),
    }


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


def run(timing, max_repeats):
    rng = np.random.default_rng(0)
    pair = models()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        ways = {role: predictors(model, directory) for role, model in pair.items()}
        for batch in BATCH_SIZES:
            x = rng.uniform(0, np.pi, (batch, N_FEATURES)).astype(np.float32)
            for role, model in pair.items():
                check_same_outputs(ways[role], model, x)
            for way in ("predict", "served"):
                steps = {role: (lambda f=ways[role][way]: f(x)) for role in pair}
                _, samples = timing.measure(steps, max_repeats)
                rows.append({
                    "batch": batch, "way": way,
                    "median_ms": {role: 1e3 * statistics.median(v) for role, v in samples.items()},
                    "teacher_over_student": paired_ratio(samples, "teacher", "student"),
                    "samples_ms": {role: [1e3 * s for s in v] for role, v in samples.items()},
                })
                print(f"  batch {batch:>3} {way:<8} teacher {rows[-1]['median_ms']['teacher']:7.2f}"
                      f" ms, student {rows[-1]['median_ms']['student']:7.2f} ms, ratio "
                      f"{format_ratio(rows[-1]['teacher_over_student'])}", flush=True)
    sizes = {role: tfq_meta.models.circuit_summary(model) for role, model in pair.items()}
    return rows, sizes


def goal(rows):
    ratio = next(row["teacher_over_student"]["median"] for row in rows
                 if row["batch"] == GOAL_BATCH and row["way"] == "predict")
    return {"goal": f"teacher/student >= {GOAL_RATIO} (predict, batch {GOAL_BATCH})",
            "ratio": ratio, "met": ratio >= GOAL_RATIO}


def main(args):
    waited = wait_for_idle(args.wait)
    busy_before = note_if_busy()
    rows, sizes = run(QUICK_TIMING if args.quick else TIMING, 3 if args.quick else 15)
    verdict = goal(rows)
    print("\nmodel sizes:", json.dumps(sizes))
    print(f"goal: {verdict['goal']}: {verdict['ratio']:.2f} -> "
          f"{'met' if verdict['met'] else 'MISSED'}")
    save_results(OUTPUT, {"rows": rows, "sizes": sizes, "goal": verdict, "quick": args.quick},
                 waited, busy_before)


if __name__ == "__main__":
    main(quick_and_wait_arguments(__doc__.splitlines()[0]).parse_args())
