"""Tasks per second of a MetaLearner step against per-task loops, the raw engine and PennyLane.

One *step* is one outer step of meta-learning on one episode: 16 sinusoid tasks
(``tfq_meta.tasks.Sinusoid(shots=10, query_shots=10)``, so 160 support and 160 query examples),
5 inner SGD steps (learning rate 0.1) on every task's support set, the query loss of the adapted
weights, its gradient with respect to the initial weights (first order for ``fomaml``, through the
inner gradients for ``maml``), and one outer Adam step. The model is
``tfq_meta.models.student(n_features=1, n_qubits=Q, n_layers=3)``: a re-uploading PQC
(``reuploading_circuit(Q, 3, trainable_scaling=True)``: ry/rz blocks with a CNOT chain, the
feature re-uploaded 3 times through ``rx(s * x)`` with trainable scales ``s``; observables Z on
each qubit; ``engine="auto"``, which is statevector here) and a Dense(1) readout; loss MSE.
Q = 4 and 8. Tasks per second = 16 / seconds per step.

Implementations (all start from the same weights and the same episode):
  MetaLearner     ``MetaLearner(model, algorithm, inner_steps=5, inner_lr=0.1)``, stabilisers
                  off (learn_inner_lr=False, multi_step_loss=False, inner_clipnorm=None), compiled with
                  ``Adam(1e-3)``, ``loss="mse"`` and Keras' defaults (``jit_compile="auto"``,
                  which is off on a CPU-only machine); one ``train_on_batch(episode)`` per step,
                  episode as NumPy arrays, as ``Sinusoid.sample`` returns them. All 16 tasks run
                  in one batch: one engine call per inner step (DESIGN fact 3).
  MetaLearner XLA the same compiled with ``jit_compile=True``.
  keras.io loop   what a user writes without MetaLearner, one task at a time, as the keras.io
                  Reptile example (keras.io/examples/vision/reptile) writes its loop: eager, no
                  tf.function. fomaml: ``old_vars = model.get_weights()``; for each task
                  ``model.set_weights(old_vars)``, 5 eager inner steps on the support set
                  (``with tf.GradientTape() as tape: preds = model(x); loss = ...``, ``grads =
                  tape.gradient(loss, model.trainable_weights)``,
                  ``keras.optimizers.SGD(0.1).apply_gradients(zip(grads, ...))``), then the query
                  gradient at the adapted weights, taken eagerly and accumulated; the initial
                  weights back with ``set_weights`` and ``Adam(1e-3).apply_gradients`` (eager)
                  on the mean gradient. maml: set_weights cannot be differentiated through, so
                  each task's second-order meta-gradient comes from eager nested GradientTapes,
                  weights substituted with ``keras.StatelessScope`` (as tests/meta_oracle.py
                  does); gradients averaged, Adam applied eagerly. The baseline the issue names
                  ("a per-task Python loop as a user would write it (the keras.io Reptile
                  pattern)"). Eager steps take seconds: one step per timed block.
  compiled task loop
                  the same loop with every per-task piece compiled, a stricter baseline than the
                  issue asks for: fomaml 5 calls of a ``tf.function`` SGD step (GradientTape,
                  ``assign_sub``) and a ``tf.function`` query gradient per task; maml one
                  ``tf.function`` per task computing the meta-gradient above; Adam's ``apply`` in
                  a ``tf.function``. Only the loop over tasks (and set_weights) stays in Python.
                  Both loops get their task tensors prepared outside the timed step.
  raw engine      the same circuit evaluations straight on ``tfq_meta.ops.CircuitExpectation``
                  (same circuit, symbols and engine as the model's PQC), no Keras and no Dense
                  head (prediction = mean of the Z expectations): one ``tf.function`` with the
                  inner loop (5 x forward + gradient of the summed per-task MSE with respect to
                  per-task weights, symbol values ``[160, n_symbols]`` = features next to each
                  task's weights repeated per example) and the query forward + gradient with
                  respect to the initial weights; ``stop_gradient`` on the inner gradients for
                  fomaml, nested tapes (second order) for maml. No optimizer. What the step's
                  circuit work costs by itself.
  raw engine XLA  the same in ``tf.function(jit_compile=True)``.
  pennylane       the same meta-learning loop as PennyLane's expert users write it:
                  ``default.qubit``, torch interface, ``diff_method="backprop"``, parameter
                  broadcasting: ONE qnode call per inner step on all 160 examples, with each
                  task's circuit weights repeated for its examples (a ``[160, n_weights]`` tensor)
                  and the features ``[160]``; per-task Dense readout by ``einsum``; inner
                  gradients with ``torch.autograd.grad`` (``create_graph=True`` for maml,
                  detached for fomaml); ``torch.optim.Adam``. The same gates in the same order as
                  the Cirq circuit (bench/pennylane_circuits.py, as bench_engines.py, plus
                  ``rx(s * x)`` angles). Torch threads: whichever of 1 and 2 (this machine's
                  cores) runs a step faster, tried per configuration before timing
                  (``--torch-threads`` fixes it; bench/torch_threads.py). On a shared 2-core
                  machine 2 threads can be 40x slower than 1: torch's pool stalls on a core
                  another process holds.
  (--profile adds two columns: ``meta_gradients``, ``tf.function(MetaLearner.meta_gradients)``,
  the same step without the optimizer, metrics and Keras' train loop, to locate overhead; and
  ``compiled loop XLA``, the compiled task loop with ``jit_compile=True`` on all its
  tf.functions, to compare loop and MetaLearner when both are XLA-compiled.)

Before timing, the script checks that every implementation computes the same thing at the
initial weights, against two references: ``MetaLearner.meta_gradients`` (and the query loss after
``adapt_and_predict``), and the same step run by PennyLane in float64 (complex128 state). Query
losses (of both per-task loops, PennyLane, and the first ``train_on_batch`` of both
MetaLearners) must agree to 1e-4 and meta-gradients (both loops, PennyLane, MetaLearner) to
GRADIENT_TOLERANCE, relative to their size; the raw engine's expectations must equal the model's
PQC layer's. The errors are recorded in the JSON.

Method (bench/timing.py, as bench_engines.py): each configuration (qubits, algorithm) is warmed
up (the time of the first call, tracing and XLA compilation included, is reported separately),
then every implementation is timed in blocks of back-to-back steps (about 0.3 s each, at least
one step), one block per implementation per repeat, in an order that rotates between repeats (up
to 10 repeats, fewer, at least 4, where slow steps would take a configuration past 70 s). Times
are medians over repeats; a ratio is the median (with quartiles) over repeats of the ratio of two
blocks timed in the same repeat, which cancels most of the drift a shared machine adds.

Run:  pip install -e ".[bench]" && python bench/bench_meta.py     (about 12 minutes on 2 idle
      cores, 14 with --profile, after waiting up to --wait minutes for the machine to go idle;
      --quick for a 3-minute smoke run). Prints a table and the goals, writes
      bench/output/bench_meta.json.

Goals (issue text), judged on the MetaLearner as compiled by default (the XLA column is extra):
  * MetaLearner at least 10x the tasks/s of "a per-task Python loop as a user would write it
    (the keras.io Reptile pattern)": the keras.io loop (median paired ratio keras.io loop/meta
    >= 10), for fomaml and maml at 4 and 8 qubits. The compiled task loop's ratio is reported
    next to it against the same 10, as information (JSON ``compiled_loop_over_meta``): it is a
    stricter baseline than the issue's.
  * MetaLearner step time at most 1.5x the raw engine time of the same circuit evaluations
    (meta/raw <= 1.5, raw in a plain tf.function like the default MetaLearner; meta XLA / raw XLA
    is reported next to it).
  * MetaLearner at least 2x faster than PennyLane at 4 and 8 qubits (pennylane/meta >= 2).

Run it on an otherwise idle machine: other work on the 2 cores slows everything, and torch's
thread pool stalls outright when another process holds a core (PennyLane steps then take seconds
on 2 threads). The script waits for the CPUs to go idle (bench/machine_state.py: busy share below
25 %, polled every 30 s, up to --wait minutes), probes torch for stalls, warns, and records the
busy share before and after every configuration in the JSON.
"""
import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import tfq_meta  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from tfq_meta.meta import MetaLearner  # noqa: E402
from tfq_meta.ops import CircuitExpectation  # noqa: E402
from tfq_meta.tasks import Sinusoid  # noqa: E402

