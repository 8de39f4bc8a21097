"""Tasks per second of a MetaLearner step against per-task loops, the raw engine and PennyLane.

A *step*: one outer step of meta-learning on 16 sinusoid tasks (10 support, 10 query points):
5 inner SGD steps (rate 0.1) per task, the query loss's gradient with respect to the initial
weights (first order for fomaml, through the inner steps for maml), one Adam(1e-3) step. Model
``models.student(n_features=1, n_qubits=Q, n_layers=3)``, Q = 4 and 8; loss MSE. Columns
(ms per step [tasks/s]), all from the same weights and episode:
  MetaLearner         ``train_on_batch``, stabilisers off, Keras' default compile
  Meta XLA            the same with ``jit_compile=True``
  keras.io loop       one task at a time, eager, as the keras.io Reptile example writes its loop
                      (get/set_weights, GradientTape, SGD/Adam ``apply_gradients``; maml by
                      nested tapes in ``keras.StatelessScope``): the issue's baseline
  compiled task loop  the same with every per-task piece a tf.function (a stricter baseline)
  raw / raw XLA       the same circuit evaluations on ``ops.CircuitExpectation`` in one
                      tf.function (with XLA): no Keras, no Dense head (mean of the Zs), no Adam
  pennylane           PennyLane + torch: default.qubit, backprop, one broadcast qnode call per
                      inner step for all 160 examples with per-task weights, torch Adam; torch
                      threads the faster of 1 and 2 (--torch-threads)
  --profile adds tf.function(MetaLearner.meta_gradients) and the compiled loop with XLA.
Before timing, query losses must agree to 1e-4 and meta-gradients to 1e-3 (relative) with
``MetaLearner.meta_gradients`` and with a float64 PennyLane run, and the raw engine's
expectations with the model's PQC layer's to 1e-5. Ratios are medians [quartiles] of paired
blocks (timing.py); first calls (tracing, XLA) are timed apart.

Goals (default compile; XLA next to them): keras.io loop / MetaLearner >= 10 (the compiled
loop's ratio is information only), MetaLearner / raw <= 1.5, PennyLane / MetaLearner >= 2.

Run:  pip install -e ".[bench]" && python bench/bench_meta.py   (about 12 minutes on 2 idle
      cores, after waiting up to --wait minutes for them; --quick: 4 qubits, 3 minutes).
      Writes bench/output/bench_meta.json.
"""
import dataclasses
import hashlib
import time
from pathlib import Path

import common  # first: sets up TensorFlow's environment
import keras
import numpy as np
import pennylane as qml
import tensorflow as tf
import torch

import pennylane_torch
import tfq_meta
import timing
from tfq_meta.meta import MetaLearner
from tfq_meta.ops import CircuitExpectation
from tfq_meta.tasks import Sinusoid
from timing import paired_ratio, timed_first_call

N_LAYERS, N_TASKS, SHOTS, INNER_STEPS, INNER_LR, OUTER_LR = 3, 16, 10, 5, 0.1, 1e-3
QUBITS, ALGORITHMS = (4, 8), ("fomaml", "maml")
# Blocks of about 0.3 s (at least one step: an eager keras.io step takes seconds); the repeats of
# one configuration stop near 70 s (never fewer than 4), about 12 minutes in all.
TIMING = timing.BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=70.0,
                            min_repeats=4, warmup_steps=1)
TOLERANCE = 1e-4
# maml's meta-gradient differentiates through 5 inner gradients: in complex64 it carries
# rounding errors of a few 1e-4 relative against the float64 reference.
GRADIENT_TOLERANCE = 1e-3
RAW_VALUE_TOLERANCE = 1e-5
GOAL_VS_LOOP, GOAL_VS_RAW, GOAL_VS_PENNYLANE, GOAL_PENNYLANE_QUBITS = 10.0, 1.5, 2.0, (4, 8)

META, META_XLA, KERAS_IO, LOOP, RAW, RAW_XLA, PL = (
    "MetaLearner", "Meta XLA", "keras.io loop", "compiled task loop", "raw", "raw XLA",
    "pennylane")
