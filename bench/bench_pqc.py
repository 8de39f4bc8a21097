"""Forward + gradient throughput of tfq_meta's PQC layer against TensorFlow Quantum.

A *step*: ``reuploading_circuit(n_qubits, n_layers=3)``, Z on each qubit, a batch of features;
in one tf.function, the loss ``sum(expectations * fixed cotangent)`` and its gradient with
respect to the circuit weights and the features. Columns (ms per step, median over repeats):
  tfq_meta    ``tfq_meta.PQC(..., engine="qsim")`` on Keras 3
  raw op      ``tfq.get_expectation_op()`` with ``tfq.differentiators.Adjoint``, constants
              converted and tiled once: what a layer wrapping the op should cost
  tfq.layers  TFQ's own ``tfq.layers.ControlledPQC`` fed [empty input circuits, features +
              weights] (its re-uploading tutorial's recipe), in a tf_keras worker process
  raw op*     the raw op again in that worker: raw*/raw near 1 means both processes run TFQ
              equally fast, so tfq_meta/layers compares like with like
All must agree with the raw op on loss and gradients (1e-3, relative) before timing. All run the
same number of steps per block; the block order alternates the two processes, balanced over
every 4 repeats. Ratios: median [quartiles] of paired blocks (timing.py).

Goals: tfq_meta/raw <= 1.15 and tfq_meta/layers <= 1.0, met when the geometric mean over all rows
is within the goal and no row's lower quartile is above it (one row's median moves +-10 %
between runs on a shared 2-core machine).

Run:  pip install -e ".[bench]" && python bench/bench_pqc.py   (about 2 minutes on 2 cores;
      --quick: 4 qubits, batch 32). Writes bench/output/bench_pqc.json.
"""
import math
import statistics

import common  # first: sets up TensorFlow's environment
import numpy as np

import timing

QUBITS, BATCHES = (2, 4, 8), (32, 128)
GOAL_VS_RAW, GOAL_VS_TFQ_LAYERS = 1.15, 1.0
TIMING = timing.BlockTiming(block_seconds=0.15, settle_seconds=0.03)  # repeats: --repeats
TOLERANCE = 1e-3
META, RAW, TFQ_LAYERS, RAW_LEGACY = "tfq_meta", "raw op", "tfq.layers", "raw op (tf_keras proc)"
LABELS = {META: "tfq_meta", RAW: "raw op", TFQ_LAYERS: "tfq.layers", RAW_LEGACY: "raw op*"}
RATIOS = (("tfq_meta_vs_raw", "tfq_meta/raw", META, RAW),  # (key, label, numerator, denominator)
          ("tfq_meta_vs_tfq_layers", "tfq_meta/layers", META, TFQ_LAYERS),
          ("raw_legacy_vs_raw", "raw*/raw", RAW_LEGACY, RAW))


def raw_op_step(circuit, symbol_names, weights, batch, cotangent):
    """The raw TFQ op as a careful user calls it: everything constant is converted once."""
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    expectation = tfq.differentiators.Adjoint().generate_differentiable_op(
        analytic_op=tfq.get_expectation_op())
    programs = tf.tile(tfq.convert_to_tensor([circuit]), [batch])
    operators = tf.tile(tfq.convert_to_tensor([[cirq.Z(q) for q in sorted(circuit.all_qubits())]]),
                        [batch, 1])
    names, weights = tf.constant(symbol_names), tf.Variable(weights, dtype=tf.float32)

    def forward(features):
        values = tf.concat([features, tf.tile(weights[tf.newaxis], [batch, 1])], axis=1)
        return expectation(programs, names, values, operators)

    return common.gradient_step(forward, weights, cotangent)


