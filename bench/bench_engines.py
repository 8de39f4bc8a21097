"""Forward + gradient time of tfq_meta's two simulation engines against each other and PennyLane.

A step: ``reuploading_circuit(n_qubits, n_layers=3)``'s Z expectations on 160 examples and the
gradient of their sum against a fixed cotangent, by CircuitExpectation with engine statevector
(under XLA; "sv no XLA": without), qsim (TFQ ops, adjoint) and auto (under XLA, which it
runs on statevector up to 16 qubits), and by PennyLane (pennylane_torch.py); "best": ours with
the lowest median.

Run:  python bench/bench_engines.py [--quick]   (about 5 minutes on 2 idle cores). Writes
      bench/output/bench_engines.json. The crossover at 12-16 qubits, without PennyLane (its
      step takes minutes at 16 qubits): --qubits 12 13 14 15 16 --pennylane-max-qubits 0
"""
import common  # first: sets up TensorFlow's environment
import pennylane as qml
import tensorflow as tf
import torch

import pennylane_torch
import timing
from tfq_meta.ops import EXPECTATION_STATEVECTOR_MAX_QUBITS, XLA_STATEVECTOR_MAX_QUBITS

BATCH, QUBITS = 160, (1, 2, 4, 6, 8, 10, 12)
TIMING = timing.BlockTiming(block_seconds=0.15, settle_seconds=0.03, configuration_seconds=25.0,
                            min_repeats=4, warmup_steps=2)
PENNYLANE_VALUE_TOLERANCE, TOLERANCE = 1e-5, 1e-4
SV, SV_GRAPH, QSIM, AUTO, PL = "statevector", "sv no XLA", "qsim", "auto", "pennylane"
OURS = (SV, SV_GRAPH, QSIM, AUTO)
# {label: (numerator, denominator candidates)}: the candidate with the lowest median.
RATIOS = {"qsim/sv": (QSIM, SV), "pl/sv": (PL, SV), "pl/best": (PL, *OURS), "pl/auto": (PL, AUTO),
          "auto/min(sv,qsim)": (AUTO, SV, QSIM)}


def tfq_meta_step(config, engine):
    """A step on CircuitExpectation, and the engine it uses."""
    step, _, engine_in_use = common.expectation_step(
        config, "statevector" if engine == SV_GRAPH else engine, xla=engine != SV_GRAPH)
    return step, engine_in_use


def pennylane_step(config):
    """PennyLane on torch's default float32 inputs (default.qubit simulates in complex128)."""
    circuit = pennylane_torch.torch_qnode(config["spec"])
    features, weights = (torch.tensor(config[k], requires_grad=True) for k in ("features",
                                                                              "weights"))
    cotangent = torch.tensor(config["cotangent"])

    def step():
        features.grad = weights.grad = None
        values = torch.stack(circuit(features, weights), dim=1)  # [batch, n_qubits]
        loss = torch.sum(values * cotangent)
        loss.backward()
        return loss.detach(), weights.grad, features.grad, values.detach()

    return step


def run_configuration(n_qubits, args):
    config = common.circuit_configuration(n_qubits, BATCH)
    steps, engines = {}, {}
    for name in OURS:
        steps[name], engines[name] = tfq_meta_step(config, name)
    if n_qubits <= args.pennylane_max_qubits:
        steps[PL] = pennylane_step(config)
    # Against qsim: TFQ, a simulator independent of ours and of PennyLane.
    results = {name: timing.sync(step()) for name, step in steps.items()}
    errors = {name: {key: common.agree(f"{name} vs {QSIM} ({n_qubits} qubits) on {key}",
                                       value, expected, TOLERANCE)
                     for key, value, expected in zip(
                         ("loss", "grad_weights", "grad_features", "values"),
                         results[name], results[QSIM])} for name in steps}
    threads = None
    if PL in steps:
        errors["pennylane_vs_statevector_values"] = common.agree(
            f"PennyLane's vs tfq_meta's expectations ({n_qubits} qubits)", results[PL][3],
            results[SV][3], PENNYLANE_VALUE_TOLERANCE)
        threads = pennylane_torch.choose_threads(steps[PL], TIMING, args.torch_threads)
    label = f"{n_qubits:>2} qubits (auto -> {engines[AUTO]}" + (
        f", torch threads {threads['threads']})" if threads else ", no PennyLane)")
    return {"qubits": n_qubits, "batch": BATCH, "gates": config["gates"],
            "weights": len(config["spec"].weight_symbols), "auto_engine": engines[AUTO],
            **TIMING.measure(steps, args.repeats, ratios=RATIOS, label=label),
            "relative_errors_vs_qsim": errors, "torch_threads": threads}


def crossover(rows):
    """Where statevector stops beating qsim, with and without XLA, and whether auto's limits
    (statevector up to one of them, qsim above) pick the faster engine."""
    result = {}
    for name, statevector, limit in (("xla", SV, XLA_STATEVECTOR_MAX_QUBITS),
                                     ("no_xla", SV_GRAPH, EXPECTATION_STATEVECTOR_MAX_QUBITS)):
        faster = {row["qubits"]: row["median_ms"][statevector] < row["median_ms"][QSIM]
                  for row in rows}
        largest = max((n for n, sv in faster.items() if sv), default=None)
        wrong = [n for n, sv in faster.items() if sv != (n <= limit)]
        print(f"\ncrossover, {statevector}: faster than qsim up to {largest} qubits; auto picks "
              f"statevector up to {limit}: "
              + (f"DOES NOT match (the slower engine at {wrong} qubits)" if wrong else "matches"))
        result[name] = {"largest_statevector_faster": largest, "auto_statevector_max_qubits":
                        limit, "auto_matches": not wrong, "auto_wrong_at": wrong}
    return result


def main(args):
    tf.get_logger().setLevel("ERROR")  # every configuration traces anew, on purpose
    run = common.start(args)
    run["machine"]["torch_before"] = pennylane_torch.stall_probe()
    rows = [run_configuration(n, args) for n in args.qubits]
    common.print_timings(f"batch of {BATCH}, forward + gradient w.r.t. weights and features",
                         rows, ("qubits", "gates", "auto_engine"))
    cross = crossover(rows)

    def ratios(key, qubits):
        return {f"{r['qubits']} qubits": r["ratios"][key]["median"] for r in rows
                if r["qubits"] in qubits and key in r["ratios"]}

    goals = {"pennylane_over_auto": common.goal("pennylane/auto", 2.0, ratios(
                 "pl/auto", (4, 8)), required=["4 qubits", "8 qubits"]),
             "auto_over_best_engine": common.goal("auto/min(statevector, qsim)", 1.10, ratios(
                 "auto/min(sv,qsim)", args.qubits), at_least=False)}
    run["machine"]["torch_after"] = pennylane_torch.stall_probe("at the end")
    common.write_json("bench_engines", __doc__, {**run, "crossover": cross, "goals": goals,
                                                 "rows": rows},
                      torch=torch.__version__, pennylane=qml.__version__)


if __name__ == "__main__":
    parser = common.parser(__doc__)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation (slow ones get fewer, >= 4)")
    parser.add_argument("--pennylane-max-qubits", type=int, default=max(QUBITS),
                        help="PennyLane only up to this size (15.7 s a step at 13 qubits)")
    pennylane_torch.add_threads_argument(parser)
    common.run(parser, main, qubits=[2, 4], repeats=TIMING.min_repeats)
