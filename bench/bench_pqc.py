"""Forward + gradient throughput of tfq_meta's PQC layer against TensorFlow Quantum.

One *step* is what a training step costs in the circuit: a `tf.GradientTape` forward pass, a
scalar loss, and its gradient with respect to the circuit weights and the input features, all in
one `tf.function` (graph mode). Every implementation runs the same circuit
(`tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=3)`, observables Z on each qubit), the
same weights and the same batch of features; the script checks that their losses and gradients
agree before it times anything.

Implementations:
  tfq_meta        `tfq_meta.layers.PQC(..., engine="qsim")` on Keras 3 (symbol exponents lowered
                  to fresh symbols computed by a matmul, see tfq_meta/lowering.py; gradients
                  through the qsim engine's custom gradient).
  raw op          `tfq.get_expectation_op()` made differentiable by `tfq.differentiators.Adjoint`,
                  fed the original circuit with its own symbols: program and operator tensors
                  converted and tiled to the batch once, symbol values `[batch, n_symbols]` =
                  features next to the tiled weights, one op call per batch. What a layer
                  wrapping this op should cost.
  tfq.layers      TFQ's own Keras layers as a TFQ user runs them, in a subprocess with
                  TF_USE_LEGACY_KERAS=1 (tf_keras). A re-uploading circuit has data gates between
                  trainable blocks, so it cannot be a prepended encoding circuit for
                  `tfq.layers.PQC`; TFQ's re-uploading tutorial (quantum_reinforcement_learning)
                  uses `tfq.layers.ControlledPQC` fed `[empty input circuits, symbol values]`,
                  with the weights kept in its own layer. That is what runs here (default Adjoint
                  differentiator; the input circuits are converted once, outside the timed loop;
                  ControlledPQC itself appends them to its model circuit on every call).
  raw op (tf_keras process)
                  the raw op again inside that subprocess: it shows whether the two processes run
                  TFQ at the same speed, so the cross-process ratio can be trusted.

Both processes are driven from here and measured in turn (the idle one blocks on a pipe). Each
configuration is warmed up, then every implementation is timed in blocks of back-to-back steps
(bench/timing.py; the same number of steps for all, about 0.15 s of the raw op), one block each
per repeat, in an order balanced over every 4 repeats. Times are medians over
repeats; a ratio is the median over repeats of the two blocks' ratio in the same repeat, which
cancels most of the drift other work on a shared machine causes (the quartiles of that ratio are
printed next to it).

Run:  pip install -e ".[bench]" && python bench/bench_pqc.py     (about 2 minutes on 2 cores;
      --quick for a smoke run). Prints a table, writes bench/output/bench_pqc.json.

Goals: tfq_meta / raw op <= 1.15 (the layer adds at most 15 % to the op it wraps), and
       tfq_meta / tfq.layers <= 1.0 (not slower than TFQ's own layers). A goal is met when the
       geometric mean over all configurations is within it and no configuration is clearly
       above it (lower quartile of its paired ratios above the goal): on a shared 2-core VM a
       single configuration's median can move by +-10 % from run to run.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

# bench/ is on sys.path when run as a script (and in its worker process).
import machine_state  # noqa: E402
import timing  # noqa: E402

OUTPUT = Path(__file__).parent / "output" / "bench_pqc.json"
N_LAYERS = 3
QUBITS = (2, 4, 8)
BATCHES = (32, 128)
GOAL_VS_RAW = 1.15
GOAL_VS_TFQ_LAYERS = 1.0
# Blocks of about 0.15 s, so timer and Python loop overheads stay negligible; a pause before
# each so thread pools of the process measured last go idle first. (The repeats are fixed:
# --repeats.)
TIMING = timing.BlockTiming(block_seconds=0.15, settle_seconds=0.03)

META, RAW, TFQ_LAYERS, RAW_LEGACY = "tfq_meta", "raw op", "tfq.layers", "raw op (tf_keras proc)"
IMPLEMENTATIONS = (META, RAW, TFQ_LAYERS, RAW_LEGACY)
COLUMN_LABELS = {META: "tfq_meta", RAW: "raw op", TFQ_LAYERS: "tfq.layers", RAW_LEGACY: "raw op*"}
RATIO_COLUMNS = (("tfq_meta_vs_raw", "tfq_meta/raw"),
                 ("tfq_meta_vs_tfq_layers", "tfq_meta/layers"),
                 ("raw_legacy_vs_raw", "raw*/raw"))


# ----------------------------------------------------------------------------------------------
# Shared by both processes: the timed step and the raw-op baseline (TensorFlow + TFQ only).
# ----------------------------------------------------------------------------------------------

def gradient_step(forward, weights, cotangent):
    """A tf.function: loss = sum(forward(features) * cotangent), d loss / d (weights, features).

    The gradients are returned, not just computed, so graph pruning cannot drop them.
    """
    import tensorflow as tf

    @tf.function
    def step(features):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = tf.reduce_sum(forward(features) * cotangent)
        grad_weights, grad_features = tape.gradient(loss, [weights, features])
        return loss, grad_weights, grad_features

    return step


def raw_op_step(circuit, symbol_names, weights, batch, cotangent):
    """The raw TFQ op as a careful user calls it: everything constant is converted once."""
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    expectation = tfq.differentiators.Adjoint().generate_differentiable_op(
        analytic_op=tfq.get_expectation_op())
    observables = [cirq.Z(q) for q in sorted(circuit.all_qubits())]
    programs = tf.tile(tfq.convert_to_tensor([circuit]), [batch])
    operators = tf.tile(tfq.convert_to_tensor([observables]), [batch, 1])
    names = tf.constant(symbol_names)
    weights = tf.Variable(weights, dtype=tf.float32)

    def forward(features):
        tiled_weights = tf.tile(weights[tf.newaxis], [batch, 1])
        symbol_values = tf.concat([features, tiled_weights], axis=1)
        return expectation(programs, names, symbol_values, operators)

    return gradient_step(forward, weights, cotangent)


def first_results(step, features):
    """Traces and runs ``step`` once; returns its loss and gradients as lists for checking."""
    loss, grad_weights, grad_features = step(features)
    return {"loss": float(loss), "grad_weights": grad_weights.numpy().tolist(),
            "grad_features": grad_features.numpy().tolist()}


# ----------------------------------------------------------------------------------------------
# The tf_keras worker: TFQ's own layers, driven over a pipe by the main process.
# ----------------------------------------------------------------------------------------------

def tfq_layers_step(circuit, data_names, weight_names, weights, batch, cotangent):
    """tfq.layers.ControlledPQC as TFQ's re-uploading tutorial uses it, weights in its own layer."""
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    class ReUploadingPQC(tf.keras.layers.Layer):
        """Holds the weights; feeds [input circuits, features + weights] to ControlledPQC."""

        def __init__(self):
            super().__init__()
            observables = [cirq.Z(q) for q in sorted(circuit.all_qubits())]
            self.controlled_pqc = tfq.layers.ControlledPQC(circuit, observables)
            # ControlledPQC orders its symbols by name; gather our columns into that order.
            columns = list(data_names) + list(weight_names)
            self.indices = [columns.index(str(s)) for s in self.controlled_pqc.symbols]
            self.circuit_weights = self.add_weight(
                name="circuit_weights", shape=(len(weight_names),),
                initializer=tf.keras.initializers.Constant(weights))

        def call(self, inputs):
            input_circuits, features = inputs
            batch_size = tf.shape(features)[0]
            tiled_weights = tf.tile(self.circuit_weights[tf.newaxis], [batch_size, 1])
            symbol_values = tf.gather(tf.concat([features, tiled_weights], axis=1),
                                      self.indices, axis=1)
            return self.controlled_pqc([input_circuits, symbol_values])

    layer = ReUploadingPQC()
    input_circuits = tfq.convert_to_tensor([cirq.Circuit()] * batch)  # once, outside the loop
    return gradient_step(lambda features: layer([input_circuits, features]),
                         layer.circuit_weights, cotangent)


