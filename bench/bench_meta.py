"""Tasks per second of a MetaLearner step against a per-task loop, the raw engine and PennyLane.

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
  MetaLearner     ``MetaLearner(model, algorithm, inner_steps=5, inner_lr=0.1)`` compiled with
                  ``Adam(1e-3)``, ``loss="mse"`` and Keras' defaults (``jit_compile="auto"``,
                  which is off on a CPU-only machine); one ``train_on_batch(episode)`` per step,
                  episode as NumPy arrays, as ``Sinusoid.sample`` returns them. All 16 tasks run
                  in one batch: one engine call per inner step (DESIGN fact 3).
  MetaLearner XLA the same compiled with ``jit_compile=True``.
  per-task loop   what a user writes without MetaLearner, one task at a time (keras.io Reptile
                  pattern). fomaml: for each task ``model.set_weights(initial)``, 5 calls of a
                  ``tf.function`` SGD step on the support set (GradientTape, ``assign_sub``), a
                  ``tf.function`` query gradient at the adapted weights, accumulated; then the
                  initial weights back and Adam (its ``apply`` in a ``tf.function`` too) on the
                  mean gradient. maml: set_weights cannot be differentiated through, so one
                  ``tf.function`` computes one task's second-order meta-gradient (nested
                  GradientTapes, weights substituted with ``keras.StatelessScope`` as
                  tests/meta_oracle.py does), called once per task from a Python loop; gradients
                  averaged, Adam applied. Task tensors are prepared outside the timed step.
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
                  the Cirq circuit (translated as in bench_engines.py, plus ``rx(s * x)`` angles).
                  Torch threads: whichever of 1 and 2 (this machine's cores) runs a step faster,
                  tried per configuration before timing (``--torch-threads`` fixes it). On a
                  shared 2-core machine 2 threads can be 40x slower than 1: torch's pool stalls
                  on a core another process holds.
  (--profile adds two columns: ``meta_gradients``, ``tf.function(MetaLearner.meta_gradients)``,
  the same step without the optimizer, metrics and Keras' train loop, to locate overhead; and
  ``loop XLA``, the per-task loop with ``jit_compile=True`` on all its tf.functions, to compare
  loop and MetaLearner when both are XLA-compiled.)

Before timing, the script checks that every implementation computes the same thing at the
initial weights, against two references: ``MetaLearner.meta_gradients`` (and the query loss after
``adapt_and_predict``), and the same step run by PennyLane in float64 (complex128 state). Query
losses (of the per-task loop, PennyLane, and the first ``train_on_batch`` of both MetaLearners)
must agree to 1e-4 and meta-gradients (per-task loop, PennyLane, MetaLearner) to
GRADIENT_TOLERANCE, relative to their size; the raw engine's expectations must equal the model's
PQC layer's. The errors are recorded in the JSON.

Method (as bench_engines.py): each configuration (qubits, algorithm) is warmed up (the time of
the first call, tracing and XLA compilation included, is reported separately), then every
implementation is timed in blocks of back-to-back steps (about BLOCK_SECONDS each, at least one
step), one block per implementation per repeat, in an order that rotates between repeats (up to
10 repeats, fewer, at least 4, where slow steps would take a configuration past
CONFIGURATION_SECONDS). Times are medians over repeats; a ratio is the median (with quartiles)
over repeats of the ratio of two blocks timed in the same repeat, which cancels most of the drift
a shared machine adds.

Run:  pip install -e ".[bench]" && python bench/bench_meta.py     (about 8 minutes on 2 idle
      cores, 10 with --profile, after waiting up to --wait minutes for the machine to go idle;
      --quick for a 2-minute smoke run). Prints a table and the goals, writes
      bench/output/bench_meta.json.

Goals (issue text), judged on the MetaLearner as compiled by default (the XLA column is extra):
  * MetaLearner at least 10x the tasks/s of the per-task loop (median paired ratio loop/meta
    >= 10), for fomaml and maml at 4 and 8 qubits.
  * MetaLearner step time at most 1.5x the raw engine time of the same circuit evaluations
    (meta/raw <= 1.5, raw in a plain tf.function like the default MetaLearner; meta XLA / raw XLA
    is reported next to it).
  * MetaLearner at least 2x faster than PennyLane at 4 and 8 qubits (pennylane/meta >= 2).

Run it on an otherwise idle machine: other work on the 2 cores slows everything, and torch's
thread pool stalls outright when another process holds a core (PennyLane steps then take seconds
on 2 threads). The script waits for the CPUs to go idle (busy share below IDLE_SHARE, polled every
30 s, up to --wait minutes), probes torch for stalls, warns, and records the busy share before
and after every configuration in the JSON.
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
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pennylane as qml  # noqa: E402
import sympy  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402

import tfq_meta  # noqa: E402  (checks the Keras backend, loads TFQ's ops)
from tfq_meta.meta import MetaLearner  # noqa: E402
from tfq_meta.ops import CircuitExpectation  # noqa: E402
from tfq_meta.tasks import Sinusoid  # noqa: E402

from machine_state import busy_cpu_share  # bench/ is on sys.path when run as a script

OUTPUT = Path(__file__).parent / "output" / "bench_meta.json"
N_LAYERS = 3
N_TASKS = 16
SHOTS = 10
INNER_STEPS = 5
INNER_LR = 0.1
OUTER_LR = 1e-3
QUBITS = (4, 8)
ALGORITHMS = ("fomaml", "maml")
TORCH_THREAD_CHOICES = (1, 2)
# Each timed block runs about this long (at least one step), so timer and loop overheads vanish.
BLOCK_SECONDS = 0.3
# Pause before each block so the thread pools of the implementation timed before go idle:
# TensorFlow's and torch's pools share the same 2 cores.
SETTLE_SECONDS = 0.05
# Timed repeats of one configuration stop at about this many seconds (never fewer than
# MIN_REPEATS), which keeps the whole run near 10 minutes.
CONFIGURATION_SECONDS = 70.0
MIN_REPEATS = 4
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
# torch.sin of STALL_PROBE_ELEMENTS floats (enough for torch to split it across threads) this
# many times slower on 2 threads than on 1 means torch's thread pool stalls on busy cores.
STALL_PROBE_ELEMENTS = N_TASKS * SHOTS * 2 ** 8
STALL_RATIO = 3.0
# Waiting for an idle machine: busy share below this, polled this often.
IDLE_SHARE = 0.25
POLL_SECONDS = 30.0

META, META_XLA, LOOP, RAW, RAW_XLA, PL = (
    "MetaLearner", "Meta XLA", "task loop", "raw", "raw XLA", "pennylane")
META_GRADS, LOOP_XLA = "meta_gradients", "loop XLA"
IMPLEMENTATIONS = (META, META_XLA, LOOP, RAW, RAW_XLA, PL)
# (key, label, numerator, denominator): median over repeats of numerator/denominator.
RATIOS = (
    ("loop_vs_meta", "loop/meta", LOOP, META),
    ("meta_vs_raw", "meta/raw", META, RAW),
    ("pennylane_vs_meta", "pl/meta", PL, META),
    ("loop_vs_meta_xla", "loop/metaXLA", LOOP, META_XLA),
    ("meta_xla_vs_raw_xla", "metaXLA/rawXLA", META_XLA, RAW_XLA),
    ("pennylane_vs_meta_xla", "pl/metaXLA", PL, META_XLA),
    ("meta_vs_meta_xla", "meta/metaXLA", META, META_XLA),
)
PROFILE_RATIOS = (
    ("meta_vs_meta_gradients", "meta/grads", META, META_GRADS),
    ("meta_gradients_vs_raw", "grads/raw", META_GRADS, RAW),
    ("loop_xla_vs_meta_xla", "loopXLA/metaXLA", LOOP_XLA, META_XLA),
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
    meta = MetaLearner(new_model(config["qubits"], config["weights"]), algorithm,
                       inner_steps=INNER_STEPS, inner_lr=INNER_LR)
    meta.compile(optimizer=keras.optimizers.Adam(OUTER_LR), loss="mse", jit_compile=jit_compile)
    episode = config["episode"]

    def step():
        return meta.train_on_batch(episode, return_dict=True)["loss"]

    return meta, step


# ----------------------------------------------------------------------------------------------
# The per-task loop a user writes without MetaLearner.
# ----------------------------------------------------------------------------------------------

def task_tensors(episode):
    """Per-task tensors, prepared once (outside the timed step), as a tf.data pipeline would."""
    return [tuple(tf.constant(episode[key][t]) for key in
                  ("support_x", "support_y", "query_x", "query_y"))
            for t in range(len(episode["support_x"]))]


def mse(y, predictions):
    return tf.reduce_mean(keras.losses.mean_squared_error(y, predictions))


class TaskLoop:
    """One task at a time, in Python; ``gradients()`` the meta-gradient, ``step()`` a full step."""

    def __init__(self, config, algorithm, jit_compile=False):
        self.model = new_model(config["qubits"], config["weights"])
        self.variables = self.model.trainable_variables
        self.optimizer = keras.optimizers.Adam(OUTER_LR)
        self.optimizer.build(self.variables)
        self.tasks = task_tensors(config["episode"])
        self.second_order = algorithm == "maml"
        model, variables = self.model, self.variables

        @tf.function(jit_compile=jit_compile, autograph=False)
        def sgd_step(x, y):
            with tf.GradientTape() as tape:
                loss = mse(y, model(x))
            for v, g in zip(variables, tape.gradient(loss, variables)):
                v.assign_sub(INNER_LR * g)
            return loss

        @tf.function(jit_compile=jit_compile, autograph=False)
        def query_gradient(x, y):
            with tf.GradientTape() as tape:
                loss = mse(y, model(x))
            return tape.gradient(loss, variables), loss

        @tf.function(jit_compile=jit_compile, autograph=False)
        def task_meta_gradient(support_x, support_y, query_x, query_y):
            """One task's exact second-order MAML gradient, weights substituted functionally."""
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

        @tf.function(jit_compile=jit_compile, autograph=False)
        def apply(gradients):
            self.optimizer.apply(gradients, variables)

        self._sgd_step, self._query_gradient = sgd_step, query_gradient
        self._task_meta_gradient, self._apply = task_meta_gradient, apply

    def gradients(self):
        total, losses = None, []
        if self.second_order:
            for task in self.tasks:
                gradients, loss = self._task_meta_gradient(*task)
                total = gradients if total is None else [a + g for a, g in zip(total, gradients)]
                losses.append(loss)
        else:
            initial = self.model.get_weights()
            for support_x, support_y, query_x, query_y in self.tasks:
                self.model.set_weights(initial)
                for _ in range(INNER_STEPS):
                    self._sgd_step(support_x, support_y)
                gradients, loss = self._query_gradient(query_x, query_y)
                total = gradients if total is None else [a + g for a, g in zip(total, gradients)]
                losses.append(loss)
            self.model.set_weights(initial)
        n_tasks = len(self.tasks)
        return [g / n_tasks for g in total], tf.add_n(losses) / n_tasks

    def step(self):
        gradients, loss = self.gradients()
        self._apply(gradients)
        return loss


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

