"""Gram matrix of a quantum kernel: state-vector method against pairwise tfq.math.fidelity.

Embedding: ``tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=2)`` (angle encoding
``rx(x_q)`` on every qubit, twice, between three hardware-efficient blocks of ry, rz and a CNOT
chain: 6 features, 36 weights, 63 gates at 6 qubits), its weights fixed at random angles uniform
in [0, 2π) (seed 0); N points with one feature per qubit, uniform in [0, π]. One *step* computes
the symmetric N x N Gram matrix ``K[i, j] = |⟨ψ(x_i)|ψ(x_j)⟩|²`` from the features, as a NumPy
array:

  statevector  ``QuantumKernel(spec, method="statevector").gram(x)``: N state simulations
               (tfq_meta's batched TensorFlow state vector) and one complex matmul.
  pairwise     ``QuantumKernel(spec, method="pairwise").gram(x)``: our fallback on
               ``tfq.math.fidelity``, at most ``tfq_meta.fidelity.PAIRWISE_CIRCUITS_PER_CALL``
               circuits per call.
  tfq          plain TensorFlow Quantum as a TFQ user writes it: the weights resolved into the
               circuit with ``cirq.resolve_parameters`` and the circuit converted once (outside
               the step); in the step, the N "other" circuits resolved with
               ``tfq.resolve_parameters`` and ``tfq.math.fidelity(programs [rows],
               feature names, x[rows], other_programs [rows, N])``. One call needs an
               N x N tensor of serialized circuits (8.7 kB each at 6 qubits: 0.79 GB at
               N = 300), and qsim's op parses and fuses all of them before it simulates (its
               resident memory grew by 1.2 GB for one 100 x 100 call during development, so about
               11 GB at 300 x 300, too much on a shared machine): the rows go in as few calls as
               keep each call at most BASELINE_MAX_OTHERS other circuits (one call at N <= 100,
               9 calls of 34 rows at N = 300; the JSON records the split). The split barely
               matters for speed (4 to 100 rows per call at N = 100 timed alike, within the
               noise of a busy machine, during development).

All three must agree: max |ΔK| between every two methods < 1e-5, and each within 1e-5 of a few
entries computed independently by ``cirq.Simulator(dtype=complex128)``; the script stops if not.

Timing (bench/timing.py): the first call of each method is timed on its own (weights built,
first-run set-up of TensorFlow and qsim); then every method is timed in blocks, one block each
per repeat, in an order rotated between repeats, and a ratio is the median (quartiles) over
repeats of the two blocks' ratio within one repeat. The statevector method's blocks are
~0.3 s of back-to-back calls after a warm-up; a pairwise or tfq call takes seconds to a minute,
so such a block is one call, and its first call (timed apart) is its warm-up.

Goal (issue text): at 300 points and 6 qubits the state-vector method >= 20x faster than
pairwise ``tfq.math.fidelity``, judged as tfq / statevector (median of paired repeats); the
ratio against our own pairwise fallback is reported next to it. Extra rows: 100 points at 6
and at 8 qubits.

Run:  python bench/bench_kernels.py [--wait 10]   (about 5 minutes on 2 cores; --quick for a
      smoke run of under a minute). Prints a table and the goal, writes
      bench/output/bench_kernels.json.
"""
import json
import math
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_quantum as tfq  # noqa: E402

from machine_state import (note_if_busy, quick_and_wait_arguments,  # noqa: E402
                           save_results, wait_for_idle)
from tfq_meta import circuits  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from tfq_meta.fidelity import PAIRWISE_CIRCUITS_PER_CALL  # noqa: E402
from tfq_meta.kernels import QuantumKernel  # noqa: E402
from timing import (BlockTiming, format_ratio, paired_ratio, rotated_order,  # noqa: E402
                    timed_first_call)

OUTPUT = Path(__file__).parent / "output" / "bench_kernels.json"
N_LAYERS = 2
METHODS = ("statevector", "pairwise", "tfq")
GOAL_QUBITS, GOAL_POINTS, GOAL_RATIO = 6, 300, 20.0
# Other circuits per tfq.math.fidelity call of the plain-TFQ baseline (about 87 MB serialized
# at 6 qubits, ~1.2 GB while qsim holds them parsed).
BASELINE_MAX_OTHERS = 10_000
AGREEMENT_TOLERANCE = 1e-5
ORACLE_PAIRS = 6
# (qubits, points, min repeats, configuration seconds): the goal row first.
ROWS = ((GOAL_QUBITS, GOAL_POINTS, 3, 150.0), (6, 100, 4, 30.0), (8, 100, 3, 30.0))
QUICK_ROWS = ((6, 60, 3, 5.0), (8, 30, 3, 5.0))
TIMING = BlockTiming(block_seconds=0.3, settle_seconds=0.1, warmup_steps=3)
QUICK_TIMING = BlockTiming(block_seconds=0.1, settle_seconds=0.02, warmup_steps=1)


