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
                  ``loss.backward()``; the same gates in the same order as the Cirq circuit;
                  ``torch.set_num_threads(2)`` (this machine's cores). Inputs are torch's
                  default float32; default.qubit simulates in complex128 whatever they are.

Method (as bench_pqc.py): each configuration is warmed up, then every implementation is timed in
blocks of back-to-back steps (about BLOCK_SECONDS each), one block per implementation per repeat,
in an order that rotates between repeats (up to 10 repeats; fewer, at least 4, where slow steps
would take a configuration past CONFIGURATION_SECONDS). Times are medians over repeats; a ratio
is the median (with quartiles) over repeats of the ratio of two blocks timed in the same repeat,
which cancels most of the drift a shared machine adds.

Run:  pip install -e ".[bench]" && python bench/bench_engines.py     (about 5 minutes on 2
      cores; --quick for a smoke run). Prints a table, the statevector/qsim crossover against
      ``tfq_meta.ops.AUTO_STATEVECTOR_MAX_QUBITS``, the goals, and writes
      bench/output/bench_engines.json.

Goals (issue 3):
  * tfq_meta (``engine="auto"``) at least 2x faster than PennyLane at 4 and 8 qubits
    (median paired ratio pennylane/auto >= 2).
  * ``auto`` never slower than the faster of our two engines by more than 10 % (median paired
    ratio auto/min(statevector, qsim) <= 1.10 at every qubit count).

Run it on an otherwise idle machine: torch's thread pool stalls when another process holds a
core (a 160-element ``torch.sin`` then takes milliseconds instead of microseconds), which makes
PennyLane look many times slower than it is. The script measures that stall before it starts,
warns, and records it in the JSON.
"""
import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import cirq  # noqa: E402
import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import sympy  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import tfq_meta  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from tfq_meta.ops import AUTO_STATEVECTOR_MAX_QUBITS, CircuitExpectation  # noqa: E402

from machine_state import busy_cpu_share  # bench/ is on sys.path when run as a script

OUTPUT = Path(__file__).parent / "output" / "bench_engines.json"
N_LAYERS = 3
BATCH = 160
QUBITS = (1, 2, 4, 6, 8, 10, 12)
TORCH_THREADS = 2
# Each timed block runs about this long, so timer and Python loop overheads stay negligible.
BLOCK_SECONDS = 0.15
# Pause before each block so the thread pools of the implementation timed before go idle:
# TensorFlow's and torch's pools share the same 2 cores.
SETTLE_SECONDS = 0.03
# Timed repeats of one configuration stop at about this many seconds (slow steps at many qubits
# get fewer repeats, never fewer than MIN_REPEATS), which keeps the whole run near 5 minutes.
CONFIGURATION_SECONDS = 25.0
MIN_REPEATS = 4
VALUE_TOLERANCE_PENNYLANE = 1e-5
TOLERANCE = 1e-4
GOAL_PENNYLANE_QUBITS = (4, 8)
GOAL_VS_PENNYLANE = 2.0
GOAL_AUTO_OVERHEAD = 1.10
# A 160-element torch.sin slower than this means torch's thread pool is stalling (busy cores).
STALL_MICROSECONDS = 200.0

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


PENNYLANE_GATES = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ, "CNOT": qml.CNOT}
CIRQ_ROTATIONS = {cirq.Rx: "RX", cirq.Ry: "RY", cirq.Rz: "RZ"}


def pennylane_program(spec):
    """The Cirq circuit as [(PennyLane gate name, wires, (source, column) or None)], in order.

    cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ) (likewise ry, rz); the angle of each rotation is one
    symbol, a feature column or a weight index.
    """
    wire = {q: i for i, q in enumerate(spec.qubits)}
    sources = {**{s: ("feature", i) for i, s in enumerate(spec.data_symbols)},
               **{s: ("weight", i) for i, s in enumerate(spec.weight_symbols)}}
    program = []
    for op in spec.circuit.all_operations():
        wires = [wire[q] for q in op.qubits]
        if op.gate == cirq.CNOT:
            program.append(("CNOT", wires, None))
        elif type(op.gate) in CIRQ_ROTATIONS:
            angle = sympy.simplify(op.gate.exponent * sympy.pi)  # Rx stores exponent θ/π.
            if angle not in sources:
                raise ValueError(f"{op!r}: angle {angle} is not a single feature or weight symbol.")
            program.append((CIRQ_ROTATIONS[type(op.gate)], wires, sources[angle]))
        else:
            raise ValueError(f"No PennyLane translation for {op!r} in this benchmark.")
    return program


def pennylane_step(config):
    """PennyLane default.qubit, torch, parameter broadcasting over the batch, backprop."""
    n_qubits, program = config["qubits"], pennylane_program(config["spec"])
    device = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(device, interface="torch", diff_method="backprop")
    def circuit(features, weights):
        for name, wires, source in program:
            if source is None:
                PENNYLANE_GATES[name](wires=wires)
            else:
                kind, column = source
                # A [batch] angle broadcasts the gate over the batch; a scalar weight does not.
                angle = features[:, column] if kind == "feature" else weights[column]
                PENNYLANE_GATES[name](angle, wires=wires[0])
        return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

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


def build_steps(config):
    """Every implementation of one configuration, traced and run once; and auto's engine."""
    steps, auto_engine = {}, None
    for name in OURS:
        steps[name], engine = tfq_meta_step(config, name)
        if name == AUTO:
            auto_engine = engine
    steps[PL] = pennylane_step(config)
    results = {name: as_numpy(step()) for name, step in steps.items()}
    errors = check_agreement(results, config)
    return steps, auto_engine, errors


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
# Timing.
# ----------------------------------------------------------------------------------------------