PENNYLANE_GATES = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ, "CNOT": qml.CNOT}
CIRQ_ROTATIONS = {cirq.Rx: "RX", cirq.Ry: "RY", cirq.Rz: "RZ"}


def pennylane_program(layer):
    """The Cirq circuit as [(PennyLane gate name, wires, angle)], in order.

    ``angle`` is None (CNOT), ("weight", j), ("feature", i) or ("scaled", j, i) for
    weight j * feature i (the trainable input scales). cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ),
    likewise ry and rz.
    """
    wire = {q: i for i, q in enumerate(sorted(layer.circuit.all_qubits()))}
    features = {s: i for i, s in enumerate(layer.data_symbols)}
    weights = {s: j for j, s in enumerate(layer.weight_symbols)}
    program = []
    for op in layer.circuit.all_operations():
        wires = [wire[q] for q in op.qubits]
        if op.gate == cirq.CNOT:
            program.append(("CNOT", wires, None))
            continue
        if type(op.gate) not in CIRQ_ROTATIONS:
            raise ValueError(f"No PennyLane translation for {op!r} in this benchmark.")
        angle = sympy.simplify(op.gate.exponent * sympy.pi)  # Rx stores exponent θ/π.
        factors = angle.as_ordered_factors()
        if angle in weights:
            source = ("weight", weights[angle])
        elif angle in features:
            source = ("feature", features[angle])
        elif (len(factors) == 2 and sum(f in weights for f in factors) == 1
              and sum(f in features for f in factors) == 1):
            scale = next(f for f in factors if f in weights)
            feature = next(f for f in factors if f in features)
            source = ("scaled", weights[scale], features[feature])
        else:
            raise ValueError(f"{op!r}: angle {angle} is not a weight, a feature or their product.")
        program.append((CIRQ_ROTATIONS[type(op.gate)], wires, source))
    return program