def embedding(n_qubits, rng):
    """The re-uploading spec and its fixed random weights {symbol name: angle}."""
    spec = circuits.reuploading_circuit(n_qubits, N_LAYERS)
    angles = rng.uniform(0.0, 2.0 * np.pi, len(spec.weight_symbols))
    return spec, {str(s): float(a) for s, a in zip(spec.weight_symbols, angles)}


class TfqBaseline:
    """The Gram matrix as plain TFQ computes it (module docstring): ``self(x)``."""

    def __init__(self, spec, weights, n_points):
        circuit = cirq.resolve_parameters(spec.circuit, weights)
        self.program = tfq.convert_to_tensor([circuit])
        self.names = tf.constant([str(s) for s in spec.data_symbols])
        n_calls = math.ceil(n_points * n_points / BASELINE_MAX_OTHERS)
        self.rows = math.ceil(n_points / n_calls)
        resolved = tfq.resolve_parameters(self.program, self.names,
                                          tf.zeros([1, len(spec.data_symbols)]))
        self.record = {"rows_per_call": self.rows,
                       "calls": math.ceil(n_points / self.rows),
                       "serialized_bytes_per_circuit": len(resolved.numpy()[0]),
                       "one_call_other_programs_mb":
                           n_points * n_points * len(resolved.numpy()[0]) / 1e6}

    def __call__(self, x):
        x = tf.constant(x, tf.float32)
        n = x.shape[0]
        programs = tf.tile(self.program, [n])
        others = tfq.resolve_parameters(programs, self.names, x)
        blocks = []
        for start in range(0, n, self.rows):
            rows = x[start:start + self.rows]
            m = rows.shape[0]
            blocks.append(tfq.math.fidelity(programs[start:start + m], self.names, rows,
                                            tf.tile(others[tf.newaxis], [m, 1])))
        return np.asarray(tf.concat(blocks, axis=0), np.float64)


def oracle_fidelities(spec, weights, x, pairs):
    """|⟨ψ(x_i)|ψ(x_j)⟩|² for ``pairs`` from Cirq's complex128 simulator (independent of TFQ)."""
    simulator = cirq.Simulator(dtype=np.complex128)
    circuit = cirq.resolve_parameters(spec.circuit, weights)
    qubits = spec.qubits
    states = {}
    for i in sorted({k for pair in pairs for k in pair}):
        resolver = {str(s): float(v) for s, v in zip(spec.data_symbols, x[i])}
        states[i] = simulator.simulate(circuit, resolver,
                                       qubit_order=qubits).final_state_vector
    return np.array([abs(np.vdot(states[i], states[j])) ** 2 for i, j in pairs])


