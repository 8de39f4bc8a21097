"""Gram matrix of a quantum kernel: state-vector method against pairwise tfq.math.fidelity.

Embedding ``reuploading_circuit(n_qubits, n_layers=2)`` at fixed random weights, N points, by
``QuantumKernel`` with method "statevector" (sv: N simulations, one matmul) or "pairwise" (pw: our
tfq.math.fidelity fallback), and by plain ``tfq.math.fidelity`` of resolved circuits (in as few
calls as keep each under BASELINE_MAX_OTHERS circuits: one call at N = 300 would take 11 GB).
"max dK": the largest difference between them and from ``cirq.Simulator`` on a few entries.

Run:  python bench/bench_kernels.py [--wait 10] [--quick]   (about 5 minutes on 2 cores).
      Writes bench/output/bench_kernels.json.
"""
import dataclasses
import math
import time

import common  # first: sets up TensorFlow's environment
import cirq
import numpy as np
import tensorflow as tf
import tensorflow_quantum as tfq

from tfq_meta import circuits
from tfq_meta.fidelity import PAIRWISE_CIRCUITS_PER_CALL
from tfq_meta.kernels import QuantumKernel
from timing import BlockTiming, timed_first_call

METHODS = ("statevector", "pairwise", "tfq")
RATIOS = {"pairwise/sv": ("pairwise", "statevector"), "tfq/sv": ("tfq", "statevector"),
          "pairwise/tfq": ("pairwise", "tfq")}
GOAL_ROW = "6 qubits, 300 points"
# About 87 MB serialized at 6 qubits, ~1.2 GB while qsim holds them parsed.
BASELINE_MAX_OTHERS = 10_000
TOLERANCE, ORACLE_PAIRS = 1e-5, 6
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.1, min_repeats=3, warmup_steps=3)
QUICK = BlockTiming(block_seconds=0.1, settle_seconds=0.02, configuration_seconds=5.0,
                    min_repeats=3)
# (qubits, points, timing): the goal row first.
ROWS = ((6, 300, dataclasses.replace(TIMING, configuration_seconds=150.0)),
        (6, 100, dataclasses.replace(TIMING, configuration_seconds=30.0, min_repeats=4)),
        (8, 100, dataclasses.replace(TIMING, configuration_seconds=30.0)))


def tfq_gram(spec, weights, n_points):
    """The Gram matrix as plain TFQ computes it: gram(x), and how its calls split the rows."""
    program = tfq.convert_to_tensor([cirq.resolve_parameters(spec.circuit, weights)])
    names = tf.constant([str(s) for s in spec.data_symbols])
    rows_per_call = math.ceil(n_points / math.ceil(n_points * n_points / BASELINE_MAX_OTHERS))
    size = len(tfq.resolve_parameters(program, names,
                                      tf.zeros([1, len(spec.data_symbols)])).numpy()[0])

    def gram(x):
        x = tf.constant(x, tf.float32)
        programs = tf.tile(program, [x.shape[0]])
        others = tfq.resolve_parameters(programs, names, x)
        blocks = []
        for start in range(0, x.shape[0], rows_per_call):
            rows = x[start:start + rows_per_call]
            blocks.append(tfq.math.fidelity(programs[start:start + rows.shape[0]], names, rows,
                                            tf.tile(others[tf.newaxis], [rows.shape[0], 1])))
        return np.asarray(tf.concat(blocks, axis=0), np.float64)

    return gram, {"rows_per_call": rows_per_call, "calls": math.ceil(n_points / rows_per_call),
                  "serialized_bytes_per_circuit": size,
                  "one_call_other_programs_mb": n_points * n_points * size / 1e6}


def check_agreement(grams, spec, weights, x, rng):
    """Max |ΔK| between the methods and against Cirq (independent of TFQ) on a few pairs."""
    pairs = [(0, 0)] + [tuple(int(k) for k in rng.integers(0, len(x), 2))
                        for _ in range(ORACLE_PAIRS - 1)]
    circuit = cirq.resolve_parameters(spec.circuit, weights)
    states = {i: cirq.Simulator(dtype=np.complex128).simulate(
        circuit, {str(s): float(v) for s, v in zip(spec.data_symbols, x[i])},
        qubit_order=spec.qubits).final_state_vector for i in {k for pair in pairs for k in pair}}
    oracle = np.array([abs(np.vdot(states[i], states[j])) ** 2 for i, j in pairs])
    index = tuple(np.array(pairs).T)
    between = {f"{a} vs {b}": common.agree(f"{a} vs {b}", grams[a], grams[b], TOLERANCE)
               for k, a in enumerate(METHODS) for b in METHODS[k + 1:]}
    vs_oracle = {m: common.agree(f"{m} vs Cirq", grams[m][index], oracle, TOLERANCE)
                 for m in METHODS}
    return {"between_methods": between, "vs_cirq_oracle": vs_oracle, "oracle_pairs": pairs,
            "worst": max(*between.values(), *vs_oracle.values()),
            "asymmetry": {m: float(np.max(np.abs(g - g.T))) for m, g in grams.items()},
            "diagonal_minus_one": {m: float(np.max(np.abs(np.diag(g) - 1.0)))
                                   for m, g in grams.items()}}


def run_row(n_qubits, n_points, plan):
    rng = np.random.default_rng(0)
    spec = circuits.reuploading_circuit(n_qubits, 2)
    weights = {str(s): float(a) for s, a in
               zip(spec.weight_symbols, rng.uniform(0.0, 2.0 * np.pi, len(spec.weight_symbols)))}
    x = rng.uniform(0.0, np.pi, (n_points, n_qubits)).astype(np.float32)
    start = time.perf_counter()
    kernels = {m: QuantumKernel(spec, method=m, initial_values=weights).gram
               for m in METHODS[:2]}
    kernels["tfq"], baseline = tfq_gram(spec, weights, n_points)
    setup_s = time.perf_counter() - start
    steps = {name: (lambda f=f: f(x)) for name, f in kernels.items()}
    grams, first_s, where = {}, {}, f"{n_qubits} qubits, {n_points} points"
    for name, step in steps.items():
        grams[name], first_s[name] = timed_first_call(step)
    agreement = check_agreement(grams, spec, weights, x, rng)
    return {"where": where, "qubits": n_qubits, "points": n_points,
            "gates": len(list(spec.circuit.all_operations())), "weights": len(weights),
            "first_call_s": first_s, "setup_s": setup_s,
            **plan.measure(steps, ratios=RATIOS, label=where),
            "agreement": agreement, "tfq_baseline": baseline,
            "pairwise_circuits_per_call": PAIRWISE_CIRCUITS_PER_CALL}


def main(args):
    run = common.start(args)
    rows = [run_row(*row) for row in args.rows]
    common.print_timings("Gram matrix", rows, ("qubits", "points"), digits=1, after={
        "first call s (sv, pw, tfq)": lambda r: " ".join(f"{s:.2f}" for s in
                                                         r["first_call_s"].values()),
        "max dK": lambda r: f"{r['agreement']['worst']:.1e}", "rep": lambda r: r["repeats"]})
    print()
    goals = {key: common.goal(key, 20.0, {rows[0]["where"]: rows[0]["ratios"][key]["median"]},
                              required=[GOAL_ROW]) for key in ("tfq/sv", "pairwise/sv")}
    common.write_json("bench_kernels", __doc__, {**run, "rows": rows, "goals": goals})


if __name__ == "__main__":
    common.run(common.parser(__doc__, rows=ROWS), main, rows=((6, 60, QUICK), (8, 30, QUICK)))