META_GRADS, LOOP_XLA = "meta_gradients", "compiled loop XLA"
# (key, label, numerator, denominator), printed 4 to a table: default compile, then XLA.
RATIOS = (
    ("keras_io_loop_vs_meta", "keras.io/meta", KERAS_IO, META),
    ("compiled_loop_vs_meta", "compiled/meta", LOOP, META),
    ("meta_vs_raw", "meta/raw", META, RAW),
    ("pennylane_vs_meta", "pl/meta", PL, META),
    ("keras_io_loop_vs_meta_xla", "keras.io/metaXLA", KERAS_IO, META_XLA),
    ("compiled_loop_vs_meta_xla", "compiled/metaXLA", LOOP, META_XLA),
    ("meta_xla_vs_raw_xla", "metaXLA/rawXLA", META_XLA, RAW_XLA),
    ("pennylane_vs_meta_xla", "pl/metaXLA", PL, META_XLA),
    ("meta_vs_meta_xla", "meta/metaXLA", META, META_XLA),
)
PROFILE_RATIOS = (
    ("meta_vs_meta_gradients", "meta/grads", META, META_GRADS),
    ("meta_gradients_vs_raw", "grads/raw", META_GRADS, RAW),
    ("compiled_loop_xla_vs_meta_xla", "compiledXLA/metaXLA", LOOP_XLA, META_XLA),
)


def new_model(n_qubits, weights=None):
    model = tfq_meta.models.student(n_features=1, n_qubits=n_qubits, n_layers=N_LAYERS)
    if weights is not None:
        model.set_weights(weights)
    return model


def configuration(n_qubits, seed=0):
    """Initial weights and the episode shared by every implementation."""
    keras.utils.set_random_seed(seed)
    model = new_model(n_qubits)
    layer = model.get_layer("circuit")
    return {"qubits": n_qubits, "weights": model.get_weights(), "layer": layer,
            "episode": Sinusoid(shots=SHOTS, query_shots=SHOTS).sample(N_TASKS, seed=seed),
            "gates": len(list(layer.circuit.all_operations())),
            "parameters": model.count_params()}


def meta_learner(config, algorithm, jit_compile="auto"):
    """Plain MAML (stabilisers off: their cost is bench_stabilisers.py's) and its step."""
    meta = MetaLearner(new_model(config["qubits"], config["weights"]), algorithm,
                       inner_steps=INNER_STEPS, inner_lr=INNER_LR, learn_inner_lr=False,
                       multi_step_loss=False, inner_clipnorm=None)
    meta.compile(optimizer=keras.optimizers.Adam(OUTER_LR), loss="mse", jit_compile=jit_compile)
    return meta, lambda: meta.train_on_batch(config["episode"], return_dict=True)["loss"]


def mse(y, predictions):
    return tf.reduce_mean(keras.losses.mean_squared_error(y, predictions))


def maml_task_gradient(model, support_x, support_y, query_x, query_y):
    """One task's exact second-order MAML gradient. set_weights cannot be differentiated
    through, so the adapted weights are substituted functionally (keras.StatelessScope)."""
    variables = model.trainable_variables
    with tf.GradientTape() as outer:
        values = [tf.identity(v) for v in variables]
        for _ in range(INNER_STEPS):
            with tf.GradientTape() as inner:
                inner.watch(values)
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    loss = mse(support_y, model(support_x))
            values = [v - INNER_LR * g for v, g in zip(values, inner.gradient(loss, values))]
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            loss = mse(query_y, model(query_x))
    return outer.gradient(loss, variables), loss


class KerasIoLoop:
    """One task at a time, eager, as the keras.io Reptile example writes its loop: fomaml adapts
    the model's own weights (set back before each task), maml computes each task's
    meta-gradient functionally; ``gradients()`` the meta-gradient, ``step()`` a full step."""

    def __init__(self, config, algorithm):
        self.model = new_model(config["qubits"], config["weights"])
        self.optimizer, self.inner_optimizer = (keras.optimizers.Adam(OUTER_LR),
                                                keras.optimizers.SGD(INNER_LR))
        # Prepared once, outside the timed step, as a tf.data pipeline would.
        self.tasks = [tuple(tf.constant(config["episode"][key][t]) for key in
                            ("support_x", "support_y", "query_x", "query_y"))
                      for t in range(N_TASKS)]
        self.second_order = algorithm == "maml"

    def adapted_query_gradient(self, support_x, support_y, query_x, query_y):
        model = self.model
        for _ in range(INNER_STEPS):
            with tf.GradientTape() as tape:
                loss = mse(support_y, model(support_x))
            grads = tape.gradient(loss, model.trainable_weights)
            self.inner_optimizer.apply_gradients(zip(grads, model.trainable_weights))
        with tf.GradientTape() as tape:
            loss = mse(query_y, model(query_x))
        return tape.gradient(loss, model.trainable_weights), loss

    def task_meta_gradient(self, *task):
        return maml_task_gradient(self.model, *task)

    def apply(self, gradients):
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_weights))

    def gradients(self):
        initial = None if self.second_order else self.model.get_weights()
        total, losses = None, []
        for task in self.tasks:
            if self.second_order:
                gradients, loss = self.task_meta_gradient(*task)
            else:
                self.model.set_weights(initial)
                gradients, loss = self.adapted_query_gradient(*task)
            total = gradients if total is None else [a + g for a, g in zip(total, gradients)]
            losses.append(loss)
        if initial is not None:
            self.model.set_weights(initial)
        return [g / N_TASKS for g in total], tf.add_n(losses) / N_TASKS

    def step(self):
        gradients, loss = self.gradients()
        self.apply(gradients)
        return loss


