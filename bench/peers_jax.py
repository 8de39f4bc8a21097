"""The JAX peers of bench_peers.py: tfq_meta's Cirq circuits in PennyLane (default.qubit, JAX
interface, backprop) and in TensorCircuit-ng (JAX backend), each written as its documentation
recommends, in float32 / complex64 (x64 stays off, as TensorFlow Quantum's users have it).

Both are translated gate by gate from the same Cirq circuit (:func:`gate_program`, the approach of
pennylane_torch.py): the same gates on the same wires (the sorted qubits), each rotation's angle
the same sympy expression of the same symbols; cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ) = tc's rx(θ).
"""
import warnings

import cirq
import jax
import jax.numpy as jnp
import optax
import pennylane as qml
import sympy
import tensorcircuit as tc

K = tc.set_backend("jax")
tc.set_dtype("complex64")
ROTATIONS = {cirq.Rx: "rx", cirq.Ry: "ry", cirq.Rz: "rz"}
CONSTANT = {cirq.CNOT: "cnot", cirq.CZ: "cz"}
PENNYLANE = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ, "cnot": qml.CNOT, "cz": qml.CZ}
# default.qubit asks for complex128 states, which JAX without x64 makes complex64, warning.
warnings.filterwarnings("ignore", message="Explicitly requested dtype")


def gate_program(spec):
    """(number of qubits, [(gate name, wires, [(\"x\" or \"w\", column)], angle function or
    None)]) of ``spec`` (a CircuitSpec or a PQC layer): columns of the features and weights."""
    wire = {q: i for i, q in enumerate(sorted(spec.circuit.all_qubits()))}
    columns = {**{s: ("x", i) for i, s in enumerate(spec.data_symbols)},
               **{s: ("w", j) for j, s in enumerate(spec.weight_symbols)}}
    program = []
    for op in spec.circuit.all_operations():
        wires = tuple(wire[q] for q in op.qubits)
        if op.gate in CONSTANT:
            program.append((CONSTANT[op.gate], wires, (), None))
        elif type(op.gate) in ROTATIONS:
            angle = sympy.simplify(op.gate.exponent * sympy.pi)  # Rx stores exponent θ/π.
            symbols = sorted(angle.free_symbols, key=str)
            program.append((ROTATIONS[type(op.gate)], wires, [columns[s] for s in symbols],
                            sympy.lambdify(symbols, angle, modules="jax")))
        else:
            raise ValueError(f"No translation for {op!r} in this benchmark.")
    return len(wire), program


def angles(program_entry, x, w):
    """The gate's angle from features ``x`` [..., n_features] and weights ``w`` [..., n_w]."""
    _, _, columns, angle = program_entry
    return angle(*((x if kind == "x" else w)[..., c] for kind, c in columns))


def pennylane_circuit(spec):
    """``circuit(x, w)`` -> ⟨Z_i⟩ ``[..., n_qubits]``: x ``[(batch,) n_features]``, w
    ``[(batch,) n_weights]``; a batch dimension is PennyLane's parameter broadcasting."""
    n, program = gate_program(spec)

    @qml.qnode(qml.device("default.qubit", wires=n), interface="jax", diff_method="backprop")
    def qnode(x, w):
        for entry in program:
            gate = PENNYLANE[entry[0]]
            if entry[3] is None:
                gate(wires=entry[1])
            else:
                gate(angles(entry, x, w), wires=entry[1][0])
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    return lambda x, w: jnp.stack(qnode(x, w), axis=-1)


def tensorcircuit_values(spec):
    """``values(x, w)`` -> ⟨Z_i⟩ ``[n_qubits]`` of one example: x ``[n_features]``, w
    ``[n_weights]``, by a ``tc.Circuit`` (its state reused for every expectation)."""
    n, program = gate_program(spec)

    def values(x, w):
        circuit = tc.Circuit(n)
        for entry in program:
            if entry[3] is None:
                getattr(circuit, entry[0])(*entry[1])
            else:
                getattr(circuit, entry[0])(entry[1][0], theta=angles(entry, x, w))
        return K.real(K.stack([circuit.expectation_ps(z=[i]) for i in range(n)]))

    return values


# --- engine steps: the loss sum(values * cotangent), its gradients w.r.t. the weights and the
# features, and the values, as bench_engines.py's step (common.gradient_step) returns them.

def engine_step(gradient, config):
    """A step of ``gradient(weights, features)`` -> ((loss, values), (grad_w, grad_x))."""
    weights, features = jnp.asarray(config["weights"]), jnp.asarray(config["features"])

    def step():
        (loss, values), (grad_weights, grad_features) = gradient(weights, features)
        return loss, grad_weights, grad_features, values

    return step


def pennylane_engine_step(config, vmap=False):
    """PennyLane-JAX: one broadcast qnode call over the batch, or jax.vmap over the examples."""
    circuit, cotangent = pennylane_circuit(config["spec"]), jnp.asarray(config["cotangent"])
    if vmap:
        circuit = jax.vmap(circuit, in_axes=(0, None))

    def loss(weights, features):
        values = circuit(features, weights)
        return jnp.sum(values * cotangent), values

    return engine_step(jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)), config)


