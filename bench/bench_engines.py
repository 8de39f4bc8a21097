"""Forward + gradient time of tfq_meta's two simulation engines against each other and PennyLane.

One *step* is what a training step costs in the circuit: a forward pass over a batch of 160
examples, the loss ``sum(expectations * cotangent)`` with a fixed random cotangent, and its
gradient with respect to the circuit weights and the input features. Every implementation runs
the same circuit, ``tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=3)`` (ry/rz blocks
with a CNOT chain, one rx-encoded feature per qubit, re-uploaded 3 times), observables Z on every
qubit, the same weights and the same features, for 1, 2, 4, 6, 8, 10 and 12 qubits. Before
timing anything the script checks that all of them compute the same expectations (PennyLane
against tfq_meta to 1e-5) and the same loss and gradients (to 1e-4, relative to their size).

Implementations:
  statevector     ``tfq_meta.ops.CircuitExpectation(..., engine="statevector")`` (TensorFlow
                  ops) in ``tf.function(jit_compile=True)`` (XLA). Symbol values
                  ``[batch, n_data + n_weights]`` are the features next to the tiled weights,
                  exactly as ``tfq_meta.layers.PQC`` builds them.
  sv no XLA       the same in a plain ``tf.function`` (extra column; not in the goals).
  qsim            ``engine="qsim"`` (TFQ ops, adjoint gradient) in a plain ``tf.function``: TFQ
                  ops cannot be XLA-compiled.
  auto            ``engine="auto"``, compiled with XLA only when it picks statevector (what
                  ``PQC.supports_jit`` lets Keras do).
  pennylane       PennyLane ``default.qubit`` as its expert users write it: torch interface,
                  ``diff_method="backprop"``, parameter broadcasting over the batch (features a
                  ``[batch, n]`` torch tensor fed to ``qml.RX`` angles), weights a torch tensor
                  with ``requires_grad``, ``qml.expval(qml.PauliZ(i))`` on every qubit and
                  ``loss.backward()``; the same gates in the same order as the Cirq circuit
                  (bench/pennylane_circuits.py). Inputs are torch's default float32;
                  default.qubit simulates in complex128 whatever they are. Torch threads:
                  whichever of 1 and 2 (this machine's cores) runs a step faster, tried per
                  configuration before timing (``--torch-threads`` fixes it; see
                  bench/torch_threads.py).

Method (bench/timing.py, as bench_meta.py): each configuration is warmed up, then every
implementation is timed in blocks of back-to-back steps (about 0.15 s each), one block per
implementation per repeat, in an order that rotates between repeats (up to 10 repeats; fewer, at
least 4, where slow steps would take a configuration past 25 s). Times are medians over repeats;
a ratio is the median (with quartiles) over repeats of the ratio of two blocks timed in the same
repeat, which cancels most of the drift a shared machine adds.

Run:  pip install -e ".[bench]" && python bench/bench_engines.py     (about 5 minutes on 2
      cores; --quick for a smoke run). Prints a table, the statevector/qsim crossover against
      ``tfq_meta.ops.EXPECTATION_STATEVECTOR_MAX_QUBITS``, the goals, and writes
      bench/output/bench_engines.json.

Goals (issue 3):
  * tfq_meta (``engine="auto"``) at least 2x faster than PennyLane at 4 and 8 qubits
    (median paired ratio pennylane/auto >= 2).
  * ``auto`` never slower than the faster of our two engines by more than 10 % (median paired
    ratio auto/min(statevector, qsim) <= 1.10 at every qubit count).

Run it on an otherwise idle machine: torch's thread pool stalls when another process holds a
core (a 40,960-element ``torch.sin`` on 2 threads then takes many times longer than on 1), which
makes PennyLane look many times slower than it is. The script can wait for the CPUs to go idle
(``--wait`` minutes), probes torch for stalls before it starts and at the end, warns, and records
both in the JSON.
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import tfq_meta  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from tfq_meta.ops import (EXPECTATION_STATEVECTOR_MAX_QUBITS,  # noqa: E402
                          CircuitExpectation)

# bench/ is on sys.path when run as a script.
import machine_state  # noqa: E402
import timing  # noqa: E402
import torch_threads  # noqa: E402
from pennylane_circuits import torch_qnode  # noqa: E402

OUTPUT = Path(__file__).parent / "output" / "bench_engines.json"
N_LAYERS = 3
BATCH = 160
QUBITS = (1, 2, 4, 6, 8, 10, 12)
# Blocks of about 0.15 s, so timer and Python loop overheads stay negligible; the timed repeats
# of one configuration stop at about 25 s (slow steps at many qubits get fewer repeats, never
# fewer than 4), which keeps the whole run near 5 minutes.
TIMING = timing.BlockTiming(block_seconds=0.15, settle_seconds=0.03, configuration_seconds=25.0,
                            min_repeats=4, warmup_steps=2)
VALUE_TOLERANCE_PENNYLANE = 1e-5
TOLERANCE = 1e-4
GOAL_PENNYLANE_QUBITS = (4, 8)
GOAL_VS_PENNYLANE = 2.0
GOAL_AUTO_OVERHEAD = 1.10

SV, SV_GRAPH, QSIM, AUTO, PL = "statevector", "sv no XLA", "qsim", "auto", "pennylane"
IMPLEMENTATIONS = (SV, SV_GRAPH, QSIM, AUTO, PL)
OURS = (SV, SV_GRAPH, QSIM, AUTO)
# (key, label, numerator, candidates): the denominator is the candidate with the lowest median,
# paired repeat by repeat. (A per-repeat minimum of several noisy blocks would be biased low.)
RATIOS = (
    ("qsim_vs_statevector", "qsim/sv", QSIM, (SV,)),
    ("pennylane_vs_statevector", "pl/sv", PL, (SV,)),
    ("pennylane_vs_best", "pl/best", PL, OURS),
    ("pennylane_vs_auto", "pl/auto", PL, (AUTO,)),
    ("auto_vs_best_engine", "auto/min(sv,qsim)", AUTO, (SV, QSIM)),
)


# ----------------------------------------------------------------------------------------------
# The shared configuration and the two families of implementations.
# ----------------------------------------------------------------------------------------------

def configuration(n_qubits, batch=BATCH, seed=0):
    """Circuit, weights, features and loss cotangent shared by every implementation."""
    spec = tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=N_LAYERS)
    rng = np.random.default_rng(seed)
    return {
        "spec": spec,
        "qubits": n_qubits,
        "batch": batch,
        "gates": len(list(spec.circuit.all_operations())),
        "weights": rng.uniform(0, 2 * np.pi, len(spec.weight_symbols)).astype(np.float32),
        "features": rng.uniform(-np.pi, np.pi, (batch, len(spec.data_symbols))).astype(np.float32),
        "cotangent": rng.normal(size=(batch, n_qubits)).astype(np.float32),
    }


def tfq_meta_step(config, engine):
    """A tf.function step on CircuitExpectation; returns (step, engine actually used)."""
    spec = config["spec"]
    expectation = CircuitExpectation(
        spec.circuit, spec.data_symbols + spec.weight_symbols,
        [f"Z{i}" for i in range(config["qubits"])],
        engine="statevector" if engine == SV_GRAPH else engine)
    # TFQ ops cannot be XLA-compiled (DESIGN fact 6); the statevector engine can.
    jit_compile = engine != SV_GRAPH and expectation.engine == "statevector"
    weights = tf.Variable(config["weights"])
    cotangent = tf.constant(config["cotangent"])

    @tf.function(jit_compile=jit_compile)
    def step(features):
        with tf.GradientTape() as tape:
            tape.watch(features)
            # As tfq_meta.layers.PQC.call: features next to the weights tiled over the batch.
            tiled = tf.tile(weights[tf.newaxis], [tf.shape(features)[0], 1])
            values = expectation(tf.concat([features, tiled], axis=1))
            loss = tf.reduce_sum(values * cotangent)
        # Returned, not just computed, so graph pruning cannot drop the gradient.
        grad_weights, grad_features = tape.gradient(loss, [weights, features])
        return loss, grad_weights, grad_features, values

    features = tf.constant(config["features"])
    return (lambda: step(features)), expectation.engine


def pennylane_step(config):
    """PennyLane default.qubit, torch, parameter broadcasting over the batch, backprop."""
    circuit = torch_qnode(config["spec"])
    # Torch's default float32, as PennyLane's torch tutorials create their tensors.
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


def build_steps(config, torch_thread_count=None):
    """Every implementation of one configuration, traced and run once; auto's engine, the errors
    against qsim and torch's thread count (chosen now, on the step it will time)."""
    steps, auto_engine = {}, None
    for name in OURS:
        steps[name], engine = tfq_meta_step(config, name)
        if name == AUTO:
            auto_engine = engine
    steps[PL] = pennylane_step(config)
    results = {name: as_numpy(step()) for name, step in steps.items()}
    errors = check_agreement(results, config)
    threads = torch_threads.choose_threads(steps[PL], TIMING, torch_thread_count)
    return steps, auto_engine, errors, threads


