"""tfq_meta's Cirq circuits as PennyLane qnodes, so PennyLane runs the very same gates.

The benchmarks compare tfq_meta against PennyLane on the same circuit: the same gates in the same
order, on the same wires, with the same angles. A circuit is translated once into a *program*,
``[(PennyLane gate name, wires, angle source)]``, which a qnode replays on torch tensors.
cirq.rx(θ) = exp(-iθX/2) = qml.RX(θ), likewise ry and rz; the wires are the sorted Cirq qubits,
so PauliZ(i) is tfq_meta's observable Z on qubit i.
"""
import cirq
import pennylane as qml
import sympy

GATES = {"RX": qml.RX, "RY": qml.RY, "RZ": qml.RZ, "CNOT": qml.CNOT}
ROTATIONS = {cirq.Rx: "RX", cirq.Ry: "RY", cirq.Rz: "RZ"}


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
    """The circuit of ``spec`` (anything with ``circuit``, ``data_symbols`` and
    ``weight_symbols``: a CircuitSpec or a PQC layer) as [(gate name, wires, source or None)]."""
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
                source = angle_source(angle, features, weights)
            except ValueError as error:
                raise ValueError(f"{op!r}: {error}") from None
            program.append((ROTATIONS[type(op.gate)], wires, source))
        else:
            raise ValueError(f"No PennyLane translation for {op!r} in this benchmark.")
    return program


def angle(source, features, weights):
    """The angle tensor of one rotation. ``features`` is ``[batch, n_features]``; ``weights`` is
    ``[n_weights]`` (a scalar angle, the same for the whole batch) or ``[batch, n_weights]`` (one
    per example): either way the gate broadcasts over the batch wherever the angle has one."""
    kind = source[0]
    if kind == "weight":
        return weights[..., source[1]]
    if kind == "feature":
        return features[:, source[1]]
    return weights[..., source[1]] * features[:, source[2]]


def torch_qnode(spec):
    """``qnode(features, weights)`` -> [⟨Z_i⟩ for each qubit]: PennyLane as its expert users
    write it, ``default.qubit``, torch interface, ``diff_method="backprop"``, parameter
    broadcasting over the batch."""
    program = pennylane_program(spec)
    n_qubits = len(spec.circuit.all_qubits())
    device = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(device, interface="torch", diff_method="backprop")
    def circuit(features, weights):
        for name, wires, source in program:
            if source is None:
                GATES[name](wires=wires)
            else:
                GATES[name](angle(source, features, weights), wires=wires[0])
        return [qml.expval(qml.PauliZ(i)) for i in range(n_qubits)]

    return circuit
