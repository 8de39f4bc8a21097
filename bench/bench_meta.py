"""Tasks per second of a MetaLearner step against per-task loops, the raw engine and PennyLane.

A step: an outer step on 16 sinusoid tasks (5 inner SGD steps, one Adam step) of
``models.student(n_features=1, n_qubits=Q, n_layers=3)`` by MetaLearner (``train_on_batch``) with
the library's default (XLA) and with ``jit_compile=False``, the keras.io loop (one task at a time,
eager: the issue's baseline), the compiled task loop, raw (CircuitExpectation alone, no Keras)
and PennyLane + torch; "XLA": with jit_compile, as are MetaLearner and raw in a ratio whose label
ends in " XLA" (without it: both without XLA).

Run:  python bench/bench_meta.py [--quick] [--profile]   (12 minutes on 2 idle cores after waiting
      up to --wait minutes; --quick: 4 qubits, 3). Writes bench/output/bench_meta.json.
"""
import dataclasses
import functools

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
from timing import timed_first_call

N_LAYERS, N_TASKS, SHOTS, INNER_STEPS, INNER_LR, OUTER_LR = 3, 16, 10, 5, 0.1, 1e-3
QUBITS, ALGORITHMS = (4, 8), ("fomaml", "maml")
EPISODE = ("support_x", "support_y", "query_x", "query_y")
# Blocks of about 0.3 s (at least one step: an eager keras.io step takes seconds).
TIMING = timing.BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=70.0,
                            min_repeats=4, warmup_steps=1)
# maml's meta-gradient differentiates through 5 inner gradients: in complex64 it carries
# rounding errors of a few 1e-4 relative against the float64 reference.
LOSS_TOLERANCE, GRADIENT_TOLERANCE, RAW_VALUE_TOLERANCE = 1e-4, 1e-3, 1e-5
MSE = keras.losses.MeanSquaredError()
META, META_XLA, KERAS_IO, LOOP, RAW, RAW_XLA, PL = (
    "MetaLearner no XLA", "MetaLearner XLA (default)", "keras.io loop", "compiled task loop",
    "raw", "raw XLA", "pennylane")
META_GRADS, LOOP_XLA = "meta_gradients", "compiled loop XLA"
RATIOS = {"keras.io/meta": (KERAS_IO, META), "compiled/meta": (LOOP, META),
          "meta/raw": (META, RAW), "pl/meta": (PL, META),
          "keras.io/meta XLA": (KERAS_IO, META_XLA), "compiled/meta XLA": (LOOP, META_XLA),
          "meta/raw XLA": (META_XLA, RAW_XLA), "pl/meta XLA": (PL, META_XLA),
          "meta/metaXLA": (META, META_XLA), "meta/grads": (META, META_GRADS),
          "grads/raw": (META_GRADS, RAW), "compiledXLA/metaXLA": (LOOP_XLA, META_XLA)}
# {key: (text, ratio (printed with its " XLA" twin), bound, at least?, qubit counts it needs)}
GOALS = {"loop_over_meta": ("keras.io loop / MetaLearner", "keras.io/meta", 10.0, True, ()),
         "compiled_loop_over_meta": ("information (stricter baseline than the issue's): compiled "
                                     "task loop / MetaLearner", "compiled/meta", 10.0, True, ()),
         "meta_over_raw": ("MetaLearner / raw engine", "meta/raw", 1.5, False, ()),
         "pennylane_over_meta": ("PennyLane / MetaLearner", "pl/meta", 2.0, True, (4, 8))}


def new_model(n_qubits, weights=None):
    model = tfq_meta.models.student(n_features=1, n_qubits=n_qubits, n_layers=N_LAYERS)
    if weights is not None:
        model.set_weights(weights)
    return model


def meta_learner(config, algorithm, jit_compile="auto"):
    """Plain MAML (stabilisers off: their cost is bench_stabilisers.py's) and its step."""
    meta = MetaLearner(new_model(config["qubits"], config["weights"]), algorithm,
                       inner_steps=INNER_STEPS, inner_lr=INNER_LR, learn_inner_lr=False,
                       multi_step_loss=False, inner_clipnorm=None)
    meta.compile(optimizer=keras.optimizers.Adam(OUTER_LR), loss="mse", jit_compile=jit_compile)
    return meta, lambda: meta.train_on_batch(config["episode"], return_dict=True)["loss"]


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
                    loss = MSE(support_y, model(support_x))
            values = [v - INNER_LR * g for v, g in zip(values, inner.gradient(loss, values))]
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            loss = MSE(query_y, model(query_x))
    return outer.gradient(loss, variables), loss