class PennyLaneMeta:
    """The meta-learning step in PennyLane + torch, all tasks broadcast in one qnode call."""

    def __init__(self, config, algorithm, dtype=torch.float32):
        n_qubits, program = config["qubits"], pennylane_program(config["layer"])
        device = qml.device("default.qubit", wires=n_qubits)

        @qml.qnode(device, interface="torch", diff_method="backprop")
        def circuit(features, weights):
            # features [batch, n_features], weights [batch, n_weights]: every gate broadcasts.
            for name, wires, source in program:
                if source is None:
                    PENNYLANE_GATES[name](wires=wires)
                    continue
                if source[0] == "weight":
                    angle = weights[:, source[1]]
                elif source[0] == "feature":
                    angle = features[:, source[1]]
                else:
                    angle = weights[:, source[1]] * features[:, source[2]]
                PENNYLANE_GATES[name](angle, wires=wires[0])
            return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

        self.circuit = circuit
        self.n_qubits = n_qubits
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

def timed_first_call(function):
    start = time.perf_counter()
    result = function()
    sync(result)
    return result, time.perf_counter() - start


def sync(result):
    """Waits for a step's result (TensorFlow CPU ops are synchronous anyway; this makes sure)."""
    if isinstance(result, (tuple, list)):
        return [sync(r) for r in result]
    return np.asarray(result.detach() if isinstance(result, torch.Tensor) else result)


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