# bench/ is on sys.path when run as a script.
import machine_state  # noqa: E402
import timing  # noqa: E402
import torch_threads  # noqa: E402
from machine_state import busy_cpu_share  # noqa: E402
from pennylane_circuits import torch_qnode  # noqa: E402
from timing import paired_ratio, timed_first_call  # noqa: E402

OUTPUT = Path(__file__).parent / "output" / "bench_meta.json"
N_LAYERS = 3
N_TASKS = 16
SHOTS = 10
INNER_STEPS = 5
INNER_LR = 0.1
OUTER_LR = 1e-3
QUBITS = (4, 8)
ALGORITHMS = ("fomaml", "maml")
# Blocks of about 0.3 s (at least one step: the eager keras.io loop takes 2-11 s a step), with a
# pause before each so the thread pools of the implementation timed before go idle (TensorFlow's
# and torch's pools share the same 2 cores). The timed repeats of one configuration stop at about
# 70 s (never fewer than 4), which keeps the whole run near 12 minutes.
TIMING = timing.BlockTiming(block_seconds=0.3, settle_seconds=0.05, configuration_seconds=70.0,
                            min_repeats=4, warmup_steps=1)
TOLERANCE = 1e-4
# maml's meta-gradient differentiates through 5 inner gradients: in complex64 (the statevector
# engine's default) it carries rounding errors of a few 1e-4 relative (measured at 4 qubits: 4e-4
# against a float64 PennyLane run, 5e-5 with state_dtype="complex128"), so meta-gradients are
# compared to this; losses to TOLERANCE. Every error against the float64 reference is recorded.
GRADIENT_TOLERANCE = 1e-3
RAW_VALUE_TOLERANCE = 1e-5
GOAL_VS_LOOP = 10.0
GOAL_VS_RAW = 1.5
GOAL_VS_PENNYLANE = 2.0
GOAL_PENNYLANE_QUBITS = (4, 8)

