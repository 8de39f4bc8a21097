"""The PennyLane baseline: tfq_meta's Cirq circuits as torch qnodes, and torch's thread count.

When another process holds a core, an op torch splits across 2 threads waits for it (PennyLane
steps 40x slower than on 1 thread were seen): the scripts probe for that stall and run PennyLane
on whichever of 1 and 2 threads runs its step faster.
"""
import time

import cirq
import pennylane as qml
import sympy
import torch

ROTATIONS = {cirq.Rx: qml.RX, cirq.Ry: qml.RY, cirq.Rz: qml.RZ}
THREAD_CHOICES = (1, 2)
# torch.sin of this many floats is split across torch's threads (a 160-element probe runs on one
# thread and misses the stalls); this many times slower on 2 threads than on 1 is a stall.
STALL_PROBE_ELEMENTS, STALL_RATIO = 40_960, 3.0


def torch_qnode(spec):
    """``qnode(features, weights)`` -> [⟨Z_i⟩ for each qubit] of ``spec`` (a CircuitSpec or a PQC
    layer) as expert users write it: ``default.qubit``, torch, backprop, broadcasting. The same
    gates on the same wires (the sorted qubits): cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ)."""
    wire = {q: i for i, q in enumerate(sorted(spec.circuit.all_qubits()))}
    features = {s: i for i, s in enumerate(spec.data_symbols)}
    weights = {s: j for j, s in enumerate(spec.weight_symbols)}
    program = []  # (gate, wires, angle's symbols, angle as a function of them, or None)
    for op in spec.circuit.all_operations():
        wires = [wire[q] for q in op.qubits]
        if op.gate == cirq.CNOT:
            program.append((qml.CNOT, wires, (), None))
        elif type(op.gate) in ROTATIONS:
            angle = sympy.simplify(op.gate.exponent * sympy.pi)  # Rx stores exponent θ/π.
            symbols = sorted(angle.free_symbols, key=str)
            program.append((ROTATIONS[type(op.gate)], wires[0], symbols,
                            sympy.lambdify(symbols, angle)))
        else:
            raise ValueError(f"No PennyLane translation for {op!r} in this benchmark.")

    @qml.qnode(qml.device("default.qubit", wires=len(wire)), interface="torch",
               diff_method="backprop")
    def circuit(x, w):  # x: [batch, n_features]; w: [n_weights] or [batch, n_weights]
        for gate, wires, symbols, angle in program:
            if angle is None:
                gate(wires=wires)
            else:
                gate(angle(*(x[:, features[s]] if s in features else w[..., weights[s]]
                             for s in symbols)), wires=wires)
        return [qml.expval(qml.PauliZ(i)) for i in range(len(wire))]

    return circuit


def stall_probe(when="before starting"):
    """Microseconds of torch.sin on 1 and 2 threads, for the record; warns when 2 stall."""
    times, previous = {}, torch.get_num_threads()
    x = torch.rand(STALL_PROBE_ELEMENTS)
    for threads in THREAD_CHOICES:
        torch.set_num_threads(threads)
        for _ in range(10):  # The first calls start torch's thread pool: not a stall.
            torch.sin(x)
        start = time.perf_counter()
        for _ in range(50):
            torch.sin(x)
        times[threads] = 1e6 * (time.perf_counter() - start) / 50
    torch.set_num_threads(previous)
    if times[2] > STALL_RATIO * times[1]:
        print(f"WARNING: torch.sin takes {times[2]:.0f} us on 2 threads and {times[1]:.0f} us "
              f"on 1 ({when}): torch's thread pool stalls on busy cores; expect noisy times.",
              flush=True)
    return {f"torch_sin_us_{n}_threads": t for n, t in times.items()}


def choose_threads(step, timing, requested=None):
    """Sets torch's threads to ``requested`` or to the faster for ``step`` of THREAD_CHOICES."""
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
