"""Ansatzes for quantum task families: Meta-VQE, the Hamiltonian variational ansatz, QAOA.

Symbol names:
    ``x{j}``            feature ``j`` of the task (``Δ`` for Meta-VQE; pair ``j``'s edge weight
                        for QAOA).
    ``a{l}_{q}_{k}``    slope of rotation ``k`` on qubit ``q`` in encoding layer ``l`` (Meta-VQE).
    ``w{l}_{q}_{k}``    offset (encoding) or angle (processing) of that rotation.
    ``zz{l}_{g}``, ``xy{l}_{g}``, ``z{l}``, ``hx{l}``
                        Hamiltonian variational angles of layer ``l`` (bond group ``g``).
    ``gamma{l}``, ``beta{l}``
                        QAOA's cost and mixer angles of layer ``l``.
    ``nxy{l}_{i}_{j}``, ``nzz{l}_{i}_{j}``
                        number-conserving angles of bond ``(i, j)`` in layer ``l``.
"""
import itertools
import math

import cirq
import numpy as np
import sympy

from tfq_meta import hamiltonians
from tfq_meta._validation import (check_non_negative_int, check_positive_float,
                                  check_positive_int, is_finite_number)
from tfq_meta.circuits.spec import CircuitSpec, qubit_list


def meta_vqe_ansatz(qubits, encoding_layers=2, processing_layers=2):
    """Meta-VQE's circuit: encoding layers whose angles are linear in ``Δ``, then free layers.

    Each layer turns every qubit by ``Rz`` then ``Ry`` and closes with CNOTs on alternating
    neighbour pairs (``(0,1), (2,3), …`` in even layers, ``(1,2), (3,4), …`` in odd ones). In the
    ``encoding_layers`` each angle is ``a · Δ + w``, with ``Δ`` the feature ``x0``: the circuit
    learns the whole energy profile of a family at once (Cervera-Lierta, Kottmann and
    Aspuru-Guzik, PRX Quantum 2, 020329, 2021). The ``processing_layers`` have free angles.

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of Cirq qubits.
        encoding_layers: layers with ``Δ``-dependent angles (4 weights per qubit).
        processing_layers: layers with free angles (2 weights per qubit).

    Returns:
        A :class:`CircuitSpec` with the data symbol ``x0`` and
        ``(4 · encoding_layers + 2 · processing_layers) · n_qubits`` weights.

    Example:
    >>> len(meta_vqe_ansatz(8).weight_symbols)   # the paper's 96 parameters
    96
    """
    qubits = qubit_list(qubits)
    encoding_layers = check_non_negative_int(encoding_layers, "encoding_layers")
    processing_layers = check_non_negative_int(processing_layers, "processing_layers")
    if encoding_layers == 0:
        raise ValueError("`encoding_layers` must be at least 1: without one the circuit does not "
                         "read Δ.")
    delta = sympy.Symbol("x0")
    circuit, weights = cirq.Circuit(), []
    for layer in range(encoding_layers + processing_layers):
        for q, qubit in enumerate(qubits):
            for k, rotation in enumerate((cirq.rz, cirq.ry)):
                angle = sympy.Symbol(f"w{layer}_{q}_{k}")
                weights.append(angle)
                if layer < encoding_layers:
                    slope = sympy.Symbol(f"a{layer}_{q}_{k}")
                    weights.append(slope)
                    angle = slope * delta + angle
                circuit.append(rotation(angle).on(qubit))
        circuit.append(cirq.CNOT(qubits[i], qubits[i + 1])
                       for i in range(layer % 2, len(qubits) - 1, 2))
    return CircuitSpec(circuit, (delta,), tuple(weights))


def xxz_ansatz(qubits, n_layers=4, periodic=True):
    """The Hamiltonian variational ansatz of the XXZ chain in a field.

    It starts from singlets on the bonds ``(0,1), (2,3), …`` (an eigenstate of the chain's XX+YY
    part on those bonds) and applies ``n_layers`` layers of
    ``exp(-i θ_zz Σ Z Z) exp(-i θ_xy Σ (X X + Y Y))`` on the even bonds, then the same with their
    own angles on the odd bonds, then ``exp(-i θ_z Σ Z)``: 5 angles per layer, each shared by
    every bond of its group, as the terms of the Hamiltonian are (Wiersema et al., PRX Quantum
    1, 020319, 2020).

    Args:
        qubits: an even number of ``cirq.LineQubit`` (int) or a sequence of Cirq qubits.
        n_layers: layers.
        periodic: whether the odd bonds include ``(n-1, 0)``.

    Returns:
        A :class:`CircuitSpec` with ``5 · n_layers`` weights and no data symbols.
    """
    qubits = _paired(qubits, "the XXZ ansatz pairs the qubits into singlets")
    n_layers = check_positive_int(n_layers, "n_layers")
    bonds = hamiltonians.chain_bonds(len(qubits), periodic and len(qubits) > 2)
    groups = [bonds[0::2], bonds[1::2]]
    circuit = cirq.Circuit()
    for i in range(0, len(qubits), 2):  # (|01> - |10>) / √2
        a, b = qubits[i], qubits[i + 1]
        circuit.append([cirq.X(a), cirq.X(b), cirq.H(a), cirq.CNOT(a, b)])
    weights = []
    for layer in range(n_layers):
        for g, group in enumerate(groups):
            zz, xy = sympy.Symbol(f"zz{layer}_{g}"), sympy.Symbol(f"xy{layer}_{g}")
            weights += [zz, xy]
            for i, j in group:
                circuit.append(_two_qubit_rotation(cirq.ZZPowGate, zz, qubits[i], qubits[j]))
                circuit.append(_two_qubit_rotation(cirq.XXPowGate, xy, qubits[i], qubits[j]))
                circuit.append(_two_qubit_rotation(cirq.YYPowGate, xy, qubits[i], qubits[j]))
        z = sympy.Symbol(f"z{layer}")
        weights.append(z)
        circuit.append(cirq.rz(2 * z).on(q) for q in qubits)
    return CircuitSpec(circuit, (), tuple(weights))