META, META_XLA, KERAS_IO, LOOP, RAW, RAW_XLA, PL = (
    "MetaLearner", "Meta XLA", "keras.io loop", "compiled task loop", "raw", "raw XLA",
    "pennylane")
META_GRADS, LOOP_XLA = "meta_gradients", "compiled loop XLA"
IMPLEMENTATIONS = (META, META_XLA, KERAS_IO, LOOP, RAW, RAW_XLA, PL)
# (key, label, numerator, denominator): median over repeats of numerator/denominator.
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
# Ratio tables are printed this many columns wide: the default-compile ratios, then XLA's.
RATIO_COLUMNS = 4
PROFILE_RATIOS = (
    ("meta_vs_meta_gradients", "meta/grads", META, META_GRADS),
    ("meta_gradients_vs_raw", "grads/raw", META_GRADS, RAW),
    ("compiled_loop_xla_vs_meta_xla", "compiledXLA/metaXLA", LOOP_XLA, META_XLA),
)


# ----------------------------------------------------------------------------------------------
# The shared configuration.
# ----------------------------------------------------------------------------------------------

def new_model(n_qubits, weights=None):
    model = tfq_meta.models.student(n_features=1, n_qubits=n_qubits, n_layers=N_LAYERS)
    if weights is not None:
        model.set_weights(weights)
    return model


def configuration(n_qubits, seed=0):
    """Initial weights and the episode shared by every implementation."""
    keras.utils.set_random_seed(seed)
    model = new_model(n_qubits)
    episode = Sinusoid(shots=SHOTS, query_shots=SHOTS).sample(N_TASKS, seed=seed)
    return {"qubits": n_qubits, "weights": model.get_weights(), "episode": episode,
            "layer": model.get_layer("circuit"),
            "gates": len(list(model.get_layer("circuit").circuit.all_operations())),
            "parameters": model.count_params()}


def mean_query_loss(predictions, query_y):
    """Mean over tasks of each task's mean squared error."""
    return float(np.mean((np.asarray(predictions, np.float64) - query_y) ** 2))


# ----------------------------------------------------------------------------------------------
# MetaLearner.
# ----------------------------------------------------------------------------------------------

def meta_learner(config, algorithm, jit_compile="auto"):
    # Plain MAML (no stabilisers), the algorithm every other column computes; their cost is
    # bench_stabilisers.py's.
    meta = MetaLearner(new_model(config["qubits"], config["weights"]), algorithm,
                       inner_steps=INNER_STEPS, inner_lr=INNER_LR, learn_inner_lr=False,
                       multi_step_loss=False, inner_clipnorm=None)
    meta.compile(optimizer=keras.optimizers.Adam(OUTER_LR), loss="mse", jit_compile=jit_compile)
    episode = config["episode"]

    def step():
        return meta.train_on_batch(episode, return_dict=True)["loss"]

    return meta, step


# ----------------------------------------------------------------------------------------------
# The per-task loops a user writes without MetaLearner.
# ----------------------------------------------------------------------------------------------

def task_tensors(episode):
    """Per-task tensors, prepared once (outside the timed step), as a tf.data pipeline would."""
    return [tuple(tf.constant(episode[key][t]) for key in
                  ("support_x", "support_y", "query_x", "query_y"))
            for t in range(len(episode["support_x"]))]


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
                    predictions = model(support_x)
                loss = mse(support_y, predictions)
            gradients = inner.gradient(loss, values)
            values = [v - INNER_LR * g for v, g in zip(values, gradients)]
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            predictions = model(query_x)
        loss = mse(query_y, predictions)
    return outer.gradient(loss, variables), loss