def choose_torch_threads(step, requested=None):
    """Sets torch's thread count to ``requested``, or to whichever of TORCH_THREAD_CHOICES runs
    ``step`` faster (best of 2 steps each, after one); returns the choice and the trial times."""
    if requested:
        torch.set_num_threads(requested)
        return {"threads": requested}
    trial = {}
    for threads in TORCH_THREAD_CHOICES:
        torch.set_num_threads(threads)
        step()
        trial[threads] = min(time_block(step, 1) for _ in range(2))
    best = min(trial, key=trial.get)
    torch.set_num_threads(best)
    return {"threads": best, "trial_ms": {n: 1e3 * t for n, t in trial.items()}}


def build_steps(config, algorithm, profile, torch_threads=None):
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

    loop = TaskLoop(config, algorithm)
    (gradients, loss), first_call[LOOP] = timed_first_call(loop.gradients)
    check(LOOP, references, errors, loss, gradients)
    loop._apply(gradients)
    steps[LOOP] = loop.step

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
    errors["torch_threads"] = choose_torch_threads(pennylane.step, torch_threads)

    if profile:
        meta_gradients = tf.function(meta.meta_gradients, autograph=False)
        steps[META_GRADS] = lambda: meta_gradients(episode)
        _, first_call[META_GRADS] = timed_first_call(steps[META_GRADS])
        loop = TaskLoop(config, algorithm, jit_compile=True)
        (gradients, loss), first_call[LOOP_XLA] = timed_first_call(loop.gradients)
        check(LOOP_XLA, references, errors, loss, gradients)
        loop._apply(gradients)
        steps[LOOP_XLA] = loop.step
    return steps, first_call, errors


