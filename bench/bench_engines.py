"""Forward + gradient time of tfq_meta's two simulation engines against each other and PennyLane.

A *step*: ``reuploading_circuit(n_qubits, n_layers=3)``, Z on every qubit, on a batch of 160
examples; loss ``sum(expectations * fixed random cotangent)`` and its gradient with respect to
weights and features. Columns (ms per step, median over repeats):
  statevector  CircuitExpectation(engine="statevector") in tf.function(jit_compile=True)
  sv no XLA    the same in a plain tf.function (not in the goals)
  qsim         engine="qsim" (TFQ ops, adjoint gradient), plain tf.function (no XLA for TFQ ops)
  auto         engine="auto", XLA only when it picks statevector
  pennylane    default.qubit, torch, backprop, parameter broadcasting, the same gates
               (pennylane_torch.py), torch threads the faster of 1 and 2 (--torch-threads)
Ratios are medians [quartiles] of paired blocks (timing.py); "best" is the implementation of
ours with the lowest median. Before timing, all must agree with qsim on loss and gradients to
1e-4 (relative) and PennyLane's expectations with tfq_meta's to 1e-5.

Goals: pennylane/auto >= 2 at 4 and 8 qubits; auto/min(sv, qsim) <= 1.10 at every qubit count.
Also prints the statevector/qsim crossover against EXPECTATION_STATEVECTOR_MAX_QUBITS.

Run:  pip install -e ".[bench]" && python bench/bench_engines.py   (about 5 minutes on 2 idle
      cores; --quick: 2 and 4 qubits). Writes bench/output/bench_engines.json.
"""
import statistics
import time

import common  # first: sets up TensorFlow's environment
import numpy as np
import pennylane as qml
import tensorflow as tf
import torch

import pennylane_torch
import timing
from tfq_meta.ops import EXPECTATION_STATEVECTOR_MAX_QUBITS, CircuitExpectation

N_LAYERS, BATCH = 3, 160
QUBITS = (1, 2, 4, 6, 8, 10, 12)
# Blocks of about 0.15 s; a configuration's repeats stop near 25 s (never fewer than 4).
TIMING = timing.BlockTiming(block_seconds=0.15, settle_seconds=0.03, configuration_seconds=25.0,
                            min_repeats=4, warmup_steps=2)
VALUE_TOLERANCE_PENNYLANE, TOLERANCE = 1e-5, 1e-4
GOAL_PENNYLANE_QUBITS, GOAL_VS_PENNYLANE, GOAL_AUTO_OVERHEAD = (4, 8), 2.0, 1.10

SV, SV_GRAPH, QSIM, AUTO, PL = "statevector", "sv no XLA", "qsim", "auto", "pennylane"
IMPLEMENTATIONS = (SV, SV_GRAPH, QSIM, AUTO, PL)
OURS = (SV, SV_GRAPH, QSIM, AUTO)
# (key, label, numerator, candidates): the denominator is the candidate with the lowest median,
# paired repeat by repeat (a per-repeat minimum of several noisy blocks would be biased low).
RATIOS = (
    ("qsim_vs_statevector", "qsim/sv", QSIM, (SV,)),
    ("pennylane_vs_statevector", "pl/sv", PL, (SV,)),
    ("pennylane_vs_best", "pl/best", PL, OURS),
    ("pennylane_vs_auto", "pl/auto", PL, (AUTO,)),
    ("auto_vs_best_engine", "auto/min(sv,qsim)", AUTO, (SV, QSIM)),
)


def tfq_meta_step(config, engine):
    """A step on CircuitExpectation; returns (step, engine actually used)."""
    spec = config["spec"]
    expectation = CircuitExpectation(
        spec.circuit, spec.data_symbols + spec.weight_symbols,
        [f"Z{i}" for i in range(config["qubits"])],
        engine="statevector" if engine == SV_GRAPH else engine)
    weights, features = tf.Variable(config["weights"]), tf.constant(config["features"])

    def forward(features):  # as tfq_meta.layers.PQC.call: features next to the tiled weights
        tiled = tf.tile(weights[tf.newaxis], [tf.shape(features)[0], 1])
        return expectation(tf.concat([features, tiled], axis=1))

    used = expectation.compiled.engine
    step = common.gradient_step(forward, weights, tf.constant(config["cotangent"]),
                                jit_compile=engine != SV_GRAPH and used == "statevector")
    return (lambda: step(features)), used