class PerTaskLoop:
    """One task at a time, in Python, as a user writes it without MetaLearner: ``gradients()``
    the meta-gradient, ``step()`` a full step.

    fomaml adapts the model's own weights task by task (set_weights back to the initial ones
    before each); maml computes each task's meta-gradient functionally. Subclasses say how one
    task's gradient is computed and the outer optimizer applied: eagerly or compiled.
    """

    def __init__(self, config, algorithm):
        self.model = new_model(config["qubits"], config["weights"])
        self.optimizer = keras.optimizers.Adam(OUTER_LR)
        self.tasks = task_tensors(config["episode"])
        self.second_order = algorithm == "maml"

    def adapted_query_gradient(self, support_x, support_y, query_x, query_y):
        """fomaml: adapts the model's weights to the support set in place; returns the query
        gradient at the adapted weights and the query loss."""
        raise NotImplementedError

    def task_meta_gradient(self, support_x, support_y, query_x, query_y):
        """maml: one task's second-order meta-gradient and query loss."""
        raise NotImplementedError

    def apply(self, gradients):
        """The outer Adam step."""
        raise NotImplementedError

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
        n_tasks = len(self.tasks)
        return [g / n_tasks for g in total], tf.add_n(losses) / n_tasks

    def step(self):
        gradients, loss = self.gradients()
        self.apply(gradients)
        return loss


class KerasIoLoop(PerTaskLoop):
    """The issue's baseline, written as the keras.io Reptile example writes its loop: eager,
    GradientTape per inner step, an SGD optimizer's apply_gradients, Adam applied eagerly."""

    def __init__(self, config, algorithm):
        super().__init__(config, algorithm)
        self.inner_optimizer = keras.optimizers.SGD(INNER_LR)

    def adapted_query_gradient(self, support_x, support_y, query_x, query_y):
        model = self.model
        for _ in range(INNER_STEPS):
            with tf.GradientTape() as tape:
                preds = model(support_x)
                loss = mse(support_y, preds)
            grads = tape.gradient(loss, model.trainable_weights)
            self.inner_optimizer.apply_gradients(zip(grads, model.trainable_weights))
        with tf.GradientTape() as tape:
            preds = model(query_x)
            loss = mse(query_y, preds)
        return tape.gradient(loss, model.trainable_weights), loss

    def task_meta_gradient(self, *task):
        return maml_task_gradient(self.model, *task)

    def apply(self, gradients):
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_weights))


class CompiledTaskLoop(PerTaskLoop):
    """The same loop with every per-task piece a tf.function: a stricter baseline than the
    issue's (a user who compiles everything but the loop over tasks)."""

    def __init__(self, config, algorithm, jit_compile=False):
        super().__init__(config, algorithm)
        model = self.model
        variables = model.trainable_variables
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

        @compiled
        def apply(gradients):
            self.optimizer.apply(gradients, variables)

        self._sgd_step, self._query_gradient, self._apply = sgd_step, query_gradient, apply
        self._task_meta_gradient = compiled(lambda *task: maml_task_gradient(model, *task))

    def adapted_query_gradient(self, support_x, support_y, query_x, query_y):
        for _ in range(INNER_STEPS):
            self._sgd_step(support_x, support_y)
        return self._query_gradient(query_x, query_y)

    def task_meta_gradient(self, *task):
        return self._task_meta_gradient(*task)

    def apply(self, gradients):
        self._apply(gradients)


# ----------------------------------------------------------------------------------------------
# The raw engine: the same circuit evaluations on CircuitExpectation, nothing else.
# ----------------------------------------------------------------------------------------------

def raw_engine(config, algorithm, jit_compile):
    """Returns (step, expectation op, symbol values of the support set at the initial weights)."""
    layer = config["layer"]
    expectation = CircuitExpectation(layer.circuit, layer.data_symbols + layer.weight_symbols,
                                     layer.observables, engine=layer.engine)
    episode = config["episode"]
    n_weights = len(layer.weight_symbols)
    support_x = tf.constant(episode["support_x"].reshape(-1, 1))
    query_x = tf.constant(episode["query_x"].reshape(-1, 1))
    support_y = tf.constant(episode["support_y"][..., 0])
    query_y = tf.constant(episode["query_y"][..., 0])
    theta = tf.Variable(config["weights"][0])
    second_order = algorithm == "maml"

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
                if not second_order:
                    gradients = tf.stop_gradient(gradients)
                weights = weights - INNER_LR * gradients
            query_loss = tf.reduce_mean(task_losses(weights, query_x, query_y))
        return query_loss, outer.gradient(query_loss, theta)

    support_values = tf.concat(
        [support_x, tf.tile(theta[tf.newaxis], [N_TASKS * SHOTS, 1])], axis=1)
    return step, expectation, support_values


