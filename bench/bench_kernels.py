"""Gram matrix of a quantum kernel: state-vector method against pairwise tfq.math.fidelity.

Embedding: ``reuploading_circuit(n_qubits, n_layers=2)`` with its weights fixed at random angles
(seed 0); N points, one feature per qubit, uniform in [0, π]. A *step* computes the N x N Gram
matrix ``K[i, j] = |⟨ψ(x_i)|ψ(x_j)⟩|²`` as a NumPy array:
  statevector  ``QuantumKernel(spec, method="statevector").gram(x)``: N simulations, one matmul
  pairwise     ``QuantumKernel(spec, method="pairwise").gram(x)``: our tfq.math.fidelity fallback
  tfq          plain TFQ as its users write it: weights resolved into the circuit once; in the
               step the N "other" circuits resolved with ``tfq.resolve_parameters`` and
               ``tfq.math.fidelity(programs, names, x, others)``. One call at N = 300 would hold
               N x N serialized circuits (about 11 GB once qsim has parsed them), so the rows go
               in as few calls as keep each at most BASELINE_MAX_OTHERS circuits (the JSON
               records the split; it barely changes the speed).
All three must agree to 1e-5 with each other and with a few entries from
``cirq.Simulator(dtype=complex128)``. First calls are timed apart ("first call s"); a method whose
first call takes seconds is timed one call per block (timing.py).

Goal: at 300 points and 6 qubits, tfq / statevector >= 20 (median of paired repeats); the ratio
against our pairwise fallback is reported next to it. Extra rows: 100 points at 6 and 8 qubits.

Run:  python bench/bench_kernels.py [--wait 10]   (about 5 minutes on 2 cores; --quick: under a
      minute). Writes bench/output/bench_kernels.json.
"""
import dataclasses
import json
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
from timing import BlockTiming, format_ratio, paired_ratio, timed_first_call

N_LAYERS = 2
METHODS = ("statevector", "pairwise", "tfq")
GOAL_QUBITS, GOAL_POINTS, GOAL_RATIO = 6, 300, 20.0
# Other circuits per tfq.math.fidelity call of the plain-TFQ baseline (about 87 MB serialized
# at 6 qubits, ~1.2 GB while qsim holds them parsed).
BASELINE_MAX_OTHERS = 10_000
AGREEMENT_TOLERANCE, ORACLE_PAIRS = 1e-5, 6
# (qubits, points, min repeats, configuration seconds): the goal row first.
ROWS = ((GOAL_QUBITS, GOAL_POINTS, 3, 150.0), (6, 100, 4, 30.0), (8, 100, 3, 30.0))
QUICK_ROWS = ((6, 60, 3, 5.0), (8, 30, 3, 5.0))
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.1, warmup_steps=3)
QUICK_TIMING = BlockTiming(block_seconds=0.1, settle_seconds=0.02, warmup_steps=1)


class TfqBaseline:
    """The Gram matrix as plain TFQ computes it (module docstring): ``self(x)``."""

    def __init__(self, spec, weights, n_points):
        self.program = tfq.convert_to_tensor([cirq.resolve_parameters(spec.circuit, weights)])
        self.names = tf.constant([str(s) for s in spec.data_symbols])
        self.rows = math.ceil(n_points / math.ceil(n_points * n_points / BASELINE_MAX_OTHERS))
        size = len(tfq.resolve_parameters(self.program, self.names,
                                          tf.zeros([1, len(spec.data_symbols)])).numpy()[0])
        self.record = {"rows_per_call": self.rows, "calls": math.ceil(n_points / self.rows),
                       "serialized_bytes_per_circuit": size,
                       "one_call_other_programs_mb": n_points * n_points * size / 1e6}

    def __call__(self, x):
        x = tf.constant(x, tf.float32)
        programs = tf.tile(self.program, [x.shape[0]])
        others = tfq.resolve_parameters(programs, self.names, x)
        blocks = []
        for start in range(0, x.shape[0], self.rows):
            rows = x[start:start + self.rows]
            blocks.append(tfq.math.fidelity(programs[start:start + rows.shape[0]], self.names,
                                            rows, tf.tile(others[tf.newaxis], [rows.shape[0], 1])))
        return np.asarray(tf.concat(blocks, axis=0), np.float64)


def oracle_fidelities(spec, weights, x, pairs):
    """|⟨ψ(x_i)|ψ(x_j)⟩|² for ``pairs`` from Cirq's complex128 simulator (independent of TFQ)."""
    simulator = cirq.Simulator(dtype=np.complex128)
    circuit = cirq.resolve_parameters(spec.circuit, weights)
    states = {i: simulator.simulate(
        circuit, {str(s): float(v) for s, v in zip(spec.data_symbols, x[i])},
        qubit_order=spec.qubits).final_state_vector for i in {k for pair in pairs for k in pair}}
    return np.array([abs(np.vdot(states[i], states[j])) ** 2 for i, j in pairs])


def check_agreement(grams, spec, weights, x, rng):
    """Max |ΔK| between the methods and against the Cirq oracle; raises beyond tolerance."""
    pairs = [(0, 0)] + [tuple(int(k) for k in rng.integers(0, len(x), 2))
                        for _ in range(ORACLE_PAIRS - 1)]
    oracle = oracle_fidelities(spec, weights, x, pairs)
    index = tuple(np.array(pairs).T)
    record = {
        "between_methods": {f"{a} vs {b}": float(np.max(np.abs(grams[a] - grams[b])))
                            for k, a in enumerate(METHODS) for b in METHODS[k + 1:]},
        "vs_cirq_oracle": {m: float(np.max(np.abs(grams[m][index] - oracle))) for m in METHODS},
        "oracle_pairs": pairs,
        "asymmetry": {m: float(np.max(np.abs(g - g.T))) for m, g in grams.items()},
        "diagonal_minus_one": {m: float(np.max(np.abs(np.diag(g) - 1.0)))
                               for m, g in grams.items()},
    }
    if not worst_error(record) < AGREEMENT_TOLERANCE:
        raise AssertionError(f"Gram matrices disagree: {json.dumps(record)}")
    return record