# ----------------------------------------------------------------------------------------------
# Timing.
# ----------------------------------------------------------------------------------------------

def time_block(step, n_steps):
    """Seconds per step, averaged over ``n_steps`` back-to-back calls."""
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    for _ in range(n_steps):
        result = step()
    sync(result)
    return (time.perf_counter() - start) / n_steps


def block_order(names, repeat):
    """Implementations in the order of one repeat: rotated each repeat, reversed every other
    cycle, so each one follows each other one about equally often."""
    k = len(names)
    order = names[repeat % k:] + names[:repeat % k]
    return order[::-1] if (repeat // k) % 2 else order


def measure(steps, max_repeats, configuration_seconds):
    """Seconds per step of each implementation, one block each per repeat, after a warmup."""
    n_steps, repeat_seconds = {}, 0.0
    for name, step in steps.items():
        time_block(step, 1)  # Warm up: the first runs after tracing or compiling are slower.
        n_steps[name] = max(1, round(BLOCK_SECONDS / time_block(step, 1)))
        repeat_seconds += SETTLE_SECONDS + n_steps[name] * time_block(step, n_steps[name])
    repeats = min(max_repeats, max(MIN_REPEATS, int(configuration_seconds / repeat_seconds)))
    samples = {name: [] for name in steps}
    names = tuple(steps)
    for repeat in range(repeats):
        for name in block_order(names, repeat):
            samples[name].append(time_block(steps[name], n_steps[name]))
    return n_steps, samples


def paired_ratio(samples, numerator, denominator):
    """Quartiles over repeats of numerator / denominator, each ratio from two blocks of the same
    repeat."""
    ratios = [a / b for a, b in zip(samples[numerator], samples[denominator])]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"median": median, "q1": q1, "q3": q3}


def run_configuration(n_qubits, algorithm, args):
    config = configuration(n_qubits)
    machine = {"busy_cpu_share_before": busy_cpu_share(0.5)}
    steps, first_call, errors = build_steps(config, algorithm, args.profile, args.torch_threads)
    default_jit_compile = first_call.pop("default_jit_compile")
    n_steps, samples = measure(steps, args.repeats, args.configuration_seconds)
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

    loop, raw = by_row("loop_vs_meta"), by_row("meta_vs_raw")
    pennylane = by_row("pennylane_vs_meta", GOAL_PENNYLANE_QUBITS)
    missing = [n for n in GOAL_PENNYLANE_QUBITS if n not in {row["qubits"] for row in rows}]
    pennylane_met = all(r >= GOAL_VS_PENNYLANE for r in pennylane.values())
    return {
        "loop_over_meta": {"goal": f">= {GOAL_VS_LOOP}", "by_configuration": loop,
                           "with_xla": by_row("loop_vs_meta_xla"),
                           "met": all(r >= GOAL_VS_LOOP for r in loop.values())},
        "meta_over_raw": {"goal": f"<= {GOAL_VS_RAW}", "by_configuration": raw,
                          "with_xla": by_row("meta_xla_vs_raw_xla"),
                          "met": all(r <= GOAL_VS_RAW for r in raw.values())},
        # met is None (undecided) when a goal qubit count was not measured (--quick, --qubits).
        "pennylane_over_meta": {"goal": f">= {GOAL_VS_PENNYLANE}", "by_configuration": pennylane,
                                "with_xla": by_row("pennylane_vs_meta_xla",
                                                   GOAL_PENNYLANE_QUBITS),
                                "not_measured": missing,
                                "met": None if missing and pennylane_met else pennylane_met},
    }


