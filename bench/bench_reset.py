"""MetaLearner's metric reset (``QueryMetrics.reset``) against Keras' ``Model.reset_metrics``, side
by side in one process.

Steps: bench_peers.py's MetaLearner meta-steps (16 tasks, 5 inner steps, the defaults, one
``train_on_batch`` each, which resets the metrics before its step). "library" is the learner as
it is; "keras reset" is the same learner resetting through ``keras.Model.reset_metrics``. Both
must log the same query loss before they are timed.

Ratio: keras reset / library, median [quartiles] of paired repeats (> 1: the library is faster).

Run:  python bench/bench_reset.py [--quick]   (about 5 minutes on 2 cores; --quick: 4-qubit
      FOMAML, 2 minutes). Writes bench/output/bench_reset.json. Keras reset / library was 1.17
      at 4-qubit FOMAML, 1.07 at 4-qubit MAML and 1.03 at 8-qubit FOMAML.
"""
import common  # first: sets up TensorFlow's environment
import keras
import numpy as np

import bench_peers

META = ((4, "fomaml"), (4, "maml"), (8, "fomaml"))
TOLERANCE = 1e-6


def side_by_side(n_qubits, algorithm, args):
    where, steps, losses = f"{n_qubits}q {algorithm}", {}, {}
    for name in ("keras reset", "library"):
        step, info = bench_peers.tfq_meta_meta(bench_peers.meta_configuration(n_qubits),
                                               algorithm)
        if name == "keras reset":
            meta = info["meta"]
            meta.reset_metrics = lambda meta=meta: keras.Model.reset_metrics(meta)
        steps[name], losses[name] = step, step()[0]
    common.agree(f"{where}: library vs keras reset", np.asarray(losses["library"]),
                 np.asarray(losses["keras reset"]), TOLERANCE)
    record = bench_peers.META_TIMING.measure(
        {name: (lambda step: lambda: step()[0])(step) for name, step in steps.items()},
        args.repeats, label=where, ratios={"keras/library": ("keras reset", "library")})
    return {"config": where, **record}


def main(args):
    run = common.start(args)
    rows = [side_by_side(n, algorithm, args) for n, algorithm in args.meta]
    common.print_timings("meta-step", rows, ["config"])
    ratios = {r["config"]: r["ratios"]["keras/library"]["median"] for r in rows}
    goals = {"not_slower": common.goal("keras reset / library", 1.0, ratios)}
    common.write_json("bench_reset", __doc__, {**run, "goals": goals, "rows": rows})


if __name__ == "__main__":
    parser = common.parser(__doc__, meta=list(META))
    parser.add_argument("--repeats", type=int, default=10**6, help="paired repeats at most")
    common.run(parser, main, meta=[(4, "fomaml")])