class TaskLoop:
    """One task at a time as the keras.io Reptile example loops (eager, ``apply_gradients``):
    fomaml adapts the model's weights (reset for each task), maml differentiates functionally.
    ``compiled``: each per-task piece a tf.function (SGD by ``assign_sub``)."""

    def __init__(self, config, algorithm, compiled=False, jit_compile=False):
        model = self.model = new_model(config["qubits"], config["weights"])
        variables, optimizer = model.trainable_variables, keras.optimizers.Adam(OUTER_LR)
        inner_optimizer = keras.optimizers.SGD(INNER_LR)
        # Prepared once, outside the timed step, as a tf.data pipeline would.
        self.tasks = [tuple(tf.constant(config["episode"][key][t]) for key in EPISODE)
                      for t in range(N_TASKS)]
        self.second_order = algorithm == "maml"

        def sgd_step(x, y):
            with tf.GradientTape() as tape:
                loss = MSE(y, model(x))
            gradients = tape.gradient(loss, variables)
            if compiled:
                for v, g in zip(variables, gradients):
                    v.assign_sub(INNER_LR * g)
            else:
                inner_optimizer.apply_gradients(zip(gradients, variables))

        def query_gradient(x, y):
            with tf.GradientTape() as tape:
                loss = MSE(y, model(x))
            return tape.gradient(loss, variables), loss

        pieces = (sgd_step, query_gradient, lambda *task: maml_task_gradient(model, *task),
                  lambda gradients: optimizer.apply_gradients(zip(gradients, variables)))
        if compiled:
            optimizer.build(variables)  # Its variables must exist before apply is traced.
            pieces = map(tf.function(jit_compile=jit_compile, autograph=False), pieces)
        self.sgd_step, self.query_gradient, self.task_meta_gradient, self.apply = pieces

    def gradients(self):
        """The mean meta-gradient over the tasks, and the mean query loss."""
        initial = None if self.second_order else self.model.get_weights()
        total, losses = None, []
        for support_x, support_y, query_x, query_y in self.tasks:
            if self.second_order:
                gradients, loss = self.task_meta_gradient(support_x, support_y, query_x, query_y)
            else:
                self.model.set_weights(initial)
                for _ in range(INNER_STEPS):
                    self.sgd_step(support_x, support_y)
                gradients, loss = self.query_gradient(query_x, query_y)
            total = gradients if total is None else [a + g for a, g in zip(total, gradients)]
            losses.append(loss)
        if initial is not None:
            self.model.set_weights(initial)
        return [g / N_TASKS for g in total], tf.add_n(losses) / N_TASKS


def raw_engine(config, algorithm, jit_compile):
    """The step on CircuitExpectation alone (prediction: the Zs' mean), the op, its inputs."""
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
    """The step in PennyLane + torch, every gate broadcast over the tasks' examples."""

    def __init__(self, config, algorithm, dtype=torch.float32):
        self.circuit = pennylane_torch.torch_qnode(config["layer"])
        self.n_qubits, self.second_order = config["qubits"], algorithm == "maml"
        self.parameters = [torch.tensor(w, dtype=dtype, requires_grad=True)
                           for w in config["weights"]]  # circuit weights, kernel, bias
        self.optimizer = torch.optim.Adam(self.parameters, lr=OUTER_LR)
        self.support_x, self.support_y, self.query_x, self.query_y = (
            torch.tensor(config["episode"][key], dtype=dtype) for key in EPISODE)

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

    def apply(self, gradients):
        self.optimizer.step()  # on the gradients backward left in the parameters


def full_step(loop):
    """A step of a per-task loop or of PennyLane: the meta-gradient, then the outer update."""
    gradients, loss = loop.gradients()
    loop.apply(gradients)
    return loss


def build_steps(config, algorithm, args):
    """Every implementation of one configuration, checked and run once; the row's records."""
    episode, references, errors, first_call = config["episode"], {}, {}, {}

    def check(name, loss, gradients=None):
        for reference, (expected_loss, expected_gradients) in references.items():
            errors.setdefault(name, {})[f"query_loss_vs_{reference}"] = common.agree(
                f"{name} vs {reference} on the query loss", loss, expected_loss, LOSS_TOLERANCE)
            if gradients is not None:
                errors[name][f"meta_gradient_vs_{reference}"] = max(
                    common.agree(f"{name} vs {reference} on the meta-gradient", g, e,
                                 GRADIENT_TOLERANCE) for g, e in zip(gradients, expected_gradients))

    # References at the initial weights: a float64 PennyLane run (complex128 state) and
    # MetaLearner's own meta-gradient and query loss (eagerly).
    gradients, loss = PennyLaneMeta(config, algorithm, dtype=torch.float64).gradients()
    references["float64"] = (loss.numpy(), [g.numpy() for g in gradients])
    meta, meta_step = meta_learner(config, algorithm, jit_compile=False)
    predictions = meta.adapt_and_predict(*(episode[k] for k in EPISODE[:3]))
    loss = float(np.mean((np.asarray(predictions, np.float64) - episode["query_y"]) ** 2))
    gradients = [g.numpy() for g in meta.meta_gradients(episode)]
    check(META + " (eager)", loss, gradients)
    references["MetaLearner"] = (loss, gradients)

    default_meta, default_step = meta_learner(config, algorithm)
    steps = {META: meta_step, META_XLA: default_step}
    for name in (META, META_XLA):
        loss, first_call[name] = timed_first_call(steps[name])  # the loss before its update
        check(name, loss)
    for name, jit_compile in ((RAW, False), (RAW_XLA, True)):
        steps[name], expectation, support_values = raw_engine(config, algorithm, jit_compile)
        _, first_call[name] = timed_first_call(steps[name])
    errors[RAW] = {"support_expectations_vs_pqc_layer": common.agree(
        "the raw engine's vs the model's PQC layer's expectations", expectation(support_values),
        config["layer"](episode["support_x"].reshape(-1, 1)), RAW_VALUE_TOLERANCE)}
    loops = {KERAS_IO: TaskLoop(config, algorithm), LOOP: TaskLoop(config, algorithm, True),
             PL: PennyLaneMeta(config, algorithm)}
    if args.profile:
        loops[LOOP_XLA] = TaskLoop(config, algorithm, compiled=True, jit_compile=True)
    for name, loop in loops.items():
        # The first meta-gradient is checked, then applied, as the others' first steps are.
        (gradients, loss), first_call[name] = timed_first_call(loop.gradients)
        check(name, loss, gradients)
        loop.apply(gradients)
        steps[name] = functools.partial(full_step, loop)
    if args.profile:
        meta_gradients = tf.function(meta.meta_gradients, autograph=False)
        steps[META_GRADS] = lambda: meta_gradients(episode)
        _, first_call[META_GRADS] = timed_first_call(steps[META_GRADS])
    return steps, {
        "first_call_s": first_call, "relative_errors": errors,
        "meta_learner_default_jit_compile": default_meta.jit_compile,
        "torch_threads": pennylane_torch.choose_threads(steps[PL], TIMING, args.torch_threads)}