# ----------------------------------------------------------------------------------------------
# PennyLane.
# ----------------------------------------------------------------------------------------------

class PennyLaneMeta:
    """The meta-learning step in PennyLane + torch, all tasks broadcast in one qnode call."""

    def __init__(self, config, algorithm, dtype=torch.float32):
        # Called with features [batch, n_features] and weights [batch, n_weights] (each task's
        # weights repeated for its examples): every gate broadcasts.
        self.circuit = torch_qnode(config["layer"])
        self.n_qubits = config["qubits"]
        self.second_order = algorithm == "maml"
        circuit_weights, kernel, bias = config["weights"]
        self.parameters = [torch.tensor(w, dtype=dtype, requires_grad=True)
                           for w in (circuit_weights, kernel, bias)]
        self.optimizer = torch.optim.Adam(self.parameters, lr=OUTER_LR)
        episode = config["episode"]
        self.support_x, self.support_y, self.query_x, self.query_y = (
            torch.tensor(episode[key], dtype=dtype)
            for key in ("support_x", "support_y", "query_x", "query_y"))

    def predictions(self, parameters, x):
        """``[tasks, shots, 1]`` predictions, each task with its own weights."""
        circuit_weights, kernel, bias = parameters
        n_tasks, n_shots = x.shape[:2]
        expectations = torch.stack(
            self.circuit(x.reshape(n_tasks * n_shots, -1),
                         circuit_weights.repeat_interleave(n_shots, dim=0)), dim=1)
        expectations = expectations.reshape(n_tasks, n_shots, self.n_qubits).to(kernel.dtype)
        return torch.einsum("tsq,tqo->tso", expectations, kernel) + bias[:, None, :]

    @staticmethod
    def task_losses(predictions, y):
        return ((predictions - y) ** 2).mean(dim=(1, 2))

    def query_loss(self):
        n_tasks = self.support_x.shape[0]
        parameters = [p.expand(n_tasks, *p.shape) for p in self.parameters]
        for _ in range(INNER_STEPS):
            loss = self.task_losses(self.predictions(parameters, self.support_x),
                                    self.support_y).sum()
            gradients = torch.autograd.grad(loss, parameters, create_graph=self.second_order)
            parameters = [p - INNER_LR * g for p, g in zip(parameters, gradients)]
        return self.task_losses(self.predictions(parameters, self.query_x), self.query_y).mean()

    def gradients(self):
        self.optimizer.zero_grad()
        loss = self.query_loss()
        loss.backward()
        return [p.grad for p in self.parameters], loss.detach()

    def step(self):
        _, loss = self.gradients()
        self.optimizer.step()
        return loss


# ----------------------------------------------------------------------------------------------
# Building and checking.
# ----------------------------------------------------------------------------------------------

def relative_error(value, expected):
    """Largest absolute difference, relative to the reference's size (at least 1)."""
    value, expected = np.asarray(value, np.float64), np.asarray(expected, np.float64)
    return float(np.max(np.abs(value - expected))) / max(1.0, float(np.max(np.abs(expected))))


def check(name, references, errors, loss, gradients=None):
    """Records ``name``'s errors against every reference and raises unless it matches them.

    ``references``: {reference name: (query loss, meta-gradients)}: MetaLearner itself and a
    float64 PennyLane run of the same step.
    """
    for reference, (expected_loss, expected_gradients) in references.items():
        measured = {"query_loss": (relative_error(loss, expected_loss), TOLERANCE)}
        if gradients is not None:
            measured["meta_gradient"] = (max(relative_error(g, e) for g, e in
                                             zip(gradients, expected_gradients)),
                                         GRADIENT_TOLERANCE)
        for key, (error, tolerance) in measured.items():
            errors.setdefault(name, {})[f"{key}_vs_{reference}"] = error
            if error > tolerance:
                raise AssertionError(
                    f"{name} disagrees with {reference} on the {key} by {error:.2e} (relative): "
                    "not the same computation, so timing it would mean nothing.")


def checked_loop(name, loop, references, errors):
    """A per-task loop's step, after checking its first meta-gradient (then applied, as the
    other implementations' first steps are); and the time of that first call."""
    (gradients, loss), seconds = timed_first_call(loop.gradients)
    check(name, references, errors, loss, gradients)
    loop.apply(gradients)
    return loop.step, seconds


