"""Independent references for meta-learning tests.

An independent MAML oracle: Cirq expectations, parameter-shift inner gradients, NumPy loops.

The model is a PQC alone (its output is one expectation value) and the loss is the mean squared
error, so the whole unrolled MAML objective can be computed without TensorFlow: forward values by
Cirq's unitaries in complex128, inner gradients by the exact two-term parameter-shift rule (each
weight symbol is the angle of one rotation gate; central differences for other gates), and a
per-task Python loop.
"""
import cirq
import keras
import numpy as np
import sympy
import tensorflow as tf

from tfq_meta import PQC


def plain(algorithm):
    """MetaLearner options that turn every stabiliser off: the algorithm as its paper states it,
    which the oracles here compute."""
    options = dict(multi_step_loss=False, inner_clipnorm=None)
    if algorithm != "metasgd":  # Meta-SGD's per-weight rates are the algorithm itself
        options["learn_inner_lr"] = False
    return options


class CirqModel:
    """f(x; θ) = <observable> of ``layer``'s circuit with data ``x`` and weights ``θ``: the first
    column of Cirq's unitary of the resolved circuit (the state from ``|0…0>``) against the
    observable's dense matrix. For the few-qubit circuits here that is twice as fast as a Cirq
    simulation per call, and finite differences of a MAML objective take thousands of calls."""

    def __init__(self, layer, shift_rule=True):
        self.layer, self.shift_rule = layer, shift_rule
        self.qubits = sorted(layer.circuit.all_qubits())
        self.observable = layer.observables[0].matrix(self.qubits)

    def __call__(self, x, weights):
        values = {str(s): float(v) for s, v in zip(self.layer.data_symbols, x)}
        values.update({str(s): float(v) for s, v in zip(self.layer.weight_symbols, weights)})
        state = cirq.resolve_parameters(self.layer.circuit, values).unitary(
            qubit_order=self.qubits, dtype=np.complex128)[:, 0]
        return float(np.real(np.vdot(state, self.observable @ state)))

    def gradient(self, x, weights):
        """∂f/∂θ by the parameter-shift rule (exact for rotation gates), or without
        ``shift_rule`` by central differences (for other gates)."""
        if not self.shift_rule:
            return central_differences(lambda w: self(x, w), weights, step=1e-6)
        gradient = np.zeros(len(weights))
        for j in range(len(weights)):
            shift = np.zeros(len(weights))
            shift[j] = np.pi / 2
            gradient[j] = 0.5 * (self(x, weights + shift) - self(x, weights - shift))
        return gradient


def mse_and_gradient(model, xs, ys, weights):
    errors = np.array([model(x, weights) for x in xs]) - ys.reshape(-1)
    gradients = np.array([model.gradient(x, weights) for x in xs])
    return np.mean(errors ** 2), 2 * np.mean(errors[:, None] * gradients, axis=0)


def adapt(model, support_x, support_y, weights, steps, inner_lr):
    for _ in range(steps):
        weights = weights - inner_lr * mse_and_gradient(model, support_x, support_y, weights)[1]
    return weights


def maml_objective(model, episode, weights, steps, inner_lr):
    """Mean query MSE over tasks after ``steps`` inner steps from ``weights``."""
    losses = []
    for t in range(len(episode["support_x"])):
        adapted = adapt(model, episode["support_x"][t], episode["support_y"][t], weights, steps,
                        inner_lr)
        losses.append(mse_and_gradient(model, episode["query_x"][t], episode["query_y"][t],
                                       adapted)[0])
    return float(np.mean(losses))


def central_differences(function, point, step=1e-4):
    gradient = np.zeros(len(point))
    for j in range(len(point)):
        shift = np.zeros(len(point))
        shift[j] = step
        gradient[j] = (function(point + shift) - function(point - shift)) / (2 * step)
    return gradient


def fourth_order_differences(function, point, step=3e-4):
    """The gradient by the five-point stencil, whose error falls as step^4 (Richardson's
    combination of two central differences). Central differences' step^2 error reached 2e-5 on
    a MAML objective with large third derivatives."""
    return (4 * central_differences(function, point, step)
            - central_differences(function, point, 2 * step)) / 3