class CompiledTaskLoop(KerasIoLoop):
    """The same loop with every per-task piece a tf.function (SGD by ``assign_sub``); only the
    loop over tasks and set_weights stay in Python."""

    def __init__(self, config, algorithm, jit_compile=False):
        super().__init__(config, algorithm)
        model, variables = self.model, self.model.trainable_variables
        self.optimizer.build(variables)  # Its variables must exist before apply is traced.
        compiled = tf.function(jit_compile=jit_compile, autograph=False)

        @compiled
        def sgd_step(x, y):
            with tf.GradientTape() as tape:
                loss = mse(y, model(x))
            for v, g in zip(variables, tape.gradient(loss, variables)):
                v.assign_sub(INNER_LR * g)
            return loss

        @compiled
        def query_gradient(x, y):
            with tf.GradientTape() as tape:
                loss = mse(y, model(x))
            return tape.gradient(loss, variables), loss

        self.sgd_step, self.query_gradient = sgd_step, query_gradient
        self.apply = compiled(lambda gradients: self.optimizer.apply(gradients, variables))
        self.task_meta_gradient = compiled(lambda *task: maml_task_gradient(model, *task))

    def adapted_query_gradient(self, support_x, support_y, query_x, query_y):
        for _ in range(INNER_STEPS):
            self.sgd_step(support_x, support_y)
        return self.query_gradient(query_x, query_y)


def raw_engine(config, algorithm, jit_compile):
    """The same circuit evaluations on CircuitExpectation alone (prediction = mean of the Z
    expectations): (step, expectation op, the support set's symbol values at the initial
    weights)."""
    layer, episode = config["layer"], config["episode"]
    expectation = CircuitExpectation(layer.circuit, layer.data_symbols + layer.weight_symbols,
                                     layer.observables, engine=layer.engine)
    n_weights = len(layer.weight_symbols)
    support_x, query_x = (tf.constant(episode[k].reshape(-1, 1)) for k in ("support_x", "query_x"))
    support_y, query_y = (tf.constant(episode[k][..., 0]) for k in ("support_y", "query_y"))
    theta = tf.Variable(config["weights"][0])

    def task_losses(weights, x, y):
        values = expectation(tf.concat([x, tf.repeat(weights, SHOTS, axis=0)], axis=1))
        predictions = tf.reshape(tf.reduce_mean(values, axis=1), [N_TASKS, SHOTS])
        return tf.reduce_mean((predictions - y) ** 2, axis=1)

    @tf.function(jit_compile=jit_compile, autograph=False)
    def step():
        with tf.GradientTape() as outer:
            weights = tf.broadcast_to(theta, [N_TASKS, n_weights])
            for _ in range(INNER_STEPS):
                with tf.GradientTape() as inner:
                    inner.watch(weights)
                    loss = tf.reduce_sum(task_losses(weights, support_x, support_y))
                gradients = inner.gradient(loss, weights)
                if algorithm != "maml":
                    gradients = tf.stop_gradient(gradients)
                weights = weights - INNER_LR * gradients
            query_loss = tf.reduce_mean(task_losses(weights, query_x, query_y))
        return query_loss, outer.gradient(query_loss, theta)

    return step, expectation, tf.concat(
        [support_x, tf.tile(theta[tf.newaxis], [N_TASKS * SHOTS, 1])], axis=1)