def worker_main():
    """Serves 'setup' / 'time' / 'quit' commands, one JSON object per line."""
    # Keep the protocol on a private copy of stdout; anything libraries print goes to stderr.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    steps, features = {}, None
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "hello":
                if not tf.keras.__name__.startswith("tf_keras"):
                    raise RuntimeError(f"tf.keras is {tf.keras.__name__}, not tf_keras: is "
                                       "TF_USE_LEGACY_KERAS=1 set and tf_keras installed?")
                import tf_keras
                reply = {"tf_keras": tf_keras.__version__, "tfq": tfq.__version__}
            elif command["cmd"] == "setup":
                config = command["config"]
                circuit = cirq.read_json(json_text=config["circuit"])
                features = tf.constant(config["features"], tf.float32)
                cotangent = tf.constant(config["cotangent"], tf.float32)
                names = config["data_names"] + config["weight_names"]
                steps = {
                    TFQ_LAYERS: tfq_layers_step(circuit, config["data_names"],
                                                config["weight_names"], config["weights"],
                                                config["batch"], cotangent),
                    RAW_LEGACY: raw_op_step(circuit, names, config["weights"], config["batch"],
                                            cotangent),
                }
                reply = {name: first_results(step, features) for name, step in steps.items()}
            elif command["cmd"] == "time":
                reply = {"seconds": TIMING.time_block(steps[command["impl"]], command["steps"],
                                                      args=(features,))}
            elif command["cmd"] == "quit":
                return
        except Exception:  # Report to the main process, which raises it.
            reply = {"error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


class Worker:
    """The tf_keras subprocess (TF_USE_LEGACY_KERAS=1) that runs TFQ's own layers."""

    def __init__(self):
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def ask(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the tf_keras worker exited; see its traceback above")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"tf_keras worker failed:\n{reply['error']}")
        return reply

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


# ----------------------------------------------------------------------------------------------
# The main process (Keras 3): builds each configuration, checks agreement, times in turn.
# ----------------------------------------------------------------------------------------------

def tfq_meta_step(spec, weights, cotangent):
    """tfq_meta's PQC layer (Keras 3) with the given weights, in the same timed step."""
    import tensorflow as tf

    import tfq_meta

    n_qubits = len(spec.qubits)
    # engine="qsim": this benchmark measures the layer's overhead over the TFQ op it wraps;
    # bench_engines.py compares the engines.
    layer = tfq_meta.PQC(spec, [f"Z{i}" for i in range(n_qubits)],
                         weight_symbols=spec.weight_symbols, engine="qsim")
    layer.build((None, len(spec.data_symbols)))
    layer.circuit_weights.assign(tf.constant(weights, tf.float32))
    return gradient_step(layer, layer.circuit_weights, cotangent)


def configuration(n_qubits, batch, seed=0):
    """Circuit, weights, features and loss cotangent shared by every implementation."""
    import cirq

    import tfq_meta

    spec = tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers=N_LAYERS)
    rng = np.random.default_rng(seed)
    return {
        "spec": spec,
        "qubits": n_qubits,
        "batch": batch,
        "gates": len(list(spec.circuit.all_operations())),
        "circuit": cirq.to_json(spec.circuit),
        "data_names": [str(s) for s in spec.data_symbols],
        "weight_names": [str(s) for s in spec.weight_symbols],
        "weights": rng.uniform(0, 2 * np.pi, len(spec.weight_symbols)).tolist(),
        "features": rng.uniform(-np.pi, np.pi, (batch, len(spec.data_symbols))).tolist(),
        "cotangent": rng.normal(size=(batch, n_qubits)).tolist(),
    }


class LocalRunner:
    def __init__(self, step, features):
        self.step, self.features = step, features

    def time(self, n_steps):
        return TIMING.time_block(self.step, n_steps, args=(self.features,))


class RemoteRunner:
    def __init__(self, worker, name):
        self.worker, self.name = worker, name

    def time(self, n_steps):
        return self.worker.ask(cmd="time", impl=self.name, steps=n_steps)["seconds"]


def build_runners(config, worker):
    """Every implementation of one configuration, traced, run once and checked to agree."""
    import tensorflow as tf

    features = tf.constant(config["features"], tf.float32)
    cotangent = tf.constant(config["cotangent"], tf.float32)
    local_steps = {
        META: tfq_meta_step(config["spec"], config["weights"], cotangent),
        RAW: raw_op_step(config["spec"].circuit, config["data_names"] + config["weight_names"],
                         config["weights"], config["batch"], cotangent),
    }
    results = {name: first_results(step, features) for name, step in local_steps.items()}
    wire_config = {k: v for k, v in config.items() if k != "spec"}
    results.update(worker.ask(cmd="setup", config=wire_config))
    check_agreement(results, config)
    runners = {name: LocalRunner(step, features) for name, step in local_steps.items()}
    runners.update({name: RemoteRunner(worker, name) for name in (TFQ_LAYERS, RAW_LEGACY)})
    return runners


def check_agreement(results, config, tolerance=1e-3):
    """Raises unless every implementation computed the same loss and gradients."""
    reference = results[RAW]
    for name, result in results.items():
        for key in ("loss", "grad_weights", "grad_features"):
            error = np.max(np.abs(np.subtract(result[key], reference[key])))
            scale = max(1.0, float(np.max(np.abs(reference[key]))))
            if error > tolerance * scale:
                raise AssertionError(
                    f"{name} disagrees with {RAW} on {key} by {error:.2e} "
                    f"({config['qubits']} qubits, batch {config['batch']}): not the same "
                    "computation, so timing it would mean nothing.")


def steps_per_block(runner):
    """How many steps make one timed block last about TIMING.block_seconds."""
    seconds = runner.time(2)
    return max(2, int(TIMING.block_seconds / seconds))


def block_order(repeat):
    """Order of the blocks in one repeat, balanced over every 4 repeats.

    The block that runs right after the other process ran can find colder caches and sleeping
    threads; alternating which process goes first, and the order inside each process, gives every
    implementation that position equally often, and keeps each compared pair adjacent.
    """
    local, remote = [META, RAW], [TFQ_LAYERS, RAW_LEGACY]
    if (repeat // 2) % 2:
        local, remote = local[::-1], remote[::-1]
    return local + remote if repeat % 2 == 0 else remote + local


def measure(runners, repeats):
    """Seconds per step of each runner, one block per repeat, after a warmup."""
    n_steps = steps_per_block(runners[RAW])
    for runner in runners.values():  # Warm up: first runs after tracing are slower.
        runner.time(max(2, n_steps // 4))
    samples = {name: [] for name in runners}
    for repeat in range(repeats):
        for name in block_order(repeat):
            samples[name].append(runners[name].time(n_steps))
    return n_steps, samples


def row_of(config, n_steps, samples):
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "qubits": config["qubits"],
        "batch": config["batch"],
        "gates": config["gates"],
        "weights": len(config["weight_names"]),
        "steps_per_block": n_steps,
        "median_ms": {name: 1e3 * value for name, value in medians.items()},
        "samples_ms": {name: [1e3 * v for v in values] for name, values in samples.items()},
        "examples_per_second": {name: config["batch"] / value for name, value in medians.items()},
        "tfq_meta_vs_raw": timing.paired_ratio(samples, META, RAW),
        "tfq_meta_vs_tfq_layers": timing.paired_ratio(samples, META, TFQ_LAYERS),
        "raw_legacy_vs_raw": timing.paired_ratio(samples, RAW_LEGACY, RAW),
    }


def print_table(rows):
    header = (f"{'qubits':>6} {'batch':>5} {'gates':>5} {'weights':>7} | "
              + " ".join(f"{COLUMN_LABELS[name]:>10}" for name in IMPLEMENTATIONS) + " | "
              + " ".join(f"{label:>19}" for _, label in RATIO_COLUMNS))
    print("\nms per step (forward + gradient w.r.t. weights and features; median), and ratios "
          "(median [quartiles] of paired repeats):")
    print(header)
    print("-" * len(header))
    for row in rows:
        times = " ".join(f"{row['median_ms'][name]:>10.2f}" for name in IMPLEMENTATIONS)
        ratios = " ".join(f"{timing.format_ratio(row[key], digits=3):>19}"
                          for key, _ in RATIO_COLUMNS)
        print(f"{row['qubits']:>6} {row['batch']:>5} {row['gates']:>5} {row['weights']:>7} | "
              f"{times} | {ratios}")
    print("tfq.layers = tfq.layers.ControlledPQC fed [empty input circuits, features + weights] "
          "(tf_keras; TFQ's re-uploading tutorial recipe).\n"
          "raw op* = the raw op again, in the tf_keras process: raw*/raw near 1 means both "
          "processes run TFQ equally fast, so tfq_meta/layers compares like with like.")


def verdict(rows, key, goal):
    """Goal check that one noisy row cannot flip.

    Met when the geometric mean of the rows' median ratios is within the goal and no row is
    clearly above it (its lower quartile above the goal). Rows whose median alone is above the
    goal are listed as within noise.
    """
    medians = [row[key]["median"] for row in rows]
    overall = math.exp(statistics.fmean(math.log(m) for m in medians))
    clearly_above = [row for row in rows if row[key]["q1"] > goal]
    noisy_above = [row for row in rows if row[key]["median"] > goal >= row[key]["q1"]]
    return {"overall": overall, "worst": max(medians), "goal": goal,
            "met": overall <= goal and not clearly_above,
            "clearly_above": [(row["qubits"], row["batch"]) for row in clearly_above],
            "above_within_noise": [(row["qubits"], row["batch"]) for row in noisy_above]}


def print_verdicts(verdicts):
    for key, label in RATIO_COLUMNS[:2]:
        v = verdicts[key]
        line = (f"{label}: {v['overall']:.3f}x over all rows (geometric mean), worst row "
                f"{v['worst']:.3f}x; goal <= {v['goal']:.2f}x: {'met' if v['met'] else 'MISSED'}")
        if v["clearly_above"]:
            line += f"; clearly above in (qubits, batch) {v['clearly_above']}"
        if v["above_within_noise"]:
            line += f"; above within noise in {v['above_within_noise']}"
        print(line)


def main(args):
    idle = machine_state.wait_for_idle(args.wait)
    busy_share = machine_state.note_if_busy()
    worker = Worker()  # Starts importing TensorFlow while this process does the same.
    try:
        import tfq_meta  # noqa: F401  (checks the Keras backend, loads TFQ's ops)

        versions = worker.ask(cmd="hello")
        rows = []
        for n_qubits in args.qubits:
            for batch in args.batches:
                config = configuration(n_qubits, batch)
                runners = build_runners(config, worker)
                n_steps, samples = measure(runners, args.repeats)
                rows.append(row_of(config, n_steps, samples))
                print(f"  {n_qubits} qubits, batch {batch}: "
                      + ", ".join(f"{COLUMN_LABELS[k]} {v:.2f} ms"
                                  for k, v in rows[-1]["median_ms"].items()), flush=True)
    finally:
        worker.close()
    verdicts = {"tfq_meta_vs_raw": verdict(rows, "tfq_meta_vs_raw", GOAL_VS_RAW),
                "tfq_meta_vs_tfq_layers": verdict(rows, "tfq_meta_vs_tfq_layers",
                                                  GOAL_VS_TFQ_LAYERS)}
    print_table(rows)
    print_verdicts(verdicts)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps({
        "measures": "forward + gradient (weights and features) of one batch, tf.function",
        "circuit": f"tfq_meta.circuits.reuploading_circuit(n_qubits, n_layers={N_LAYERS}), "
                   "observables Z on each qubit",
        "tfq_layers_method": "tfq.layers.ControlledPQC([empty input circuits, features+weights]),"
                             " tf_keras, default Adjoint differentiator",
        "verdicts": verdicts,
        "repeats": args.repeats,
        "busy_cpu_share_at_start": busy_share,
        "wait_for_idle": idle,
        "environment": machine_state.environment(worker=versions),
        "rows": rows,
    }, indent=2))
    print(f"wrote {OUTPUT}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed blocks per implementation (multiples of 4 balance the order)")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="minutes to wait at most for the CPUs to go idle (0: start at once)")
    parser.add_argument("--quick", action="store_true",
                        help="4 qubits, batch 32, 4 repeats, no waiting")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.qubits, args.batches, args.repeats, args.wait = [4], [32], 4, 0.0
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.worker:
        worker_main()
    else:
        main(arguments)