def per_task_adaptation(model, variables, episode, steps, rates, fixed=(),
                        loss=keras.losses.mean_squared_error, clipnorm=None):
    """Reference inner loop: one task at a time, plain model calls, SGD by hand.

    ``rates``: one per variable, or a function ``step -> rates`` for per-step rates.
    ``fixed``: (variable, value) pairs substituted for other variables (StatelessScopes do not
    nest, so they go into the same scope). ``clipnorm``: each step's gradient is scaled to at most
    this global norm.
    """
    rates_of = rates if callable(rates) else (lambda step: rates)
    adapted = []
    for t in range(len(episode["support_x"])):
        values = [tf.convert_to_tensor(v) for v in variables]
        for step in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(values)
                with keras.StatelessScope(state_mapping=list(zip(variables, values)) +
                                          list(fixed)):
                    predictions = model(episode["support_x"][t])
                labels = tf.convert_to_tensor(episode["support_y"][t])
                if labels.dtype.is_floating:
                    labels = tf.cast(labels, predictions.dtype)
                task_loss = tf.reduce_mean(loss(labels, predictions))
            gradients = tape.gradient(task_loss, values)
            if clipnorm is not None:
                norm = np.sqrt(sum(float(np.sum(g.numpy() ** 2)) for g in gradients))
                gradients = [g * min(1.0, clipnorm / norm) for g in gradients]
            # dtype_hint: a Python float cast through float32 would lose precision.
            values = [v - tf.cast(tf.convert_to_tensor(r, dtype_hint=v.dtype), v.dtype) * g
                      for v, r, g in zip(values, rates_of(step), gradients)]
        adapted.append([v.numpy() for v in values])
    return [np.stack(per_variable) for per_variable in zip(*adapted)]


# ------------------------------------------------ small models the oracles are computed for

def tiny_circuit():
    """2 qubits: rx(x) encoding, three weight rotations, one CNOT."""
    x, a, b, c = sympy.symbols("x a b c")
    q0, q1 = cirq.LineQubit.range(2)
    return cirq.Circuit(cirq.rx(x)(q0), cirq.rx(x)(q1), cirq.ry(a)(q0), cirq.ry(b)(q1),
                        cirq.CNOT(q0, q1), cirq.rx(c)(q1)), [x]


def circuit_model(engine="statevector", seed=0):
    """A float64 model whose output is <Z1> of the tiny circuit (exact oracle available)."""
    circuit, data_symbols = tiny_circuit()
    state_dtype = "complex128" if engine == "statevector" else "complex64"
    dtype = "float64" if engine == "statevector" else "float32"
    layer = PQC(circuit, "Z1", data_symbols=data_symbols, engine=engine, state_dtype=state_dtype,
                dtype=dtype, name="circuit",
                initializer=keras.initializers.RandomUniform(0, 2 * np.pi, seed=seed))
    return keras.Sequential([keras.Input((1,), dtype=dtype), layer])


def hybrid_model(seed=0, dtype="float64"):
    """Tiny circuit → Dense head: for ANIL and Meta-SGD."""
    circuit, data_symbols = tiny_circuit()
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((1,), dtype=dtype),
        PQC(circuit, ["Z0", "Z1"], data_symbols=data_symbols, engine="statevector",
            state_dtype="complex128" if dtype == "float64" else "complex64", dtype=dtype,
            name="circuit"),
        keras.layers.Dense(1, dtype=dtype, name="head"),
    ])


def regression_episode(rng, tasks=3, shots=4, queries=5):
    amplitude = rng.uniform(0.3, 1.0, size=(tasks, 1, 1))
    phase = rng.uniform(0, np.pi, size=(tasks, 1, 1))
    xs = rng.uniform(-2, 2, size=(tasks, shots + queries, 1))
    ys = amplitude * np.sin(xs - phase)
    return {"support_x": xs[:, :shots], "support_y": ys[:, :shots],
            "query_x": xs[:, shots:], "query_y": ys[:, shots:]}