def format_ratio(ratio):
    return f"{ratio['median']:.2f} [{ratio['q1']:.2f}-{ratio['q3']:.2f}]"


def print_table(rows, profile):
    names = list(rows[0]["median_ms"])
    ratios = RATIOS + (PROFILE_RATIOS if profile else ())
    header = (f"{'config':>12} | " + " ".join(f"{name:>14}" for name in names))
    print(f"\nms per meta-step of {N_TASKS} tasks x {2 * SHOTS} examples, {INNER_STEPS} inner "
          "steps (median) [tasks/s]:")
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = " ".join(
            f"{row['median_ms'][n]:>7.1f} [{row['tasks_per_second'][n]:>4.0f}]" for n in names)
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | {cells}")
    print("\nfirst call, s (tracing, XLA compilation, first run):")
    for row in rows:
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | " + " ".join(
            f"{n} {row['first_call_s'][n]:.1f}" for n in names))
    header = f"{'config':>12} | " + " ".join(f"{label:>17}" for _, label, _, _ in ratios)
    print("\nratios (median [quartiles] of paired repeats):")
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['qubits']:>2}q {row['algorithm']:>8} | " + " ".join(
            f"{format_ratio(row['ratios'][key]):>17}" for key, _, _, _ in ratios))


def print_goals(result):
    verdict = {True: "met", False: "MISSED", None: "UNDECIDED (not all goal qubits measured)"}
    for key, text in (("loop_over_meta", "per-task loop / MetaLearner"),
                      ("meta_over_raw", "MetaLearner / raw engine"),
                      ("pennylane_over_meta", "PennyLane / MetaLearner")):
        goal = result[key]
        print(f"goal: {text} {goal['goal']}: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["by_configuration"].items())
              + f" -> {verdict[goal['met']]}   (with XLA: "
              + ", ".join(f"{k} {v:.2f}" for k, v in goal["with_xla"].items()) + ")")


# ----------------------------------------------------------------------------------------------
# Machine state: other work on the 2 cores distorts every time, torch's the most.
# ----------------------------------------------------------------------------------------------