def as_numpy(result):
    return [np.asarray(t.numpy(), np.float64) for t in result]


def check_agreement(results, config):
    """Raises unless every implementation computed the same values, loss and gradients.

    Returns the largest error of each implementation against qsim (TFQ, an independent
    simulator), for the record.
    """
    reference = results[QSIM]
    errors = {}
    for name, result in results.items():
        errors[name] = {}
        for key, value, expected in zip(("loss", "grad_weights", "grad_features", "values"),
                                        result, reference):
            error = float(np.max(np.abs(value - expected)))
            scale = max(1.0, float(np.max(np.abs(expected))))
            errors[name][key] = error
            if error > TOLERANCE * scale:
                raise AssertionError(
                    f"{name} disagrees with {QSIM} on {key} by {error:.2e} ({config['qubits']} "
                    "qubits): not the same computation, so timing it would mean nothing.")
    pennylane_gap = float(np.max(np.abs(results[PL][3] - results[SV][3])))
    errors["pennylane_vs_statevector_values"] = pennylane_gap
    if pennylane_gap > VALUE_TOLERANCE_PENNYLANE:
        raise AssertionError(
            f"PennyLane's expectations differ from tfq_meta's by {pennylane_gap:.2e} "
            f"({config['qubits']} qubits): the circuit translation is not faithful.")
    return errors


