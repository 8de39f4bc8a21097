"""The PennyLane baseline: tfq_meta's Cirq circuits as torch qnodes, and torch's thread count.

A circuit is translated once into a *program*, ``[(PennyLane gate name, wires, angle source)]``,
which a qnode replays on torch tensors: the same gates in the same order, on the same wires, with
the same angles. cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ), likewise ry and rz; the wires are the
sorted Cirq qubits, so PauliZ(i) is tfq_meta's observable Z on qubit i.

When another process holds a core, torch's thread pool stalls (an op split across 2 threads
waits for the busy core; PennyLane steps 40x slower on 2 threads than on 1 have been seen): the
scripts probe for it (``stall_probe``) and run PennyLane on whichever of 1 and 2 threads runs
its step faster (``choose_threads``).
"""
import time

import cirq
import pennylane as qml
import sympy
import torch

GATES = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ, "CNOT": qml.CNOT}
ROTATIONS = {cirq.Rx: "RX", cirq.Ry: "RY", cirq.Rz: "RZ"}
THREAD_CHOICES = (1, 2)
# torch.sin of this many floats is split across torch's threads (a 160-element probe runs on one
# thread and misses the stalls); this many times slower on 2 threads than on 1 is a stall.
STALL_PROBE_ELEMENTS, STALL_RATIO = 40_960, 3.0


def angle_source(angle, features, weights):
    """Where a rotation angle comes from: ("weight", j), ("feature", i), or ("scaled", j, i) for
    weight j * feature i (trainable input scales)."""
    if angle in weights:
        return ("weight", weights[angle])
    if angle in features:
        return ("feature", features[angle])
    factors = angle.as_ordered_factors()
    scales = [f for f in factors if f in weights]
    inputs = [f for f in factors if f in features]
    if len(factors) == 2 and len(scales) == 1 and len(inputs) == 1:
        return ("scaled", weights[scales[0]], features[inputs[0]])
    raise ValueError(f"angle {angle} is not a weight, a feature or their product.")


def pennylane_program(spec):
    """The circuit of ``spec`` (a CircuitSpec or a PQC layer: ``circuit``, ``data_symbols``,
    ``weight_symbols``) as [(gate name, wires, angle source or None)]."""
    wire = {q: i for i, q in enumerate(sorted(spec.circuit.all_qubits()))}
    features = {s: i for i, s in enumerate(spec.data_symbols)}
    weights = {s: j for j, s in enumerate(spec.weight_symbols)}
    program = []
    for op in spec.circuit.all_operations():
        wires = [wire[q] for q in op.qubits]
        if op.gate == cirq.CNOT:
            program.append(("CNOT", wires, None))
        elif type(op.gate) in ROTATIONS:
            angle = sympy.simplify(op.gate.exponent * sympy.pi)  # Rx stores exponent θ/π.
            try:
                program.append((ROTATIONS[type(op.gate)], wires,
                                angle_source(angle, features, weights)))
            except ValueError as error:
                raise ValueError(f"{op!r}: {error}") from None
        else:
            raise ValueError(f"No PennyLane translation for {op!r} in this benchmark.")
    return program


def angle(source, features, weights):
    """One rotation's angle tensor. ``features``: ``[batch, n_features]``; ``weights``:
    ``[n_weights]`` or ``[batch, n_weights]`` (one set per example): the gate broadcasts over
    the batch wherever the angle has one."""
    if source[0] == "weight":
        return weights[..., source[1]]
    if source[0] == "feature":
        return features[:, source[1]]
    return weights[..., source[1]] * features[:, source[2]]


def torch_qnode(spec):
    """``qnode(features, weights)`` -> [⟨Z_i⟩ for each qubit], as PennyLane's expert users write
    it: ``default.qubit``, torch interface, backprop, parameter broadcasting over the batch."""
    program = pennylane_program(spec)
    n_qubits = len(spec.circuit.all_qubits())

    @qml.qnode(qml.device("default.qubit", wires=n_qubits), interface="torch",
               diff_method="backprop")
    def circuit(features, weights):
        for name, wires, source in program:
            if source is None:
                GATES[name](wires=wires)
            else:
                GATES[name](angle(source, features, weights), wires=wires[0])
        return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

    return circuit


def sin_microseconds(threads, calls=50):
    """Mean time of torch.sin on STALL_PROBE_ELEMENTS floats on ``threads`` threads."""
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


def stall_probe(when="before starting"):
    """Microseconds of the probe on 1 and 2 threads, for the record; warns when 2 stall."""
    times = {threads: sin_microseconds(threads) for threads in THREAD_CHOICES}
    if times[2] > STALL_RATIO * times[1]:
        print(f"WARNING: torch.sin takes {times[2]:.0f} us on 2 threads and {times[1]:.0f} us "
              f"on 1 ({when}): torch's thread pool stalls on busy cores; expect noisy times.",
              flush=True)
    return {f"torch_sin_us_{n}_threads": t for n, t in times.items()}


def choose_threads(step, timing, requested=None):
    """Sets torch's thread count to ``requested``, or to whichever of THREAD_CHOICES runs
    ``step`` faster (best of 2 steps each, after one); the choice and trial times."""
    if requested:
        torch.set_num_threads(requested)
        return {"threads": requested}
    trial = {}
    for threads in THREAD_CHOICES:
        torch.set_num_threads(threads)
        step()
        trial[threads] = min(timing.time_block(step, 1) for _ in range(2))
    best = min(trial, key=trial.get)
    torch.set_num_threads(best)
    return {"threads": best, "trial_ms": {n: 1e3 * t for n, t in trial.items()}}


def add_threads_argument(arguments):
    arguments.add_argument("--torch-threads", type=int, default=None,
                           help="torch threads for PennyLane (default: the faster of 1 and 2)")