def singlet_sector_encoding(qubits, thresholds, sharpness=40.0):
    """A reference state whose magnetization sector is chosen by the feature ``x0``.

    Every spin starts down (``|1⟩``). Pair ``p`` (qubits ``2p, 2p+1``) then turns into the singlet
    ``(|01⟩ − |10⟩) / √2`` where ``x0`` is above ``thresholds[p]``: qubit ``2p`` is turned by
    ``Ry(π σ(sharpness · (x0 − thresholds[p])))`` and a Givens rotation moves its flipped spin
    into the singlet. With ``s`` singlets the state has ``s`` spins up, so in front of
    :func:`number_conserving_layers` the thresholds say which sector of ``Σ Z`` each value of
    ``x0`` is searched in. This is how a conserved quantity of the XXZ chain in a field, whose
    ground state changes sector with ``Δ``, is given to a circuit that keeps it.

    Args:
        qubits: an even number of ``cirq.LineQubit`` (int) or a sequence of Cirq qubits.
        thresholds: ``n_qubits / 2`` finite floats (a list, tuple or array); a threshold
            outside the range of ``x0`` keeps its pair fixed (always down below the range,
            always a singlet above it).
        sharpness: the slope of the switch per unit of ``x0``; at 40 a pair is 98 % switched
            0.1 away from its threshold.

    Returns:
        A :class:`CircuitSpec` with the data symbol ``x0`` and no weights.

    Example:
    >>> spec = singlet_sector_encoding(4, thresholds=[-0.5, 0.5])   # 0, 1 or 2 singlets
    >>> len(spec.weight_symbols), [str(s) for s in spec.data_symbols]
    (0, ['x0'])
    """
    qubits = _paired(qubits, "the encoding turns pairs of spins into singlets")
    if isinstance(thresholds, (tuple, np.ndarray)):
        thresholds = np.asarray(thresholds).tolist()
    if not isinstance(thresholds, list) or len(thresholds) != len(qubits) // 2 or not all(
            is_finite_number(t) for t in thresholds):
        raise ValueError(f"`thresholds` must be a list of {len(qubits) // 2} finite numbers, one "
                         f"per pair of qubits; got {thresholds!r}.")
    sharpness = check_positive_float(sharpness, "sharpness")
    x0 = sympy.Symbol("x0")
    circuit = cirq.Circuit(cirq.X.on_each(*qubits))
    for p, threshold in enumerate(thresholds):
        a, b = qubits[2 * p], qubits[2 * p + 1]
        # π σ(z) written with tanh, which stays finite for any z.
        switch = sympy.pi / 2 * (1 + sympy.tanh(sharpness * (x0 - float(threshold)) / 2))
        circuit.append([cirq.ry(switch).on(a), cirq.givens(-math.pi / 4).on(a, b)])
    return CircuitSpec(circuit, (x0,), ())


def number_conserving_layers(qubits, n_layers=5, periodic=True):
    """Layers of two-qubit gates that keep the number of spins up: a particle-conserving ansatz.

    Each layer acts on the even bonds ``(0,1), (2,3), …`` and then on the odd bonds
    ``(1,2), …`` (and ``(n-1, 0)`` if ``periodic``). Every bond gets its own two angles: an
    ``ISWAP`` power ``exp(i θ π/4 (XX + YY))``, which hops a spin between the two qubits, and a
    ``ZZ`` power. Both commute with ``Σ Z``, so the circuit explores one magnetization sector:
    the one of the state it starts from (e.g. :func:`singlet_sector_encoding`).

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of at least 2 Cirq qubits.
        n_layers: layers.
        periodic: whether the odd bonds include ``(n-1, 0)``.

    Returns:
        A :class:`CircuitSpec` with ``2 · bonds · n_layers`` weights (80 for 8 periodic qubits
        and 5 layers) and no data symbols.
    """
    qubits = qubit_list(qubits)
    n_layers = check_positive_int(n_layers, "n_layers")
    if len(qubits) < 2:
        raise ValueError(f"`qubits`: number-conserving layers act on bonds, so they need at least "
                         f"2 qubits; got {len(qubits)}.")
    bonds = hamiltonians.chain_bonds(len(qubits), periodic and len(qubits) > 2)
    circuit, weights = cirq.Circuit(), []
    for layer in range(n_layers):
        for i, j in bonds[0::2] + bonds[1::2]:
            xy, zz = sympy.Symbol(f"nxy{layer}_{i}_{j}"), sympy.Symbol(f"nzz{layer}_{i}_{j}")
            weights += [xy, zz]
            circuit.append([cirq.ISwapPowGate(exponent=xy).on(qubits[i], qubits[j]),
                            cirq.ZZPowGate(exponent=zz).on(qubits[i], qubits[j])])
    return CircuitSpec(circuit, (), tuple(weights))