def time_block(step, n_steps):
    """Seconds per step, averaged over ``n_steps`` back-to-back calls."""
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    for _ in range(n_steps):
        loss = step()[0]
    loss.numpy()  # Makes sure the last step finished (CPU ops are synchronous anyway).
    return (time.perf_counter() - start) / n_steps


def block_order(repeat):
    """Implementations in the order of one repeat: rotated each repeat, reversed every other
    cycle, so each one follows each other one about equally often."""
    k = len(IMPLEMENTATIONS)
    order = IMPLEMENTATIONS[repeat % k:] + IMPLEMENTATIONS[:repeat % k]
    return order[::-1] if (repeat // k) % 2 else order


def measure(steps, max_repeats):
    """Seconds per step of each implementation, one block each per repeat, after a warmup."""
    n_steps, repeat_seconds = {}, 0.0
    for name, step in steps.items():
        time_block(step, 2)  # Warm up: the first runs after tracing or compiling are slower.
        n_steps[name] = max(1, round(BLOCK_SECONDS / time_block(step, 1)))
        repeat_seconds += SETTLE_SECONDS + n_steps[name] * time_block(step, n_steps[name])
    repeats = min(max_repeats, max(MIN_REPEATS, int(CONFIGURATION_SECONDS / repeat_seconds)))
    samples = {name: [] for name in steps}
    for repeat in range(repeats):
        for name in block_order(repeat):
            samples[name].append(time_block(steps[name], n_steps[name]))
    return n_steps, samples


def paired_ratio(samples, numerator, candidates):
    """Quartiles over repeats of numerator / the fastest candidate (lowest median), each ratio
    from two blocks of the same repeat."""
    denominator = min(candidates, key=lambda name: statistics.median(samples[name]))
    ratios = [a / b for a, b in zip(samples[numerator], samples[denominator])]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"median": median, "q1": q1, "q3": q3, "denominator": denominator}


def run_configuration(n_qubits, repeats):
    config = configuration(n_qubits)
    steps, auto_engine, errors = build_steps(config)
    n_steps, samples = measure(steps, repeats)
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
    }
    print(f"  {n_qubits:>2} qubits: " + ", ".join(f"{k} {v:.2f} ms" for k, v in medians.items())
          + f"  (auto -> {auto_engine})", flush=True)
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
    wrong = [n for n, sv in faster_sv.items() if sv != (n <= AUTO_STATEVECTOR_MAX_QUBITS)]
    above = [n for n in faster_sv if largest is not None and n > largest]
    return {"largest_statevector_faster": largest,
            "next_measured": min(above, default=None),
            "auto_statevector_max_qubits": AUTO_STATEVECTOR_MAX_QUBITS,
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


def format_ratio(ratio):
    return f"{ratio['median']:.2f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"


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
        ratios = " ".join(f"{format_ratio(row['ratios'][key]):>18}" for key, _, _, _ in RATIOS)
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
          f"AUTO_STATEVECTOR_MAX_QUBITS = {result['auto_statevector_max_qubits']}: auto "
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


# ----------------------------------------------------------------------------------------------
# Machine state: other work on the 2 cores distorts every time, torch's the most.
# ----------------------------------------------------------------------------------------------


def torch_stall_microseconds(calls=100):
    """Mean time of a 160-element torch.sin: microseconds when idle, milliseconds when torch's
    thread pool waits for a core another process holds (the stalls come and go, hence the mean)."""
    x = torch.rand(BATCH)
    for _ in range(10):  # The first calls start torch's thread pool: not a stall.
        torch.sin(x)
    start = time.perf_counter()
    for _ in range(calls):
        torch.sin(x)
    return 1e6 * (time.perf_counter() - start) / calls


def check_machine():
    share, stall = busy_cpu_share(), torch_stall_microseconds()
    if share is not None and share > 0.2:
        print(f"note: the CPUs were {100 * share:.0f}% busy before starting; other processes "
              "compete for them, so expect noisier times.", flush=True)
    if stall > STALL_MICROSECONDS:
        print(f"WARNING: a 160-element torch.sin takes {stall:.0f} us (idle: a few us): torch's "
              "thread pool is stalling on busy cores, so PennyLane's times are inflated. Rerun "
              "on an idle machine.", flush=True)
    return {"busy_cpu_share_at_start": share, "torch_sin_160_us": stall}


def environment():
    import keras
    import tensorflow_quantum as tfq

    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "tensorflow_quantum": tfq.__version__, "keras": keras.__version__,
            "torch": torch.__version__, "pennylane": qml.__version__,
            "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "machine": platform.machine()}


def main(args):
    torch.set_num_threads(TORCH_THREADS)
    # Every configuration traces new tf.functions on purpose; TF's retracing warning is noise.
    tf.get_logger().setLevel("ERROR")
    machine = check_machine()
    start = time.perf_counter()
    rows = [run_configuration(n, args.repeats) for n in args.qubits]
    print_table(rows)
    cross, verdicts = crossover(rows), goals(rows)
    print_crossover(cross)
    print_goals(verdicts)
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
                f"float32 inputs (complex128 state), torch.set_num_threads({TORCH_THREADS})",
        },
        "crossover": cross,
        "goals": verdicts,
        "machine": machine,
        "environment": environment(),
        "rows": rows,
    }, indent=2))
    print(f"wrote {OUTPUT}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation; slow configurations get "
                             f"fewer (down to {MIN_REPEATS}) to stay within "
                             f"{CONFIGURATION_SECONDS:.0f} s each")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: 2 and 4 qubits, {MIN_REPEATS} repeats")
    args = parser.parse_args()
    if args.quick:
        args.qubits, args.repeats = [2, 4], MIN_REPEATS
    return args


if __name__ == "__main__":
    main(parse_args())