def tensorcircuit_engine_step(config):
    """TensorCircuit-ng: K.jit of K.vectorized_value_and_grad over the examples."""
    values = tensorcircuit_values(config["spec"])

    def loss(features, weights, cotangent):  # one example
        v = values(features, weights)
        return K.sum(v * cotangent), v

    vvag = K.vectorized_value_and_grad(loss, argnums=(0, 1), vectorized_argnums=(0, 2),
                                       has_aux=True)
    cotangent = jnp.asarray(config["cotangent"])

    @K.jit
    def gradient(weights, features):
        (losses, v), (grad_features, grad_weights) = vvag(features, weights, cotangent)
        return (K.sum(losses), v), (grad_weights, grad_features)

    return engine_step(gradient, config)


# --- meta-steps: bench_meta.py's step (inner SGD on each task's support MSE, the query MSE's
# mean over tasks, its meta-gradient and one Adam step), the whole step under one jax.jit, the
# inner loop a jax.lax.scan.

class JaxMeta:
    """The meta-step on ``config`` (bench_meta.run_configuration's) in JAX; calling it takes a
    step and returns (the query loss, the meta-gradient) at the weights before the step.

    ``task_expectations(x [shots, 1], circuit_weights [n_w])`` -> [shots, n_qubits] is vmapped
    over the tasks (the whole adaptation, per task); or ``batch_expectations(x [N, 1],
    circuit_weights [N, n_w])`` -> [N, n_qubits] takes every task's examples at once, each with its
    task's weights."""

    def __init__(self, config, algorithm, constants, task_expectations=None,
                 batch_expectations=None):
        inner_steps, inner_lr, outer_lr, episode_keys = constants
        second_order = algorithm == "maml"
        self.optimizer = optax.adam(outer_lr, eps=1e-7)  # Keras Adam's epsilon
        self.params = [jnp.asarray(w) for w in config["weights"]]  # circuit, kernel, bias
        self.state = self.optimizer.init(self.params)
        self.episode = tuple(jnp.asarray(config["episode"][k]) for k in episode_keys)

        def adapt(params, losses, x, y):
            def inner_step(params, _):
                gradients = jax.grad(lambda p: jnp.sum(losses(p, x, y)))(params)
                if not second_order:
                    gradients = jax.lax.stop_gradient(gradients)
                return [p - inner_lr * g for p, g in zip(params, gradients)], None

            # A scan compiles the inner step once: unrolled, XLA took 2-4x longer to compile
            # (4 qubits: 90 s against 22 s for FOMAML), for no faster a step.
            return jax.lax.scan(inner_step, params, length=inner_steps)[0]

        def task_loss(params, x, y):  # one task: x, y [shots, 1]
            circuit_weights, kernel, bias = params
            return jnp.mean((task_expectations(x, circuit_weights) @ kernel + bias - y) ** 2)

        def task_losses(params, x, y):  # every task: params [tasks, ...], x, y [tasks, shots, 1]
            circuit_weights, kernel, bias = params
            n_tasks, n_shots = x.shape[:2]
            values = batch_expectations(x.reshape(n_tasks * n_shots, -1),
                                        jnp.repeat(circuit_weights, n_shots, axis=0))
            predictions = jnp.einsum("tsq,tqo->tso", values.reshape(n_tasks, n_shots, -1),
                                     kernel) + bias[:, None, :]
            return jnp.mean((predictions - y) ** 2, axis=(1, 2))

        def meta_loss(params, episode):
            support_x, support_y, query_x, query_y = episode
            if task_expectations is not None:
                def query_loss(sx, sy, qx, qy):
                    return task_loss(adapt(params, task_loss, sx, sy), qx, qy)
                return jnp.mean(jax.vmap(query_loss)(*episode))
            tasks = [jnp.broadcast_to(p, (support_x.shape[0], *p.shape)) for p in params]
            return jnp.mean(task_losses(adapt(tasks, task_losses, support_x, support_y),
                                        query_x, query_y))

        @jax.jit
        def step(params, state, episode):
            loss, gradients = jax.value_and_grad(meta_loss)(params, episode)
            updates, state = self.optimizer.update(gradients, state, params)
            return optax.apply_updates(params, updates), state, loss, gradients

        self._step = step

    def __call__(self):
        self.params, self.state, loss, gradients = self._step(self.params, self.state,
                                                              self.episode)
        return loss, gradients


def pennylane_meta(config, algorithm, constants, broadcast=False):
    """PennyLane-JAX: vmap over the tasks of the task's broadcast qnode, or one broadcast qnode
    call over every task's examples with per-example weights."""
    circuit = pennylane_circuit(config["layer"])
    if broadcast:
        return JaxMeta(config, algorithm, constants, batch_expectations=circuit)
    return JaxMeta(config, algorithm, constants, task_expectations=circuit)


def tensorcircuit_meta(config, algorithm, constants):
    """TensorCircuit-ng: vmap over the tasks, K.vmap over each task's examples."""
    values = K.vmap(tensorcircuit_values(config["layer"]), vectorized_argnums=0)
    return JaxMeta(config, algorithm, constants, task_expectations=values)


def versions():
    return {"jax": jax.__version__, "pennylane": qml.__version__, "tensorcircuit_ng":
            tc.__version__, "optax": optax.__version__}