def tfim_ansatz(qubits, n_layers=4, periodic=True):
    """The Hamiltonian variational ansatz of the transverse-field Ising chain.

    From ``|+…+⟩`` (the ground state at large field), ``n_layers`` layers of
    ``exp(-i θ_zz Σ Z_i Z_{i+1}) exp(-i θ_x Σ X_i)``: 2 angles per layer.

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of Cirq qubits.
        n_layers: layers.
        periodic: whether the bonds include ``(n-1, 0)``.

    Returns:
        A :class:`CircuitSpec` with ``2 · n_layers`` weights and no data symbols.
    """
    qubits = qubit_list(qubits)
    n_layers = check_positive_int(n_layers, "n_layers")
    bonds = hamiltonians.chain_bonds(len(qubits), periodic and len(qubits) > 2)
    circuit, weights = cirq.Circuit(cirq.H.on_each(*qubits)), []
    for layer in range(n_layers):
        zz, x = sympy.Symbol(f"zz{layer}_0"), sympy.Symbol(f"hx{layer}")
        weights += [zz, x]
        circuit.append(_two_qubit_rotation(cirq.ZZPowGate, zz, qubits[i], qubits[j])
                       for i, j in bonds)
        circuit.append(cirq.rx(2 * x).on(q) for q in qubits)
    return CircuitSpec(circuit, (), tuple(weights))


def qaoa_ansatz(n_nodes, p=1, graph=None):
    """QAOA for MaxCut: ``p`` layers of ``exp(-i β_l Σ X) exp(-i γ_l C)`` on ``|+…+⟩``.

    ``C = Σ_{(i,j)∈E} w_ij (1 − Z_i Z_j) / 2`` is the cut. Without ``graph``, the circuit serves
    every graph on ``n_nodes`` nodes: it has a ``Z_i Z_j`` rotation for every pair, by
    ``γ_l · x_k`` with ``x_k`` the weight of the pair's edge (0 for no edge), read from the
    features of :class:`tfq_meta.tasks.MaxCut`, in the same pair order. With ``graph``, only its
    edges get gates and the circuit reads no data.

    Args:
        n_nodes: nodes (qubits ``cirq.LineQubit(0 … n-1)``).
        p: layers.
        graph: optional ``networkx.Graph`` on nodes ``0 … n_nodes-1``.

    Returns:
        A :class:`CircuitSpec` with weights ``gamma0, beta0, …`` (``2p``) and, without
        ``graph``, ``n_nodes (n_nodes − 1) / 2`` data symbols.
    """
    n_nodes = check_positive_int(n_nodes, "n_nodes")
    p = check_positive_int(p, "p")
    qubits = cirq.LineQubit.range(n_nodes)
    if graph is None:
        data = [sympy.Symbol(f"x{k}") for k in range(n_nodes * (n_nodes - 1) // 2)]
        edges = [(i, j, w) for (i, j), w in zip(itertools.combinations(range(n_nodes), 2), data)]
    else:
        graph_nodes, edges = hamiltonians.graph_edges(graph)
        if graph_nodes != n_nodes:
            raise ValueError(f"`graph` has {graph_nodes} nodes, but `n_nodes` is {n_nodes}.")
        data = []
    circuit, weights = cirq.Circuit(cirq.H.on_each(*qubits)), []
    for layer in range(p):
        gamma, beta = sympy.Symbol(f"gamma{layer}"), sympy.Symbol(f"beta{layer}")
        weights += [gamma, beta]
        # exp(-iγ w (1 − ZZ)/2) = exp(iγ w ZZ / 2) up to a global phase.
        circuit.append(_two_qubit_rotation(cirq.ZZPowGate, -gamma * w / 2, qubits[i], qubits[j])
                       for i, j, w in edges)
        circuit.append(cirq.rx(2 * beta).on(q) for q in qubits)
    return CircuitSpec(circuit, tuple(data), tuple(weights))


def _two_qubit_rotation(gate, angle, a, b):
    """``exp(-i angle P⊗P)`` for ``gate`` = ``cirq.XXPowGate`` … (``P⊗P`` to the power
    ``2 angle / π``, up to a global phase)."""
    return gate(exponent=2 * angle / math.pi).on(a, b)


def _paired(qubits, why):
    """``qubits`` as a list, checked to be an even number."""
    qubits = qubit_list(qubits)
    if len(qubits) % 2:
        raise ValueError(f"`qubits`: {why}, so it needs an even number; got {len(qubits)}.")
    return qubits