def build_steps(config, algorithm, profile, torch_thread_count=None):
    """Every implementation of one configuration, checked and run once; first-call times."""
    episode = config["episode"]
    steps, first_call, errors = {}, {}, {}

    # References at the initial weights: a float64 PennyLane run (complex128 state) and
    # MetaLearner's own meta-gradient and query loss (eagerly).
    float64 = PennyLaneMeta(config, algorithm, dtype=torch.float64)
    gradients, loss = float64.gradients()
    references = {"float64": (loss.numpy(), [g.numpy() for g in gradients])}
    meta, steps[META] = meta_learner(config, algorithm)
    gradients = [g.numpy() for g in meta.meta_gradients(episode)]
    loss = mean_query_loss(
        meta.adapt_and_predict(episode["support_x"], episode["support_y"], episode["query_x"]),
        episode["query_y"])
    check(META + " (eager)", {"float64": references["float64"]}, errors, loss, gradients)
    references = {"MetaLearner": (loss, gradients), **references}

    for name, jit_compile in ((META, "auto"), (META_XLA, True)):
        if name == META_XLA:
            _, steps[META_XLA] = meta_learner(config, algorithm, jit_compile=True)
        loss, first_call[name] = timed_first_call(steps[name])  # logs the loss before its update
        check(name, references, errors, loss)
    first_call["default_jit_compile"] = meta.jit_compile  # moved to the row by the caller

    for name, loop in ((KERAS_IO, KerasIoLoop(config, algorithm)),
                       (LOOP, CompiledTaskLoop(config, algorithm))):
        steps[name], first_call[name] = checked_loop(name, loop, references, errors)

    for name, jit_compile in ((RAW, False), (RAW_XLA, True)):
        steps[name], expectation, support_values = raw_engine(config, algorithm, jit_compile)
        _, first_call[name] = timed_first_call(steps[name])
    layer_output = config["layer"](episode["support_x"].reshape(-1, 1))
    error = relative_error(expectation(support_values), layer_output)
    errors[RAW] = {"support_expectations_vs_pqc_layer": error}
    if error > RAW_VALUE_TOLERANCE:
        raise AssertionError(f"the raw engine's expectations differ from the model's PQC layer "
                             f"by {error:.2e}: not the same circuit.")

    pennylane = PennyLaneMeta(config, algorithm)
    (gradients, loss), first_call[PL] = timed_first_call(pennylane.gradients)
    check(PL, references, errors, loss, gradients)
    pennylane.optimizer.step()
    steps[PL] = pennylane.step
    errors["torch_threads"] = torch_threads.choose_threads(pennylane.step, TIMING,
                                                           torch_thread_count)

    if profile:
        meta_gradients = tf.function(meta.meta_gradients, autograph=False)
        steps[META_GRADS] = lambda: meta_gradients(episode)
        _, first_call[META_GRADS] = timed_first_call(steps[META_GRADS])
        steps[LOOP_XLA], first_call[LOOP_XLA] = checked_loop(
            LOOP_XLA, CompiledTaskLoop(config, algorithm, jit_compile=True), references, errors)
    return steps, first_call, errors


# ----------------------------------------------------------------------------------------------
# One configuration, timed as bench/timing.py says.
# ----------------------------------------------------------------------------------------------

def run_configuration(n_qubits, algorithm, args):
    config = configuration(n_qubits)
    machine = {"busy_cpu_share_before": busy_cpu_share(0.5)}
    steps, first_call, errors = build_steps(config, algorithm, args.profile, args.torch_threads)
    default_jit_compile = first_call.pop("default_jit_compile")
    plan = dataclasses.replace(TIMING, configuration_seconds=args.configuration_seconds)
    n_steps, samples = plan.measure(steps, args.repeats)
    medians = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    ratios = RATIOS + (PROFILE_RATIOS if args.profile else ())
    row = {
        "qubits": n_qubits,
        "algorithm": algorithm,
        "gates": config["gates"],
        "parameters": config["parameters"],
        "steps_per_block": n_steps,
        "repeats": len(samples[META]),
        "median_ms": medians,
        "tasks_per_second": {name: 1e3 * N_TASKS / ms for name, ms in medians.items()},
        "first_call_s": first_call,
        "meta_learner_default_jit_compile": default_jit_compile,
        "samples_ms": {name: [1e3 * v for v in values] for name, values in samples.items()},
        "ratios": {key: paired_ratio(samples, numerator, denominator)
                   for key, _, numerator, denominator in ratios},
        "relative_errors": errors,
        "torch_threads": errors.pop("torch_threads"),
        "machine": {**machine, "busy_cpu_share_after": busy_cpu_share(0.5)},
    }
    print(f"  {n_qubits} qubits {algorithm}: "
          + ", ".join(f"{k} {v:.1f} ms" for k, v in medians.items()), flush=True)
    print("    first call (trace/compile) s: "
          + ", ".join(f"{k} {v:.1f}" for k, v in first_call.items())
          + f"; torch threads {row['torch_threads']}; busy share before/after "
          + f"{row['machine']['busy_cpu_share_before']:.2f}/"
          + f"{row['machine']['busy_cpu_share_after']:.2f}", flush=True)
    return row