def run_configuration(n_qubits, algorithm, args):
    keras.utils.set_random_seed(0)
    model = new_model(n_qubits)
    config = {"qubits": n_qubits, "weights": model.get_weights(),
              "layer": model.get_layer("circuit"),
              "episode": Sinusoid(shots=SHOTS, query_shots=SHOTS).sample(N_TASKS, seed=0)}
    busy_before = common.busy_cpu_share(0.5)
    steps, records = build_steps(config, algorithm, args)
    record = args.timing.measure(steps, args.repeats, ratios=RATIOS,
                                 label=f"{n_qubits} qubits {algorithm}")
    return {"qubits": n_qubits, "algorithm": algorithm,
            "gates": len(list(config["layer"].circuit.all_operations())),
            "parameters": model.count_params(), **record, **records,
            "tasks_per_second": {k: 1e3 * N_TASKS / ms for k, ms in record["median_ms"].items()},
            "machine": {"busy_cpu_share_before": busy_before,
                        "busy_cpu_share_after": common.busy_cpu_share(0.5)}}


def report(rows):
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
    labels = list(rows[0]["ratios"])
    for start in range(0, len(labels), 4):
        common.print_table("ratios (median [quartiles] of paired repeats)"
                           + (":" if start == 0 else ", continued:"),
                           ["config", *labels[start:start + 4]],
                           [[c, *(timing.format_ratio(row["ratios"][key])
                                  for key in labels[start:start + 4])]
                            for c, row in zip(config, rows)])
    print()
    verdicts, algorithms = {}, list(dict.fromkeys(r["algorithm"] for r in rows))
    for key, (text, ratio, bound, at_least, qubits) in GOALS.items():
        where = {f"{r['qubits']}q {r['algorithm']}": r["ratios"] for r in rows
                 if not qubits or r["qubits"] in qubits}
        verdicts[key] = common.goal(
            text, bound, {w: r[ratio]["median"] for w, r in where.items()}, at_least,
            required=[f"{n}q {a}" for n in qubits for a in algorithms],
            note="   (with XLA: " + ", ".join(f"{w} {r[ratio + ' XLA']['median']:.2f}"
                                             for w, r in where.items()) + ")")
    return verdicts


def main(args):
    tf.get_logger().setLevel("ERROR")  # every configuration traces anew, on purpose
    run = common.start(args)
    run["machine"]["torch_before"] = pennylane_torch.stall_probe()
    rows = [run_configuration(n, algorithm, args)
            for n in args.qubits for algorithm in args.algorithms]
    verdicts = report(rows)
    run["machine"]["torch_after"] = pennylane_torch.stall_probe("at the end")
    common.write_json("bench_meta", __doc__, {**run, "goals": verdicts, "rows": rows},
                      torch=torch.__version__, pennylane=qml.__version__)


if __name__ == "__main__":
    parser = common.parser(__doc__, wait=20.0, timing=TIMING)
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation (slow ones get fewer, >= 4)")
    parser.add_argument("--profile", action="store_true",
                        help="also time tf.function(MetaLearner.meta_gradients) and the compiled "
                             "loop with XLA, to locate the MetaLearner's overhead")
    pennylane_torch.add_threads_argument(parser)
    common.run(parser, main, qubits=[4], repeats=2, wait=0.0,
               timing=dataclasses.replace(TIMING, configuration_seconds=5.0))