class PennyLaneMeta:
    """The step in PennyLane + torch: the qnode gets features [160, 1] and each task's circuit
    weights repeated for its examples [160, n_weights], so every gate broadcasts."""

    def __init__(self, config, algorithm, dtype=torch.float32):
        self.circuit = pennylane_torch.torch_qnode(config["layer"])
        self.n_qubits, self.second_order = config["qubits"], algorithm == "maml"
        self.parameters = [torch.tensor(w, dtype=dtype, requires_grad=True)
                           for w in config["weights"]]  # circuit weights, kernel, bias
        self.optimizer = torch.optim.Adam(self.parameters, lr=OUTER_LR)
        self.support_x, self.support_y, self.query_x, self.query_y = (
            torch.tensor(config["episode"][key], dtype=dtype)
            for key in ("support_x", "support_y", "query_x", "query_y"))

    def task_losses(self, parameters, x, y):
        """Each task's MSE, each task with its own weights (per-task Dense by einsum)."""
        circuit_weights, kernel, bias = parameters
        n_tasks, n_shots = x.shape[:2]
        expectations = torch.stack(
            self.circuit(x.reshape(n_tasks * n_shots, -1),
                         circuit_weights.repeat_interleave(n_shots, dim=0)), dim=1)
        expectations = expectations.reshape(n_tasks, n_shots, self.n_qubits).to(kernel.dtype)
        predictions = torch.einsum("tsq,tqo->tso", expectations, kernel) + bias[:, None, :]
        return ((predictions - y) ** 2).mean(dim=(1, 2))

    def gradients(self):
        self.optimizer.zero_grad()
        parameters = [p.expand(N_TASKS, *p.shape) for p in self.parameters]
        for _ in range(INNER_STEPS):
            loss = self.task_losses(parameters, self.support_x, self.support_y).sum()
            gradients = torch.autograd.grad(loss, parameters, create_graph=self.second_order)
            parameters = [p - INNER_LR * g for p, g in zip(parameters, gradients)]
        loss = self.task_losses(parameters, self.query_x, self.query_y).mean()
        loss.backward()
        return [p.grad for p in self.parameters], loss.detach()

    def step(self):
        _, loss = self.gradients()
        self.optimizer.step()
        return loss


def relative_error(value, expected):
    """Largest absolute difference, relative to the reference's size (at least 1)."""
    value, expected = np.asarray(value, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(value - expected))) / max(1.0, float(np.max(np.abs(expected))))


class Agreement:
    """Every implementation's errors against the references ({name: (query loss,
    meta-gradients)}); ``check`` raises when one does not compute the same step."""

    def __init__(self):
        self.references, self.errors = {}, {}

    def check(self, name, loss, gradients=None):
        for reference, (expected_loss, expected_gradients) in self.references.items():
            measured = {"query_loss": (relative_error(loss, expected_loss), TOLERANCE)}
            if gradients is not None:
                measured["meta_gradient"] = (
                    max(map(relative_error, gradients, expected_gradients)), GRADIENT_TOLERANCE)
            for key, (error, tolerance) in measured.items():
                self.errors.setdefault(name, {})[f"{key}_vs_{reference}"] = error
                if error > tolerance:
                    raise AssertionError(f"{name} disagrees with {reference} on the {key} by "
                                         f"{error:.2e} (relative): timing it would mean nothing.")

    def checked_loop(self, name, loop):
        """A per-task loop's step after checking its first meta-gradient (then applied, as the
        others' first steps are), and the time of that first call."""
        (gradients, loss), seconds = timed_first_call(loop.gradients)
        self.check(name, loss, gradients)
        loop.apply(gradients)
        return loop.step, seconds