def pennylane_step(config):
    """PennyLane on torch's default float32 inputs (default.qubit simulates in complex128)."""
    circuit = pennylane_torch.torch_qnode(config["spec"])
    features = torch.tensor(config["features"], requires_grad=True)
    weights = torch.tensor(config["weights"], requires_grad=True)
    cotangent = torch.tensor(config["cotangent"])

    def step():
        features.grad = weights.grad = None
        values = torch.stack(circuit(features, weights), dim=1)  # [batch, n_qubits]
        loss = torch.sum(values * cotangent)
        loss.backward()
        return loss.detach(), weights.grad, features.grad, values.detach()

    return step


def check_agreement(results, n_qubits):
    """Raises unless all computed the same; the largest errors against qsim (TFQ, an
    independent simulator) and PennyLane's against statevector's expectations."""
    errors = {}
    for name, result in results.items():
        errors[name] = {}
        for key, value, expected in zip(("loss", "grad_weights", "grad_features", "values"),
                                        result, results[QSIM]):
            errors[name][key] = error = float(np.max(np.abs(value - expected)))
            if error > TOLERANCE * max(1.0, float(np.max(np.abs(expected)))):
                raise AssertionError(f"{name} disagrees with {QSIM} on {key} by {error:.2e} "
                                     f"({n_qubits} qubits): timing it would mean nothing.")
    gap = float(np.max(np.abs(results[PL][3] - results[SV][3])))
    errors["pennylane_vs_statevector_values"] = gap
    if gap > VALUE_TOLERANCE_PENNYLANE:
        raise AssertionError(f"PennyLane's expectations differ from tfq_meta's by {gap:.2e} "
                             f"({n_qubits} qubits): the circuit translation is not faithful.")
    return errors


def paired_ratio(samples, numerator, candidates):
    """timing.paired_ratio against the fastest candidate (lowest median), named in the result."""
    denominator = min(candidates, key=lambda name: statistics.median(samples[name]))
    return {**timing.paired_ratio(samples, numerator, denominator), "denominator": denominator}


def run_configuration(n_qubits, args):
    config = common.circuit_configuration(n_qubits, BATCH, N_LAYERS)
    steps, engines = {}, {}
    for name in OURS:
        steps[name], engines[name] = tfq_meta_step(config, name)
    steps[PL] = pennylane_step(config)
    errors = check_agreement({name: [np.asarray(t, np.float64) for t in timing.sync(step())]
                              for name, step in steps.items()}, n_qubits)
    threads = pennylane_torch.choose_threads(steps[PL], TIMING, args.torch_threads)
    n_steps, samples = TIMING.measure(steps, args.repeats)
    row = {"qubits": n_qubits, "batch": BATCH, "gates": config["gates"],
           "weights": len(config["spec"].weight_symbols), "auto_engine": engines[AUTO],
           **common.timing_record(n_steps, samples),
           "ratios": {key: paired_ratio(samples, numerator, candidates)
                      for key, _, numerator, candidates in RATIOS},
           "max_errors_vs_qsim": errors, "torch_threads": threads}
    print(f"  {n_qubits:>2} qubits: " + ", ".join(f"{k} {v:.2f} ms" for k, v in
                                                  row["median_ms"].items())
          + f"  (auto -> {engines[AUTO]}; torch threads {threads['threads']})", flush=True)
    return row


def crossover(rows):
    """Largest measured qubit count where statevector beats qsim; auto agrees when, at every
    measured qubit count, it picked the engine that was faster there."""
    faster_sv = {row["qubits"]: row["median_ms"][SV] < row["median_ms"][QSIM] for row in rows}
    largest = max((n for n, sv in faster_sv.items() if sv), default=None)
    wrong = [n for n, sv in faster_sv.items() if sv != (n <= EXPECTATION_STATEVECTOR_MAX_QUBITS)]
    return {"largest_statevector_faster": largest,
            "next_measured": min((n for n in faster_sv if largest is not None and n > largest),
                                 default=None),
            "auto_statevector_max_qubits": EXPECTATION_STATEVECTOR_MAX_QUBITS,
            "auto_matches": not wrong, "auto_wrong_at": wrong}


