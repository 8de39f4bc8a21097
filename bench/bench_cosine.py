"""The statevector engine's gate-polynomial cosines under XLA (``engines/statevector/cosine.py``)
against ``tf.cos``, side by side in one process.

Steps: bench_peers.py's engine step (forward + gradient of ``reuploading_circuit(n, n_layers=3)``
on 160 examples, XLA) and its MetaLearner meta-steps (16 tasks, 5 inner steps, the defaults).
"cosine" is the library as it is; "tf.cos" is the same step traced with ``tf.cos`` in place of
:func:`~tfq_meta.engines.statevector.cosine.cosine`. Both must agree (values and gradients, or
the query loss) before they are timed.

Ratio: tf.cos / cosine, median [quartiles] of paired repeats (> 1: the cosine is faster).

Run:  python bench/bench_cosine.py [--quick]   (about 5 minutes on 2 cores; --quick: 4 qubits,
      2 minutes). Writes bench/output/bench_cosine.json. At 4 and 8 qubits the engine step took
      0.92 and 0.94 of tf.cos's time, the meta-steps 0.84 (4q FOMAML), 0.88 (4q MAML) and 0.93
      (8q FOMAML).
"""
import common  # first: sets up TensorFlow's environment
import numpy as np
import tensorflow as tf

import bench_peers
from tfq_meta.engines.statevector import matrices

ENGINE_QUBITS, META = (4, 8), ((4, "fomaml"), (4, "maml"), (8, "fomaml"))
TOLERANCE = 1e-5


def with_tf_cos(build):
    """``build()``'s step, traced (by its first call, here) with ``tf.cos`` as the cosine."""
    library_cosine = matrices.cosine
    matrices.cosine = lambda angles, xla: tf.cos(angles)
    try:
        step, _ = build()
        first = step()
    finally:
        matrices.cosine = library_cosine
    return step, first


def side_by_side(where, build, block_timing, args):
    steps, results = {}, {}
    steps["tf.cos"], results["tf.cos"] = with_tf_cos(build)
    steps["cosine"], _ = build()
    results["cosine"] = steps["cosine"]()
    for a, b in zip(tf.nest.flatten(results["cosine"]), tf.nest.flatten(results["tf.cos"])):
        if a is not None:
            common.agree(f"{where}: cosine vs tf.cos", np.asarray(a), np.asarray(b), TOLERANCE)
    record = block_timing.measure(steps, args.repeats, label=where,
                                  ratios={"tf.cos/cosine": ("tf.cos", "cosine")})
    return {"config": where, **record}


def main(args):
    run = common.start(args)
    rows = [side_by_side(f"engine {n}q", lambda n=n: bench_peers.tfq_meta_engine(
        common.circuit_configuration(n, bench_peers.BATCH), xla=True),
        bench_peers.ENGINE_TIMING, args) for n in args.engine_qubits]
    rows += [side_by_side(f"{n}q {algorithm}", lambda n=n, algorithm=algorithm:
                          bench_peers.tfq_meta_meta(bench_peers.meta_configuration(n), algorithm),
                          bench_peers.META_TIMING, args) for n, algorithm in args.meta]
    common.print_timings("step", rows, ["config"])
    ratios = {r["config"]: r["ratios"]["tf.cos/cosine"]["median"] for r in rows}
    goals = {"not_slower": common.goal("tf.cos / cosine", 1.0, ratios)}
    common.write_json("bench_cosine", __doc__, {**run, "goals": goals, "rows": rows})


if __name__ == "__main__":
    parser = common.parser(__doc__, engine_qubits=list(ENGINE_QUBITS), meta=list(META))
    parser.add_argument("--repeats", type=int, default=10**6, help="paired repeats at most")
    common.run(parser, main, engine_qubits=[4], meta=[(4, "fomaml")])