def build_steps(config, algorithm, args):
    """Every implementation of one configuration, checked and run once; first-call times."""
    episode, agreement, first_call = config["episode"], Agreement(), {}
    # References at the initial weights: a float64 PennyLane run (complex128 state) and
    # MetaLearner's own meta-gradient and query loss (eagerly).
    gradients, loss = PennyLaneMeta(config, algorithm, dtype=torch.float64).gradients()
    agreement.references["float64"] = (loss.numpy(), [g.numpy() for g in gradients])
    meta, meta_step = meta_learner(config, algorithm)
    predictions = meta.adapt_and_predict(*(episode[k] for k in ("support_x", "support_y",
                                                                "query_x")))
    loss = float(np.mean((np.asarray(predictions, np.float64) - episode["query_y"]) ** 2))
    gradients = [g.numpy() for g in meta.meta_gradients(episode)]
    agreement.check(META + " (eager)", loss, gradients)
    agreement.references = {"MetaLearner": (loss, gradients), **agreement.references}

    steps = {META: meta_step, META_XLA: meta_learner(config, algorithm, jit_compile=True)[1]}
    for name in (META, META_XLA):
        loss, first_call[name] = timed_first_call(steps[name])  # the loss before its update
        agreement.check(name, loss)
    for name, loop in ((KERAS_IO, KerasIoLoop(config, algorithm)),
                       (LOOP, CompiledTaskLoop(config, algorithm))):
        steps[name], first_call[name] = agreement.checked_loop(name, loop)
    for name, jit_compile in ((RAW, False), (RAW_XLA, True)):
        steps[name], expectation, support_values = raw_engine(config, algorithm, jit_compile)
        _, first_call[name] = timed_first_call(steps[name])
    error = relative_error(expectation(support_values),
                           config["layer"](episode["support_x"].reshape(-1, 1)))
    agreement.errors[RAW] = {"support_expectations_vs_pqc_layer": error}
    if error > RAW_VALUE_TOLERANCE:
        raise AssertionError(f"the raw engine's expectations differ from the model's PQC layer "
                             f"by {error:.2e}: not the same circuit.")
    pennylane = PennyLaneMeta(config, algorithm)
    (gradients, loss), first_call[PL] = timed_first_call(pennylane.gradients)
    agreement.check(PL, loss, gradients)
    pennylane.optimizer.step()
    steps[PL] = pennylane.step
    threads = pennylane_torch.choose_threads(pennylane.step, TIMING, args.torch_threads)
    if args.profile:
        meta_gradients = tf.function(meta.meta_gradients, autograph=False)
        steps[META_GRADS] = lambda: meta_gradients(episode)
        _, first_call[META_GRADS] = timed_first_call(steps[META_GRADS])
        steps[LOOP_XLA], first_call[LOOP_XLA] = agreement.checked_loop(
            LOOP_XLA, CompiledTaskLoop(config, algorithm, jit_compile=True))
    return steps, first_call, agreement.errors, threads, meta.jit_compile


def run_configuration(n_qubits, algorithm, args):
    config = configuration(n_qubits)
    busy_before = common.busy_cpu_share(0.5)
    steps, first_call, errors, threads, default_jit_compile = build_steps(config, algorithm, args)
    plan = dataclasses.replace(TIMING, configuration_seconds=args.configuration_seconds)
    n_steps, samples = plan.measure(steps, args.repeats)
    row = {"qubits": n_qubits, "algorithm": algorithm, "gates": config["gates"],
           "parameters": config["parameters"], **common.timing_record(n_steps, samples)}
    print(f"  {n_qubits} qubits {algorithm}: " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in row["median_ms"].items()), flush=True)
    return {**row, "first_call_s": first_call,
            "tasks_per_second": {k: 1e3 * N_TASKS / ms for k, ms in row["median_ms"].items()},
            "meta_learner_default_jit_compile": default_jit_compile,
            "ratios": {key: paired_ratio(samples, numerator, denominator) for key, _, numerator,
                       denominator in RATIOS + (PROFILE_RATIOS if args.profile else ())},
            "relative_errors": errors, "torch_threads": threads,
            "machine": {"busy_cpu_share_before": busy_before,
                        "busy_cpu_share_after": common.busy_cpu_share(0.5)}}


def goals(rows):
    measured = {row["qubits"] for row in rows}
    missing = [n for n in GOAL_PENNYLANE_QUBITS if n not in measured]

    def goal(key, xla_key, bound, at_least=True, qubits=measured):
        ratios, with_xla = ({f"{r['qubits']}q {r['algorithm']}": r["ratios"][k]["median"]
                             for r in rows if r["qubits"] in qubits} for k in (key, xla_key))
        return {"goal": f"{'>=' if at_least else '<='} {bound}", "by_configuration": ratios,
                "with_xla": with_xla,
                "met": all(r >= bound if at_least else r <= bound for r in ratios.values())}

    pennylane = goal("pennylane_vs_meta", "pennylane_vs_meta_xla", GOAL_VS_PENNYLANE,
                     qubits=GOAL_PENNYLANE_QUBITS)
    return {
        "loop_over_meta": {"baseline": KERAS_IO, **goal(
            "keras_io_loop_vs_meta", "keras_io_loop_vs_meta_xla", GOAL_VS_LOOP)},
        "compiled_loop_over_meta": {"baseline": LOOP, "information_only": True, **goal(
            "compiled_loop_vs_meta", "compiled_loop_vs_meta_xla", GOAL_VS_LOOP)},
        "meta_over_raw": goal("meta_vs_raw", "meta_xla_vs_raw_xla", GOAL_VS_RAW, at_least=False),
        # met is None (undecided) when a goal qubit count was not measured (--quick, --qubits).
        "pennylane_over_meta": {**pennylane, "not_measured": missing,
                                "met": None if missing and pennylane["met"] else pennylane["met"]},
    }