def torch_sin_microseconds(threads, calls=50):
    """Mean time of torch.sin on a tensor large enough for torch to use its thread pool."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.rand(STALL_PROBE_ELEMENTS)
    for _ in range(10):  # The first calls start torch's thread pool: not a stall.
        torch.sin(x)
    start = time.perf_counter()
    for _ in range(calls):
        torch.sin(x)
    torch.set_num_threads(previous)
    return 1e6 * (time.perf_counter() - start) / calls


def torch_stall():
    """Microseconds of the probe on 1 and 2 threads: milliseconds on 2 means stalls."""
    return {f"torch_sin_us_{n}_threads": torch_sin_microseconds(n) for n in TORCH_THREAD_CHOICES}


def wait_for_idle(minutes):
    """Polls the busy CPU share until it is below IDLE_SHARE or ``minutes`` have passed."""
    deadline = time.monotonic() + 60 * minutes
    history = []
    while True:
        share = busy_cpu_share(2.0)
        history.append(share)
        if share is None or share < IDLE_SHARE:
            return {"idle": True, "waited_s": 0 if len(history) == 1 else
                    (len(history) - 1) * POLL_SECONDS, "busy_shares": history}
        if time.monotonic() + POLL_SECONDS > deadline:
            print(f"WARNING: the CPUs stayed busy ({100 * share:.0f}%) for {minutes} minutes; "
                  "running anyway, expect noisy times.", flush=True)
            return {"idle": False, "waited_s": 60 * minutes, "busy_shares": history}
        print(f"  CPUs {100 * share:.0f}% busy; waiting for them to go idle...", flush=True)
        time.sleep(POLL_SECONDS)


def check_machine(when="before starting"):
    share, stall = busy_cpu_share(), torch_stall()
    one, two = stall["torch_sin_us_1_threads"], stall["torch_sin_us_2_threads"]
    if share is not None and share > 0.2:
        print(f"note: the CPUs were {100 * share:.0f}% busy {when}; other processes compete "
              "for them, so expect noisier times.", flush=True)
    if two > STALL_RATIO * one:
        print(f"WARNING: torch.sin on {STALL_PROBE_ELEMENTS} floats takes {two:.0f} us on 2 "
              f"threads and {one:.0f} us on 1 ({when}): torch's thread pool is stalling on busy "
              "cores. "
              "PennyLane runs on the faster thread count, but expect noisy times.", flush=True)
    return {"busy_cpu_share": share, **stall}


def source_fingerprint():
    """A hash of tfq_meta's sources. Autograph reads a function's source when it traces it, so
    files edited while the script runs (after a long wait for an idle machine) break or change
    what is traced; the script warns when the hash changed."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(Path(tfq_meta.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def git_state():
    """Commit and modified files of the checkout measured (the engine changes often)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        modified = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                  cwd=root, capture_output=True, text=True,
                                  check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "modified": [line[3:] for line in modified if line.strip()]}


def environment():
    import tensorflow_quantum as tfq

    return {"git": git_state(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "tensorflow_quantum": tfq.__version__,
            "keras": keras.__version__, "torch": torch.__version__,
            "pennylane": qml.__version__, "cpus": os.cpu_count(), "machine": platform.machine()}


def main(args):
    # Every configuration traces new tf.functions on purpose; TF's retracing warning is noise.
    tf.get_logger().setLevel("ERROR")
    sources = source_fingerprint()
    idle = wait_for_idle(args.wait) if args.wait > 0 else None
    machine = check_machine()
    machine["wait_for_idle"] = idle
    start = time.perf_counter()
    rows = [run_configuration(n, algorithm, args)
            for n in args.qubits for algorithm in args.algorithms]
    print_table(rows, args.profile)
    verdicts = goals(rows)
    print()
    print_goals(verdicts)
    machine["at_end"] = check_machine("at the end")
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
            LOOP: "per-task Python loop: fomaml set_weights + tf.function SGD steps + query "
                  "gradient per task; maml one tf.function per task (nested tapes, "
                  "StatelessScope); tf.function Adam apply",
            RAW: "CircuitExpectation only (same circuit and engine), inner loop + query "
                 "gradient in one tf.function, no head, no optimizer",
            RAW_XLA: "the same with jit_compile=True",
            PL: "PennyLane default.qubit, torch, backprop, parameter broadcasting over all "
                f"{N_TASKS * SHOTS} examples with per-example weights, torch.autograd.grad "
                "inner loop, torch Adam, torch threads: the faster of 1 and 2 (rows)",
            META_GRADS: "(--profile) tf.function(MetaLearner.meta_gradients): no optimizer, "
                        "metrics or Keras train loop",
            LOOP_XLA: "(--profile) the per-task loop with jit_compile=True on its tf.functions",
        },
        "goals": verdicts,
        "machine": machine,
        "environment": {**environment(), "tfq_meta_sources_at_start": sources,
                        "tfq_meta_sources_at_end": source_fingerprint()},
        "rows": rows,
    }, indent=2, default=str))
    print(f"wrote {OUTPUT}")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qubits", type=int, nargs="+", default=list(QUBITS))
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--repeats", type=int, default=10,
                        help="most timed blocks per implementation; slow configurations get "
                             f"fewer (down to {MIN_REPEATS})")
    parser.add_argument("--configuration-seconds", type=float, default=CONFIGURATION_SECONDS,
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