def tfq_layers_step(circuit, data_names, weight_names, weights, batch, cotangent):
    """tfq.layers.ControlledPQC as TFQ's re-uploading tutorial uses it, weights in its own layer."""
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    class ReUploadingPQC(tf.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.controlled_pqc = tfq.layers.ControlledPQC(
                circuit, [cirq.Z(q) for q in sorted(circuit.all_qubits())])
            # ControlledPQC orders its symbols by name; gather our columns into that order.
            columns = list(data_names) + list(weight_names)
            self.indices = [columns.index(str(s)) for s in self.controlled_pqc.symbols]
            self.circuit_weights = self.add_weight(
                name="circuit_weights", shape=(len(weight_names),),
                initializer=tf.keras.initializers.Constant(weights))

        def call(self, inputs):
            input_circuits, features = inputs
            tiled = tf.tile(self.circuit_weights[tf.newaxis], [tf.shape(features)[0], 1])
            values = tf.gather(tf.concat([features, tiled], axis=1), self.indices, axis=1)
            return self.controlled_pqc([input_circuits, values])

    layer = ReUploadingPQC()
    input_circuits = tfq.convert_to_tensor([cirq.Circuit()] * batch)  # once, outside the loop
    return common.gradient_step(lambda features: layer([input_circuits, features]),
                                layer.circuit_weights, cotangent)


def first_results(step, features):
    """Traces and runs ``step`` once; its loss and gradients, as lists for checking."""
    return dict(zip(("loss", "grad_weights", "grad_features"),
                    (np.asarray(t).tolist() for t in step(features)[:3])))


def worker_main():
    """The tf_keras worker (TF_USE_LEGACY_KERAS=1): TFQ's own layers and the raw op again."""
    import cirq
    import tensorflow as tf
    import tensorflow_quantum as tfq

    steps = {}

    def handle(command):
        if command["cmd"] == "hello":
            if not tf.keras.__name__.startswith("tf_keras"):
                raise RuntimeError(f"tf.keras is {tf.keras.__name__}, not tf_keras: is "
                                   "TF_USE_LEGACY_KERAS=1 set and tf_keras installed?")
            import tf_keras
            return {"tf_keras": tf_keras.__version__, "tfq": tfq.__version__}
        if command["cmd"] == "setup":
            c = command["config"]
            circuit = cirq.read_json(json_text=c["circuit"])
            steps["features"] = tf.constant(c["features"], tf.float32)
            cotangent = tf.constant(c["cotangent"], tf.float32)
            steps[TFQ_LAYERS] = tfq_layers_step(circuit, c["data_names"], c["weight_names"],
                                                c["weights"], c["batch"], cotangent)
            steps[RAW_LEGACY] = raw_op_step(circuit, c["data_names"] + c["weight_names"],
                                            c["weights"], c["batch"], cotangent)
            return {name: first_results(steps[name], steps["features"])
                    for name in (TFQ_LAYERS, RAW_LEGACY)}
        return {"seconds": TIMING.time_block(steps[command["impl"]], command["steps"],
                                             args=(steps["features"],))}

    common.serve(handle)


def tfq_meta_step(spec, weights, cotangent):
    """tfq_meta's PQC layer on qsim: its overhead over the TFQ op it wraps (bench_engines.py
    compares the engines)."""
    import tfq_meta

    layer = tfq_meta.PQC(spec, [f"Z{i}" for i in range(len(spec.qubits))],
                         weight_symbols=spec.weight_symbols, engine="qsim")
    layer.build((None, len(spec.data_symbols)))
    layer.circuit_weights.assign(weights)
    return common.gradient_step(layer, layer.circuit_weights, cotangent)


def block_timers(config, worker):
    """{implementation: seconds per step of a block of n steps, as a function of n}, each
    traced, run once and checked to agree."""
    import cirq

    spec, features, cotangent = config["spec"], config["features"], config["cotangent"]
    names = [str(s) for s in spec.data_symbols + spec.weight_symbols]
    local = {META: tfq_meta_step(spec, config["weights"], cotangent),
             RAW: raw_op_step(spec.circuit, names, config["weights"], config["batch"], cotangent)}
    results = {name: first_results(step, features) for name, step in local.items()}
    results.update(worker.ask(cmd="setup", config={
        "circuit": cirq.to_json(spec.circuit), "batch": config["batch"],
        "data_names": names[:len(spec.data_symbols)],
        "weight_names": names[len(spec.data_symbols):],
        **{k: config[k].tolist() for k in ("weights", "features", "cotangent")}})[0])
    check_agreement(results, config)
    timers = {name: (lambda n, step=step: TIMING.time_block(step, n, args=(features,)))
              for name, step in local.items()}
    for name in (TFQ_LAYERS, RAW_LEGACY):
        timers[name] = lambda n, name=name: worker.ask(cmd="time", impl=name, steps=n)[0]["seconds"]
    return timers


def check_agreement(results, config):
    """Raises unless every implementation computed the raw op's loss and gradients."""
    for name, result in results.items():
        for key, value in result.items():
            expected = results[RAW][key]
            error = np.max(np.abs(np.subtract(value, expected)))
            if error > TOLERANCE * max(1.0, float(np.max(np.abs(expected)))):
                raise AssertionError(
                    f"{name} disagrees with {RAW} on {key} by {error:.2e} ({config['qubits']} "
                    f"qubits, batch {config['batch']}): timing it would mean nothing.")


def block_order(repeat):
    """Blocks of one repeat, balanced over every 4: the block right after the other process ran
    can find colder caches and sleeping threads, so which process goes first, and the order
    within each, alternate; each compared pair stays adjacent."""
    local, remote = [META, RAW], [TFQ_LAYERS, RAW_LEGACY]
    if (repeat // 2) % 2:
        local, remote = local[::-1], remote[::-1]
    return local + remote if repeat % 2 == 0 else remote + local


def measure(timers, repeats):
    """Seconds per step of each implementation, one block per repeat, after a warmup (the first
    runs after tracing are slower)."""
    n_steps = max(2, int(TIMING.block_seconds / timers[RAW](2)))
    for time_block in timers.values():
        time_block(max(2, n_steps // 4))
    samples = {name: [] for name in timers}
    for repeat in range(repeats):
        for name in block_order(repeat):
            samples[name].append(timers[name](n_steps))
    return n_steps, samples


def row(config, n_steps, samples):
    return {"qubits": config["qubits"], "batch": config["batch"], "gates": config["gates"],
            "weights": len(config["weights"]), **common.timing_record(n_steps, samples),
            "examples_per_second": {name: config["batch"] / statistics.median(values)
                                    for name, values in samples.items()},
            **{key: timing.paired_ratio(samples, a, b) for key, _, a, b in RATIOS}}


def goal_verdict(rows, key, goal):
    """Met when the geometric mean of the rows' medians is within ``goal`` and no row is clearly
    above it (its lower quartile above); rows above by their median alone are within noise."""
    medians = [row[key]["median"] for row in rows]
    overall = math.exp(statistics.fmean(math.log(m) for m in medians))
    clearly_above = [(r["qubits"], r["batch"]) for r in rows if r[key]["q1"] > goal]
    return {"overall": overall, "worst": max(medians), "goal": goal,
            "met": overall <= goal and not clearly_above, "clearly_above": clearly_above,
            "above_within_noise": [(r["qubits"], r["batch"]) for r in rows
                                   if r[key]["median"] > goal >= r[key]["q1"]]}


def report(rows, verdicts):
    common.print_table(
        "ms per step (forward + gradient w.r.t. weights and features; median), and ratios "
        "(median [quartiles] of paired repeats):",
        ["qubits", "batch", "gates", "weights", *LABELS.values(), *(r[1] for r in RATIOS)],
        [[r["qubits"], r["batch"], r["gates"], r["weights"],
          *(f"{r['median_ms'][name]:.2f}" for name in LABELS),
          *(timing.format_ratio(r[key], digits=3) for key, _, _, _ in RATIOS)] for r in rows])
    for key, label, _, _ in RATIOS[:2]:
        v = verdicts[key]
        print(f"{label}: {v['overall']:.3f}x over all rows (geometric mean), worst row "
              f"{v['worst']:.3f}x; goal <= {v['goal']:.2f}x: {common.verdict(v['met'])}"
              + (f"; clearly above in (qubits, batch) {v['clearly_above']}"
                 if v["clearly_above"] else "")
              + (f"; above within noise in {v['above_within_noise']}"
                 if v["above_within_noise"] else ""))


def main(args):
    run = common.start(args)
    # Started first: it imports TensorFlow while this process does the same.
    worker = common.Workers(__file__, "tf_keras", envs=[{"TF_USE_LEGACY_KERAS": "1"}])
    try:
        versions, rows = worker.ask(cmd="hello", timeout=300.0)[0], []
        for n_qubits in args.qubits:
            for batch in args.batches:
                config = common.circuit_configuration(n_qubits, batch)
                rows.append(row(config, *measure(block_timers(config, worker), args.repeats)))
                print(f"  {n_qubits} qubits, batch {batch}: " + ", ".join(
                    f"{LABELS[k]} {v:.2f} ms" for k, v in rows[-1]["median_ms"].items()),
                    flush=True)
    finally:
        worker.close()
    verdicts = {key: goal_verdict(rows, key, goal) for key, goal in
                (("tfq_meta_vs_raw", GOAL_VS_RAW), ("tfq_meta_vs_tfq_layers", GOAL_VS_TFQ_LAYERS))}
    report(rows, verdicts)
    common.write_json("bench_pqc", __doc__, {**run, "verdicts": verdicts, "rows": rows},
                      worker=versions)


if __name__ == "__main__":
    parser = common.parser(__doc__, workers=True)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed blocks per implementation (multiples of 4 balance the order)")
    arguments = common.parse(parser, qubits=[4], batches=[32], repeats=4, wait=0.0)
    worker_main() if arguments.worker else main(arguments)