def report(rows, ratios, verdicts):
    names = list(rows[0]["median_ms"])
    config = [f"{row['qubits']}q {row['algorithm']}" for row in rows]

    def rate(tasks_per_second):
        return f"{tasks_per_second:.{0 if tasks_per_second >= 10 else 1}f}"

    common.print_table(f"ms per meta-step of {N_TASKS} tasks x {2 * SHOTS} examples, "
                       f"{INNER_STEPS} inner steps (median) [tasks/s]:", ["config", *names],
                       [[c, *(f"{row['median_ms'][n]:.1f} [{rate(row['tasks_per_second'][n])}]"
                              for n in names)] for c, row in zip(config, rows)])
    common.print_table("first call, s (tracing, XLA compilation, first run):", ["config", *names],
                       [[c, *(f"{row['first_call_s'][n]:.1f}" for n in names)]
                        for c, row in zip(config, rows)])
    for start in range(0, len(ratios), 4):
        common.print_table("ratios (median [quartiles] of paired repeats)"
                           + (":" if start == 0 else ", continued:"),
                           ["config", *(label for _, label, _, _ in ratios[start:start + 4])],
                           [[c, *(timing.format_ratio(row["ratios"][key])
                                  for key, _, _, _ in ratios[start:start + 4])]
                            for c, row in zip(config, rows)])
    print()
    for key, text in (("loop_over_meta", "goal: keras.io loop / MetaLearner"),
                      ("compiled_loop_over_meta", "information (stricter baseline than the "
                       "issue's): compiled task loop / MetaLearner"),
                      ("meta_over_raw", "goal: MetaLearner / raw engine"),
                      ("pennylane_over_meta", "goal: PennyLane / MetaLearner")):
        goal = verdicts[key]
        print(f"{text} {goal['goal']}: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["by_configuration"].items())
              + f" -> {common.verdict(goal['met'])}   (with XLA: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["with_xla"].items()) + ")")


def source_fingerprint():
    """A hash of tfq_meta's sources: autograph reads a function's source when it traces it, so
    an edit while the script runs changes what is traced."""
    digest = hashlib.sha256()
    for path in sorted(Path(tfq_meta.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def main(args):
    tf.get_logger().setLevel("ERROR")  # every configuration traces anew, on purpose
    sources = source_fingerprint()
    run = common.start(args)
    run["machine"]["torch_before"] = pennylane_torch.stall_probe()
    start = time.perf_counter()
    rows = [run_configuration(n, algorithm, args)
            for n in args.qubits for algorithm in args.algorithms]
    verdicts = goals(rows)
    report(rows, RATIOS + (PROFILE_RATIOS if args.profile else ()), verdicts)
    run["machine"]["torch_after"] = pennylane_torch.stall_probe("at the end")
    if source_fingerprint() != sources:
        print("WARNING: tfq_meta's sources changed while this script ran: the times may mix "
              "two versions. Rerun.", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s")
    common.write_json("bench_meta", __doc__, {**run, "goals": verdicts, "rows": rows},
                      torch=torch.__version__, pennylane=qml.__version__,
                      tfq_meta_sources_at_start=sources,
                      tfq_meta_sources_at_end=source_fingerprint())


if __name__ == "__main__":
    parser = common.parser(__doc__, wait=20.0)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation (slow ones get fewer, >= 4)")
    parser.add_argument("--configuration-seconds", type=float,
                        default=TIMING.configuration_seconds,
                        help="timed repeats of one configuration stop at about this many seconds")
    parser.add_argument("--profile", action="store_true",
                        help="also time tf.function(MetaLearner.meta_gradients) and the compiled "
                             "loop with XLA, to locate the MetaLearner's overhead")
    pennylane_torch.add_threads_argument(parser)
    main(common.parse(parser, qubits=[4], repeats=2, wait=0.0, configuration_seconds=5.0))