# ----------------------------------------------------------------------------------------------
# Goals and report.
# ----------------------------------------------------------------------------------------------

def goals(rows):
    def by_row(key, qubits=None):
        return {f"{row['qubits']}q {row['algorithm']}": row["ratios"][key]["median"]
                for row in rows if qubits is None or row["qubits"] in qubits}

    def at_least(goal, key, qubits=None):
        ratios = by_row(key, qubits)
        return {"goal": f">= {goal}", "by_configuration": ratios,
                "with_xla": by_row(f"{key}_xla", qubits),
                "met": all(r >= goal for r in ratios.values())}

    raw = by_row("meta_vs_raw")
    pennylane = at_least(GOAL_VS_PENNYLANE, "pennylane_vs_meta", GOAL_PENNYLANE_QUBITS)
    missing = [n for n in GOAL_PENNYLANE_QUBITS if n not in {row["qubits"] for row in rows}]
    return {
        # The goal, against the baseline it names: the keras.io (eager) loop.
        "loop_over_meta": {"baseline": KERAS_IO, **at_least(GOAL_VS_LOOP,
                                                            "keras_io_loop_vs_meta")},
        # Information, not the goal: the same 10 against a stricter baseline.
        "compiled_loop_over_meta": {"baseline": LOOP, "information_only": True,
                                    **at_least(GOAL_VS_LOOP, "compiled_loop_vs_meta")},
        "meta_over_raw": {"goal": f"<= {GOAL_VS_RAW}", "by_configuration": raw,
                          "with_xla": by_row("meta_xla_vs_raw_xla"),
                          "met": all(r <= GOAL_VS_RAW for r in raw.values())},
        # met is None (undecided) when a goal qubit count was not measured (--quick, --qubits).
        "pennylane_over_meta": {**pennylane, "not_measured": missing,
                                "met": None if missing and pennylane["met"]
                                else pennylane["met"]},
    }


def format_rate(tasks_per_second):
    return f"{tasks_per_second:.0f}" if tasks_per_second >= 10 else f"{tasks_per_second:.1f}"


def print_table(rows, profile):
    names = list(rows[0]["median_ms"])
    widths = {name: max(15, len(name)) for name in names}
    ratios = RATIOS + (PROFILE_RATIOS if profile else ())
    header = (f"{'config':>12} | " + " ".join(f"{name:>{widths[name]}}" for name in names))
    print(f"\nms per meta-step of {N_TASKS} tasks x {2 * SHOTS} examples, {INNER_STEPS} inner "
          "steps (median) [tasks/s]:")
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = " ".join(
            f"{row['median_ms'][n]:>7.1f} [{format_rate(row['tasks_per_second'][n]):>5}]"
            .rjust(widths[n]) for n in names)
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | {cells}")
    print("\nfirst call, s (tracing, XLA compilation, first run):")
    for row in rows:
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | " + " ".join(
            f"{n} {row['first_call_s'][n]:.1f}" for n in names))
    print("\nratios (median [quartiles] of paired repeats):")
    for start in range(0, len(ratios), RATIO_COLUMNS):
        print_ratios(rows, ratios[start:start + RATIO_COLUMNS])


def print_ratios(rows, ratios):
    header = f"{'config':>12} | " + " ".join(f"{label:>22}" for _, label, _, _ in ratios)
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | " + " ".join(
            f"{timing.format_ratio(row['ratios'][key]):>22}" for key, _, _, _ in ratios))


def print_goals(result):
    verdict = {True: "met", False: "MISSED", None: "UNDECIDED (not all goal qubits measured)"}
    for key, text in (("loop_over_meta", "goal: keras.io loop / MetaLearner"),
                      ("compiled_loop_over_meta", "information (stricter baseline than the "
                       "issue's): compiled task loop / MetaLearner"),
                      ("meta_over_raw", "goal: MetaLearner / raw engine"),
                      ("pennylane_over_meta", "goal: PennyLane / MetaLearner")):
        goal = result[key]
        print(f"{text} {goal['goal']}: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["by_configuration"].items())
              + f" -> {verdict[goal['met']]}   (with XLA: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["with_xla"].items()) + ")")


# ----------------------------------------------------------------------------------------------
# What was measured, on what (the machine checks are bench/torch_threads.py's).
# ----------------------------------------------------------------------------------------------