def worst_error(agreement):
    return max([*agreement["between_methods"].values(), *agreement["vs_cirq_oracle"].values()])


def run_row(timing, n_qubits, n_points, min_repeats, configuration_seconds):
    rng = np.random.default_rng(0)
    spec = circuits.reuploading_circuit(n_qubits, N_LAYERS)
    weights = {str(s): float(a) for s, a in
               zip(spec.weight_symbols, rng.uniform(0.0, 2.0 * np.pi, len(spec.weight_symbols)))}
    x = rng.uniform(0.0, np.pi, (n_points, n_qubits)).astype(np.float32)
    start = time.perf_counter()
    kernels = {m: QuantumKernel(spec, method=m, initial_values=weights)
               for m in ("statevector", "pairwise")}
    baseline = TfqBaseline(spec, weights, n_points)
    setup_s = time.perf_counter() - start
    steps = {"statevector": lambda: kernels["statevector"].gram(x),
             "pairwise": lambda: kernels["pairwise"].gram(x), "tfq": lambda: baseline(x)}
    grams, first_s = {}, {}
    for name, step in steps.items():
        grams[name], first_s[name] = timed_first_call(step)
        print(f"    {n_qubits} qubits, {n_points} points: first {name} call "
              f"{first_s[name]:.2f} s", flush=True)
    agreement = check_agreement(grams, spec, weights, x, rng)
    plan = dataclasses.replace(timing, min_repeats=min_repeats,
                               configuration_seconds=configuration_seconds)
    n_steps, samples = plan.measure(steps, first_call_seconds=first_s)
    row = {
        "qubits": n_qubits, "points": n_points,
        "gates": len(list(spec.circuit.all_operations())), "weights": len(weights),
        **common.timing_record(n_steps, samples), "first_call_s": first_s, "setup_s": setup_s,
        "pairwise_over_statevector": paired_ratio(samples, "pairwise", "statevector"),
        "tfq_over_statevector": paired_ratio(samples, "tfq", "statevector"),
        "pairwise_over_tfq": paired_ratio(samples, "pairwise", "tfq"),
        "agreement": agreement, "tfq_baseline": baseline.record,
        "pairwise_circuits_per_call": PAIRWISE_CIRCUITS_PER_CALL,
    }
    print(f"    done: {row['repeats']} repeats, ratio tfq/statevector "
          f"{format_ratio(row['tfq_over_statevector'])}", flush=True)
    return row


def goal(rows):
    row = next((r for r in rows if (r["qubits"], r["points"]) == (GOAL_QUBITS, GOAL_POINTS)),
               rows[0])
    ratio, ours = (row[key]["median"] for key in ("tfq_over_statevector",
                                                   "pairwise_over_statevector"))
    return {"goal": f"tfq.math.fidelity / statevector >= {GOAL_RATIO} "
                    f"({GOAL_POINTS} points, {GOAL_QUBITS} qubits)",
            "measured_at": {"qubits": row["qubits"], "points": row["points"]},
            "ratio": ratio, "ratio_vs_our_pairwise": ours,
            "met": ratio >= GOAL_RATIO, "met_vs_our_pairwise": ours >= GOAL_RATIO}


def report(rows, verdict):
    common.print_table(
        "ms per Gram matrix (median), ratios (median [quartiles] of paired repeats), first "
        "calls, largest disagreement:",
        ["qubits", "points", "statevector ms", "pairwise ms", "tfq ms", "pairwise/sv", "tfq/sv",
         "pairwise/tfq", "first call s (sv, pw, tfq)", "max dK", "rep"],
        [[r["qubits"], r["points"], f"{r['median_ms']['statevector']:.1f}",
          f"{r['median_ms']['pairwise']:.0f}", f"{r['median_ms']['tfq']:.0f}",
          *(format_ratio(r[k]) for k in ("pairwise_over_statevector", "tfq_over_statevector",
                                         "pairwise_over_tfq")),
          " ".join(f"{r['first_call_s'][m]:.2f}" for m in METHODS),
          f"{worst_error(r['agreement']):.1e}", r["repeats"]] for r in rows])
    quick = verdict["measured_at"]["points"] != GOAL_POINTS
    print(f"\ngoal: {verdict['goal']}: {verdict['ratio']:.0f}x -> {common.verdict(verdict['met'])}"
          + (f" (quick run at {verdict['measured_at']['points']} points: not the goal size)"
             if quick else ""))
    print(f"      against our pairwise fallback: {verdict['ratio_vs_our_pairwise']:.0f}x -> "
          f"{common.verdict(verdict['met_vs_our_pairwise'])}")


def main(args):
    run = common.start(args)
    start = time.perf_counter()
    timing = QUICK_TIMING if args.quick else TIMING
    rows = [run_row(timing, *config) for config in (QUICK_ROWS if args.quick else ROWS)]
    verdict = goal(rows)
    report(rows, verdict)
    print(f"total {time.perf_counter() - start:.0f} s")
    common.write_json("bench_kernels", __doc__, {**run, "rows": rows, "goal": verdict,
                                                 "total_s": time.perf_counter() - start})


if __name__ == "__main__":
    main(common.parse(common.parser(__doc__)))