# ----------------------------------------------------------------------------------------------
# Timing (bench/timing.py).
# ----------------------------------------------------------------------------------------------

def paired_ratio(samples, numerator, candidates):
    """timing.paired_ratio against the fastest candidate (lowest median), named in the result."""
    denominator = min(candidates, key=lambda name: statistics.median(samples[name]))
    return {**timing.paired_ratio(samples, numerator, denominator), "denominator": denominator}


def run_configuration(n_qubits, args):
    config = configuration(n_qubits)
    steps, auto_engine, errors, threads = build_steps(config, args.torch_threads)
    n_steps, samples = TIMING.measure(steps, args.repeats)
    medians = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    row = {
        "qubits": n_qubits,
        "batch": config["batch"],
        "gates": config["gates"],
        "weights": len(config["spec"].weight_symbols),
        "auto_engine": auto_engine,
        "steps_per_block": n_steps,
        "repeats": len(samples[SV]),
        "median_ms": medians,
        "samples_ms": {name: [1e3 * v for v in values] for name, values in samples.items()},
        "ratios": {key: paired_ratio(samples, numerator, candidates)
                   for key, _, numerator, candidates in RATIOS},
        "max_errors_vs_qsim": errors,
        "torch_threads": threads,
    }
    print(f"  {n_qubits:>2} qubits: " + ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items())
          + f"  (auto -> {auto_engine}; torch threads {threads['threads']})", flush=True)
    return row


# ----------------------------------------------------------------------------------------------
# Crossover, goals and report.
# ----------------------------------------------------------------------------------------------

def crossover(rows):
    """Largest measured qubit count where statevector beats qsim, and whether auto agrees.

    Auto agrees when, at every measured qubit count, it picked the engine that was faster there.
    """
    faster_sv = {row["qubits"]: row["median_ms"][SV] < row["median_ms"][QSIM] for row in rows}
    largest = max((n for n, sv in faster_sv.items() if sv), default=None)
    wrong = [n for n, sv in faster_sv.items()
             if sv != (n <= EXPECTATION_STATEVECTOR_MAX_QUBITS)]
    above = [n for n in faster_sv if largest is not None and n > largest]
    return {"largest_statevector_faster": largest,
            "next_measured": min(above, default=None),
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
        # met is None (undecided) when a goal qubit count was not measured (--quick, --qubits).
        "pennylane_over_auto": {"goal": f">= {GOAL_VS_PENNYLANE}", "by_qubits": pennylane,
                                "not_measured": missing,
                                "met": None if missing and met else met},
        "auto_over_best_engine": {"goal": f"<= {GOAL_AUTO_OVERHEAD}", "by_qubits": overhead,
                                  "met": all(r <= GOAL_AUTO_OVERHEAD for r in overhead.values())},
    }