def goals(rows):
    by_qubits = {row["qubits"]: row for row in rows}
    pennylane = {n: by_qubits[n]["ratios"]["pennylane_vs_auto"]["median"]
                 for n in GOAL_PENNYLANE_QUBITS if n in by_qubits}
    overhead = {row["qubits"]: row["ratios"]["auto_vs_best_engine"]["median"] for row in rows}
    missing = [n for n in GOAL_PENNYLANE_QUBITS if n not in by_qubits]
    met = all(r >= GOAL_VS_PENNYLANE for r in pennylane.values())
    return {
        "pennylane_over_auto": {"goal": f">= {GOAL_VS_PENNYLANE}", "by_qubits": pennylane,
                                "not_measured": missing, "met": None if missing and met else met},
        "auto_over_best_engine": {"goal": f"<= {GOAL_AUTO_OVERHEAD}", "by_qubits": overhead,
                                  "met": all(r <= GOAL_AUTO_OVERHEAD for r in overhead.values())},
    }


def report(rows, cross, verdicts):
    common.print_table(
        f"ms per batch of {BATCH} (forward + gradient w.r.t. weights and features; median), and "
        "ratios (median [quartiles] of paired repeats):",
        ["qubits", "gates", "auto picks", *IMPLEMENTATIONS, *(label for _, label, _, _ in RATIOS)],
        [[row["qubits"], row["gates"], row["auto_engine"],
          *(f"{row['median_ms'][name]:.2f}" for name in IMPLEMENTATIONS),
          *(timing.format_ratio(row["ratios"][key]) for key, _, _, _ in RATIOS)]
         for row in rows])
    following = cross["next_measured"]
    print(f"\ncrossover: statevector faster than qsim up to {cross['largest_statevector_faster']} "
          "qubits (" + (f"qsim faster from {following}" if following is not None
                        else "qsim never faster in the measured range")
          + f"); EXPECTATION_STATEVECTOR_MAX_QUBITS = {EXPECTATION_STATEVECTOR_MAX_QUBITS}: auto "
          + ("matches" if cross["auto_matches"]
             else f"DOES NOT match (picks the slower engine at {cross['auto_wrong_at']} qubits)"))
    pennylane, overhead = verdicts["pennylane_over_auto"], verdicts["auto_over_best_engine"]
    print(f"goal: pennylane/auto >= {GOAL_VS_PENNYLANE} at {list(GOAL_PENNYLANE_QUBITS)} qubits: "
          + ", ".join(f"{n}: {r:.2f}x" for n, r in pennylane["by_qubits"].items())
          + f" -> {common.verdict(pennylane['met'])}")
    worst = max(overhead["by_qubits"].items(), key=lambda item: item[1])
    print(f"goal: auto/min(statevector, qsim) <= {GOAL_AUTO_OVERHEAD} at every qubit count: "
          f"worst {worst[1]:.3f} at {worst[0]} qubits -> {common.verdict(overhead['met'])}")


def main(args):
    tf.get_logger().setLevel("ERROR")  # every configuration traces anew, on purpose
    run = common.start(args)
    run["machine"]["torch_before"] = pennylane_torch.stall_probe()
    start = time.perf_counter()
    rows = [run_configuration(n, args) for n in args.qubits]
    cross, verdicts = crossover(rows), goals(rows)
    report(rows, cross, verdicts)
    run["machine"]["torch_after"] = pennylane_torch.stall_probe("at the end")
    print(f"total {time.perf_counter() - start:.0f} s")
    common.write_json("bench_engines", __doc__, {**run, "crossover": cross, "goals": verdicts,
                                                 "rows": rows},
                      torch=torch.__version__, pennylane=qml.__version__)


if __name__ == "__main__":
    parser = common.parser(__doc__)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation (slow ones get fewer, >= 4)")
    pennylane_torch.add_threads_argument(parser)
    main(common.parse(parser, qubits=[2, 4], repeats=TIMING.min_repeats, wait=0.0))
