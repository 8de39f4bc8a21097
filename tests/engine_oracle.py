"""Independent references for the engine tests: a random circuit over the whole supported gate
set, exact expectations by Cirq in complex128, derivatives by nested tapes and by central
differences of Cirq values."""
import cirq
import numpy as np
import sympy
import tensorflow as tf

from tfq_meta import ops

X, Y, A, B, C = sympy.symbols("x y a b c")


SYMBOLS = [X, Y, A, B, C]


QUBITS = cirq.LineQubit.range(3)


CONSTANT_GATES = [cirq.H, cirq.X, cirq.Y, cirq.Z, cirq.S, cirq.T, cirq.CNOT, cirq.CZ, cirq.SWAP]


PARAMETERIZED_GATES = [
    cirq.rx, cirq.ry, cirq.rz,
    *(lambda t, g=g: g(exponent=t) for g in (
        cirq.XPowGate, cirq.YPowGate, cirq.ZPowGate, cirq.HPowGate, cirq.XXPowGate,
        cirq.YYPowGate, cirq.ZZPowGate, cirq.CNotPowGate, cirq.CZPowGate, cirq.SwapPowGate)),
]


EXPRESSIONS = [A, B * X, 0.5 * Y + 0.25, A * X + C, C, B * Y - A]


OBSERVABLES = ["Z0", "X1*Y2", "0.5*Z0*Z1 - 0.3*X2 + 0.1", "Y0*X1*Z2"]


def random_circuit(seed, n_operations=24):
    """A circuit over the whole supported gate set, symbolic exponents as sympy expressions."""
    rng = np.random.default_rng(seed)
    circuit = cirq.Circuit([cirq.H(q) for q in QUBITS])
    for _ in range(n_operations):
        if rng.random() < 0.4:
            gate = CONSTANT_GATES[rng.integers(len(CONSTANT_GATES))]
        else:
            make = PARAMETERIZED_GATES[rng.integers(len(PARAMETERIZED_GATES))]
            gate = make(EXPRESSIONS[rng.integers(len(EXPRESSIONS))])
        qubits = rng.choice(3, gate.num_qubits(), replace=False)
        circuit.append(gate.on(*(QUBITS[i] for i in qubits)))
    return circuit


def cirq_values(circuit, values, observables):
    """[batch, n_obs] exact expectations by Cirq (complex128)."""
    simulator = cirq.Simulator(dtype=np.complex128)
    observables = ops.parse_observables(observables, sorted(circuit.all_qubits()))
    return np.array([np.real(simulator.simulate_expectation_values(
        circuit, observables, param_resolver={str(s): float(v) for s, v in zip(SYMBOLS, row)}))
        for row in np.atleast_2d(values)])


def hessian(expectation, values, cotangent):
    """d^2 sum(cotangent * E) / d values^2 for one example, by nested tapes."""
    values = tf.constant(values, tf.float32)
    with tf.GradientTape(persistent=True) as outer:
        outer.watch(values)
        with tf.GradientTape() as inner:
            inner.watch(values)
            loss = tf.reduce_sum(tf.constant(cotangent, tf.float32) * expectation(values))
        gradient = inner.gradient(loss, values)
    return gradient.numpy()[0], outer.jacobian(gradient, values,
                                               experimental_use_pfor=False).numpy()[0, :, 0, :]


def finite_difference_derivatives(circuit, values, cotangent, step=1e-4):
    """Gradient and Hessian of sum(cotangent * E) by central differences of Cirq values."""
    def f(v):
        return np.sum(cotangent * cirq_values(circuit, v, OBSERVABLES))

    n = values.shape[1]
    unit = np.eye(n) * step
    gradient = np.array([(f(values + unit[i]) - f(values - unit[i])) / (2 * step)
                         for i in range(n)])
    hess = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            hess[i, j] = hess[j, i] = (
                f(values + unit[i] + unit[j]) - f(values + unit[i] - unit[j])
                - f(values - unit[i] + unit[j]) + f(values - unit[i] - unit[j])) / (4 * step ** 2)
    return gradient, hess


def maml_fit_step(engine):
    """The weights ``[variables]`` of a small student after one MAML ``fit`` step (SGD at rate
    1, so the step is the meta-gradient itself), from the same seed whatever ``engine``."""
    import keras

    from tfq_meta import models, tasks
    from tfq_meta.meta import MetaLearner

    keras.utils.set_random_seed(0)
    meta = MetaLearner(models.student(n_features=1, n_qubits=2, n_layers=1, engine=engine),
                       "maml", inner_steps=1)
    meta.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse", jit_compile=False)
    meta.fit(tasks.Sinusoid(shots=2).episodes(2, seed=0), epochs=1, steps_per_epoch=1,
             verbose=0)
    return [variable.numpy() for variable in meta.model.weights]