def print_table(rows):
    header = (f"{'qubits':>6} {'gates':>5} {'auto':>11} | "
              + " ".join(f"{name:>11}" for name in IMPLEMENTATIONS) + " | "
              + " ".join(f"{label:>18}" for _, label, _, _ in RATIOS))
    print(f"\nms per batch of {BATCH} (forward + gradient w.r.t. weights and features; median), "
          "and ratios (median [quartiles] of paired repeats):")
    print(header)
    print("-" * len(header))
    for row in rows:
        times = " ".join(f"{row['median_ms'][name]:>11.2f}" for name in IMPLEMENTATIONS)
        ratios = " ".join(f"{timing.format_ratio(row['ratios'][key]):>18}"
                          for key, _, _, _ in RATIOS)
        print(f"{row['qubits']:>6} {row['gates']:>5} {row['auto_engine']:>11} | {times} | "
              f"{ratios}")
    print("sv = statevector with XLA; best = the fastest (lowest median) of statevector, sv no "
          "XLA, qsim and auto; min(sv,qsim) = the faster of the two by median. Each ratio pairs "
          "blocks of the same repeat.")


def print_crossover(result):
    largest, following = result["largest_statevector_faster"], result["next_measured"]
    span = (f"qsim faster from {following}" if following is not None
            else "qsim never faster in the measured range")
    print(f"\ncrossover: statevector faster than qsim up to {largest} qubits ({span}); "
          f"EXPECTATION_STATEVECTOR_MAX_QUBITS = {result['auto_statevector_max_qubits']}: auto "
          + ("matches (it picks the faster engine at every measured qubit count)"
             if result["auto_matches"] else
             f"DOES NOT match (picks the slower engine at {result['auto_wrong_at']} qubits)"))


def print_goals(result):
    pennylane, overhead = result["pennylane_over_auto"], result["auto_over_best_engine"]
    verdict = {True: "met", False: "MISSED",
               None: f"UNDECIDED (not measured at {pennylane['not_measured']} qubits)"}
    print("goal: pennylane/auto >= {:.1f} at {} qubits: {} -> {}".format(
        GOAL_VS_PENNYLANE, list(GOAL_PENNYLANE_QUBITS),
        ", ".join(f"{n}: {r:.2f}x" for n, r in pennylane["by_qubits"].items()),
        verdict[pennylane["met"]]))
    worst = max(overhead["by_qubits"].items(), key=lambda item: item[1])
    print("goal: auto/min(statevector, qsim) <= {:.2f} at every qubit count: worst {:.3f} at {} "
          "qubits -> {}".format(GOAL_AUTO_OVERHEAD, worst[1], worst[0],
                                "met" if overhead["met"] else "MISSED"))


def main(args):
    # Every configuration traces new tf.functions on purpose; TF's retracing warning is noise.
    tf.get_logger().setLevel("ERROR")
    idle = machine_state.wait_for_idle(args.wait)
    machine = {**torch_threads.check_machine(), "wait_for_idle": idle}
    start = time.perf_counter()
    rows = [run_configuration(n, args) for n in args.qubits]
    print_table(rows)
    cross, verdicts = crossover(rows), goals(rows)
    print_crossover(cross)
    print_goals(verdicts)
    machine["at_end"] = torch_threads.check_machine("at the end")
    print(f"total {time.perf_counter() - start:.0f} s")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps({
        "measures": f"forward + gradient (weights and features) of one batch of {BATCH}",
        "circuit": f"tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers={N_LAYERS}), "
                   "observables Z on each qubit",
        "loss": "sum(expectations * fixed random cotangent)",
        "implementations": {
            SV: "CircuitExpectation(engine='statevector'), tf.function(jit_compile=True)",
            SV_GRAPH: "CircuitExpectation(engine='statevector'), tf.function",
            QSIM: "CircuitExpectation(engine='qsim'), tf.function (adjoint)",
            AUTO: "CircuitExpectation(engine='auto'), XLA when it picks statevector",
            PL: "PennyLane default.qubit, torch interface, backprop, parameter broadcasting, "
                "float32 inputs (complex128 state), torch threads: the faster of 1 and 2 (rows)",
        },
        "crossover": cross,
        "goals": verdicts,
        "machine": machine,
        "environment": machine_state.environment(torch=torch.__version__,
                                                 pennylane=qml.__version__),
        "rows": rows,
    }, indent=2))
    print(f"wrote {OUTPUT}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation; slow configurations get "
                             f"fewer (down to {TIMING.min_repeats}) to stay within "
                             f"{TIMING.configuration_seconds:.0f} s each")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="minutes to wait at most for the CPUs to go idle (0: start at once)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads for PennyLane (default: the faster of 1 and 2)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 2 and 4 qubits, {TIMING.min_repeats} repeats, no waiting")
    args = parser.parse_args()
    if args.quick:
        args.qubits, args.repeats, args.wait = [2, 4], TIMING.min_repeats, 0.0
    return args


if __name__ == "__main__":
    main(parse_args())