def source_fingerprint():
    """A hash of tfq_meta's sources. Autograph reads a function's source when it traces it, so
    files edited while the script runs (after a long wait for an idle machine) break or change
    what is traced; the script warns when the hash changed."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(tfq_meta.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def main(args):
    # Every configuration traces new tf.functions on purpose; TF's retracing warning is noise.
    tf.get_logger().setLevel("ERROR")
    sources = source_fingerprint()
    idle = machine_state.wait_for_idle(args.wait)
    machine = {**torch_threads.check_machine(), "wait_for_idle": idle}
    start = time.perf_counter()
    rows = [run_configuration(n, algorithm, args)
            for n in args.qubits for algorithm in args.algorithms]
    print_table(rows, args.profile)
    verdicts = goals(rows)
    print()
    print_goals(verdicts)
    machine["at_end"] = torch_threads.check_machine("at the end")
    if source_fingerprint() != sources:
        print("WARNING: tfq_meta's sources changed while this script ran (someone edited them): "
              "the times may mix two versions. Rerun.", flush=True)
    print(f"total {time.perf_counter() - start:.0f} s (machine busy share at start "
          f"{machine['busy_cpu_share']:.2f}, at end {machine['at_end']['busy_cpu_share']:.2f})")
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps({
        "measures": f"one meta-learning step: {N_TASKS} sinusoid tasks x ({SHOTS} support + "
                    f"{SHOTS} query), {INNER_STEPS} inner SGD steps (lr {INNER_LR}), query-loss "
                    f"meta-gradient, outer Adam({OUTER_LR})",
        "model": f"tfq_meta.models.student(n_features=1, n_qubits=Q, n_layers={N_LAYERS}) "
                 "(re-uploading PQC with trainable input scales, Z on each qubit, engine auto; "
                 "Dense(1) readout), loss mse",
        "implementations": {
            META: "MetaLearner.train_on_batch, compiled with Keras' defaults (no XLA on CPU)",
            META_XLA: "MetaLearner.train_on_batch, compile(jit_compile=True)",
            KERAS_IO: "per-task Python loop as the keras.io Reptile example writes it, eager: "
                      "fomaml get/set_weights + GradientTape + SGD.apply_gradients inner steps "
                      "+ query gradient per task; maml eager nested tapes per task "
                      "(StatelessScope); Adam.apply_gradients. The issue's baseline",
            LOOP: "the same loop compiled (stricter than the issue's baseline): fomaml "
                  "set_weights + tf.function SGD steps + query gradient per task; maml one "
                  "tf.function per task (nested tapes, StatelessScope); tf.function Adam apply",
            RAW: "CircuitExpectation only (same circuit and engine), inner loop + query "
                 "gradient in one tf.function, no head, no optimizer",
            RAW_XLA: "the same with jit_compile=True",
            PL: "PennyLane default.qubit, torch, backprop, parameter broadcasting over all "
                f"{N_TASKS * SHOTS} examples with per-example weights, torch.autograd.grad "
                "inner loop, torch Adam, torch threads: the faster of 1 and 2 (rows)",
            META_GRADS: "(--profile) tf.function(MetaLearner.meta_gradients): no optimizer, "
                        "metrics or Keras train loop",
            LOOP_XLA: "(--profile) the compiled task loop with jit_compile=True on its "
                      "tf.functions",
        },
        "goals": verdicts,
        "machine": machine,
        "environment": machine_state.environment(
            torch=torch.__version__, pennylane=qml.__version__,
            tfq_meta_sources_at_start=sources, tfq_meta_sources_at_end=source_fingerprint()),
        "rows": rows,
    }, indent=2, default=str))
    print(f"wrote {OUTPUT}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation; slow configurations get "
                             f"fewer (down to {TIMING.min_repeats})")
    parser.add_argument("--configuration-seconds", type=float,
                        default=TIMING.configuration_seconds,
                        help="timed repeats of one configuration stop at about this many seconds")
    parser.add_argument("--wait", type=float, default=20.0,
                        help="minutes to wait at most for the CPUs to go idle (0: start at once)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads for PennyLane (default: the faster of 1 and 2)")
    parser.add_argument("--profile", action="store_true",
                        help="also time tf.function(MetaLearner.meta_gradients), to locate the "
                             "MetaLearner's overhead over the raw engine")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 4 qubits, 2 repeats, no waiting")
    args = parser.parse_args()
    if args.quick:
        args.qubits, args.repeats, args.wait = [4], 2, 0.0
        args.configuration_seconds = 5.0
    return args


if __name__ == "__main__":
    main(parse_args())