def check_agreement(grams, spec, weights, x, rng):
    """Max |ΔK| between the methods and against the Cirq oracle; raises beyond tolerance."""
    n = len(x)
    pairs = [(0, 0)] + [tuple(int(k) for k in rng.integers(0, n, 2))
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
    worst = max(list(record["between_methods"].values()) + list(record["vs_cirq_oracle"].values()))
    if not worst < AGREEMENT_TOLERANCE:
        raise AssertionError(f"Gram matrices disagree by {worst:.2e}: {json.dumps(record)}")
    return record


def measure(timing, steps, first_seconds, min_repeats, configuration_seconds):
    """BlockTiming.measure, except that a step whose first call already took longer than five
    blocks is neither warmed up again nor calibrated: its first call was its warm-up and each
    of its blocks is one call (a pairwise Gram matrix takes seconds to a minute)."""
    n_steps, repeat_seconds = {}, 0.0
    for name, step in steps.items():
        if first_seconds[name] > 5 * timing.block_seconds:
            n_steps[name], block = 1, first_seconds[name]
        else:
            timing.time_block(step, timing.warmup_steps)
            n_steps[name], block = timing.steps_per_block(step)
        repeat_seconds += timing.settle_seconds + block
    repeats = max(min_repeats, int(configuration_seconds / repeat_seconds))
    samples = {name: [] for name in steps}
    for repeat in range(repeats):
        for name in rotated_order(steps, repeat):
            samples[name].append(timing.time_block(steps[name], n_steps[name]))
    return n_steps, samples


def run_row(timing, n_qubits, n_points, min_repeats, configuration_seconds):
    rng = np.random.default_rng(0)
    spec, weights = embedding(n_qubits, rng)
    x = rng.uniform(0.0, np.pi, (n_points, n_qubits)).astype(np.float32)
    start = time.perf_counter()
    kernels = {m: QuantumKernel(spec, method=m, initial_values=weights)
               for m in ("statevector", "pairwise")}
    baseline = TfqBaseline(spec, weights, n_points)
    setup_s = time.perf_counter() - start
    steps = {"statevector": lambda: kernels["statevector"].gram(x),
             "pairwise": lambda: kernels["pairwise"].gram(x),
             "tfq": lambda: baseline(x)}
    grams, first_s = {}, {}
    for name, step in steps.items():
        grams[name], first_s[name] = timed_first_call(step)
        print(f"    {n_qubits} qubits, {n_points} points: first {name} call "
              f"{first_s[name]:.2f} s", flush=True)
    agreement = check_agreement(grams, spec, weights, x, rng)
    n_steps, samples = measure(timing, steps, first_s, min_repeats, configuration_seconds)
    row = {
        "qubits": n_qubits, "points": n_points,
        "gates": len(list(spec.circuit.all_operations())), "weights": len(weights),
        "median_ms": {m: 1e3 * statistics.median(v) for m, v in samples.items()},
        "first_call_s": first_s, "setup_s": setup_s,
        "pairwise_over_statevector": paired_ratio(samples, "pairwise", "statevector"),
        "tfq_over_statevector": paired_ratio(samples, "tfq", "statevector"),
        "pairwise_over_tfq": paired_ratio(samples, "pairwise", "tfq"),
        "agreement": agreement, "tfq_baseline": baseline.record,
        "pairwise_circuits_per_call": PAIRWISE_CIRCUITS_PER_CALL,
        "steps_per_block": n_steps, "repeats": len(samples["statevector"]),
        "samples_ms": {m: [1e3 * s for s in v] for m, v in samples.items()},
    }
    print(f"    done: {row['repeats']} repeats, statevector "
          f"{row['median_ms']['statevector']:.1f} ms, ratio tfq/statevector "
          f"{format_large_ratio(row['tfq_over_statevector'])}", flush=True)
    return row


def format_large_ratio(ratio):
    """A ratio in the hundreds or thousands: no decimals (format_ratio prints quartiles with 2)."""
    return f"{ratio['median']:.0f} [{ratio['q1']:.0f}-{ratio['q3']:.0f}]"


def table(rows):
    lines = [f"{'qubits':>6} {'points':>6} | {'statevector ms':>14} {'pairwise ms':>11} "
             f"{'tfq ms':>9} | {'pairwise/sv':>19} {'tfq/sv':>19} {'pairwise/tfq':>16} | "
             f"{'first call s (sv, pw, tfq)':>26} | {'max |dK|':>8} {'rep':>3}"]
    for r in rows:
        ms, first = r["median_ms"], r["first_call_s"]
        worst = max(list(r["agreement"]["between_methods"].values())
                    + list(r["agreement"]["vs_cirq_oracle"].values()))
        lines.append(
            f"{r['qubits']:>6} {r['points']:>6} | {ms['statevector']:>14.1f} "
            f"{ms['pairwise']:>11.0f} {ms['tfq']:>9.0f} | "
            f"{format_large_ratio(r['pairwise_over_statevector']):>19} "
            f"{format_large_ratio(r['tfq_over_statevector']):>19} "
            f"{format_ratio(r['pairwise_over_tfq']):>16} | "
            f"{first['statevector']:>8.2f} {first['pairwise']:>8.2f} {first['tfq']:>8.2f} | "
            f"{worst:>8.1e} {r['repeats']:>3}")
    return "\n".join(lines)


def goal(rows):
    row = next((r for r in rows if (r["qubits"], r["points"]) == (GOAL_QUBITS, GOAL_POINTS)),
               rows[0])
    ratio = row["tfq_over_statevector"]["median"]
    return {"goal": f"tfq.math.fidelity / statevector >= {GOAL_RATIO} "
                    f"({GOAL_POINTS} points, {GOAL_QUBITS} qubits)",
            "measured_at": {"qubits": row["qubits"], "points": row["points"]},
            "ratio": ratio, "ratio_vs_our_pairwise": row["pairwise_over_statevector"]["median"],
            "met": ratio >= GOAL_RATIO,
            "met_vs_our_pairwise": row["pairwise_over_statevector"]["median"] >= GOAL_RATIO}


def main(args):
    waited = wait_for_idle(args.wait)
    busy_before = note_if_busy()
    timing = QUICK_TIMING if args.quick else TIMING
    start = time.perf_counter()
    rows = [run_row(timing, *config) for config in (QUICK_ROWS if args.quick else ROWS)]
    verdict = goal(rows)
    print()
    print(table(rows))
    print(f"\ngoal: {verdict['goal']}: {verdict['ratio']:.0f}x -> "
          f"{'met' if verdict['met'] else 'MISSED'}"
          + ("" if verdict["measured_at"]["points"] == GOAL_POINTS
             else f" (quick run at {verdict['measured_at']['points']} points: not the goal size)"))
    print(f"      against our pairwise fallback: {verdict['ratio_vs_our_pairwise']:.0f}x -> "
          f"{'met' if verdict['met_vs_our_pairwise'] else 'MISSED'}")
    print(f"total {time.perf_counter() - start:.0f} s")
    save_results(OUTPUT, {"rows": rows, "goal": verdict, "quick": args.quick,
                          "total_s": time.perf_counter() - start}, waited, busy_before)


if __name__ == "__main__":
    main(quick_and_wait_arguments(__doc__.splitlines()[0]).parse_args())
