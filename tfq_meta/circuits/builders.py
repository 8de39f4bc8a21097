"""Cirq circuit builders: data encodings, hardware-efficient ansatzes and data re-uploading.

Every builder returns a :class:`CircuitSpec`: the circuit (sympy-symbol parameterized) together
with the names of its data symbols (fed from features) and weight symbols (trained), in the order
a :class:`tfq_meta.layers.PQC` expects them. Specs compose with ``+``.

Symbol names:
    ``x{j}``           feature ``j``.
    ``w{b}_{q}_{k}``   the ``k``-th rotation on qubit ``q`` in trainable block ``b``.
    ``s{l}_{i}``       trainable scale of rotation ``i`` in encoding layer ``l`` (re-uploading).
"""
import cirq
import sympy

from tfq_meta._validation import check_choice, check_non_negative_int, check_positive_int
from tfq_meta.circuits.spec import CircuitSpec, qubit_list, sequence_of

ROTATIONS = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz}
ENTANGLERS = ("cnot", "cz", "cnot_ring", "cz_ring", "none")
_AXES = ("rx", "ry", "rz")


def angle_encoding(qubits, n_features=None, rotation="rx", scale_prefix=None):
    """Encodes features as rotation angles, covering every qubit and every feature.

    The encoding has ``max(n_features, n_qubits)`` rotations: rotation ``i`` puts feature
    ``i % n_features`` on qubit ``i % n_qubits``. Fewer features than qubits are repeated across
    the qubits (a richer frequency spectrum); when features outnumber qubits, successive rotations
    on the same qubit turn about successive axes (x, y, z, x, …, starting from ``rotation``) so
    they do not merely add up.

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of Cirq qubits.
        n_features: number of features; defaults to one per qubit.
        rotation: ``"rx"``, ``"ry"`` or ``"rz"``, the first axis used on each qubit.
        scale_prefix: if given, rotation ``i`` turns by ``{scale_prefix}{i} * x`` with a trainable
            scale symbol (initial value 1.0) instead of by ``x``.

    Returns:
        A :class:`CircuitSpec` with data symbols ``x0 … x{n_features-1}`` and, with
        ``scale_prefix``, one weight per rotation.

    Example:
    >>> spec = angle_encoding(2, rotation="ry")
    >>> [str(s) for s in spec.data_symbols]
    ['x0', 'x1']
    """
    qubits = qubit_list(qubits)
    n_features = len(qubits) if n_features is None else check_positive_int(n_features, "n_features")
    first_axis = check_choice(rotation, ROTATIONS, "rotation")
    if scale_prefix is not None and not (isinstance(scale_prefix, str) and
                                         scale_prefix.isidentifier()):
        # sympy.symbols would split a name at spaces or commas into several symbols.
        raise ValueError("`scale_prefix` must be None or a symbol name such as 's' (letters, "
                         f"digits, underscores); got {scale_prefix!r}.")
    features = sympy.symbols(f"x0:{n_features}")
    n_rotations = max(n_features, len(qubits))
    scales = sympy.symbols(f"{scale_prefix}0:{n_rotations}") if scale_prefix else ()
    circuit = cirq.Circuit()
    for i in range(n_rotations):
        axis = _AXES[(_AXES.index(first_axis) + i // len(qubits)) % 3]
        angle = features[i % n_features] * (scales[i] if scales else 1)
        circuit.append(ROTATIONS[axis](angle).on(qubits[i % len(qubits)]))
    return CircuitSpec(circuit, tuple(features), tuple(scales), {str(s): 1.0 for s in scales})


def hardware_efficient_ansatz(qubits, n_layers=1, rotations=("ry", "rz"), entangler="cnot",
                              first_block=0):
    """Layers of single-qubit rotations on every qubit followed by an entangling pattern.

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of Cirq qubits.
        n_layers: number of rotation + entangler layers.
        rotations: rotation gates applied to each qubit in each layer, from ``"rx"``, ``"ry"``,
            ``"rz"``.
        entangler: ``"cnot"`` or ``"cz"`` along a chain, ``"cnot_ring"`` / ``"cz_ring"`` closing
            the chain into a ring, or ``"none"``.
        first_block: index used in the symbol names of the first layer (``w{block}_{q}_{k}``),
            so several ansatz blocks in one circuit get distinct symbols.

    Returns:
        A :class:`CircuitSpec` with ``n_layers * len(qubits) * len(rotations)`` weight symbols.

    Example:
    >>> spec = hardware_efficient_ansatz(3, n_layers=2)
    >>> len(spec.weight_symbols)
    12
    """
    qubits = qubit_list(qubits)
    n_layers = check_non_negative_int(n_layers, "n_layers")
    rotations = [check_choice(r, ROTATIONS, "rotations")
                 for r in sequence_of(rotations, "rotations")]
    entangler = check_choice(entangler, ENTANGLERS, "entangler")
    first_block = check_non_negative_int(first_block, "first_block")
    circuit, weights = cirq.Circuit(), []
    for block in range(first_block, first_block + n_layers):
        for q, qubit in enumerate(qubits):
            for k, rotation in enumerate(rotations):
                weight = sympy.Symbol(f"w{block}_{q}_{k}")
                weights.append(weight)
                circuit.append(ROTATIONS[rotation](weight).on(qubit))
        circuit.append(_entangling_layer(qubits, entangler))
    return CircuitSpec(circuit, (), tuple(weights))


def reuploading_circuit(qubits, n_layers, n_features=None, encoding="rx", rotations=("ry", "rz"),
                        entangler="cnot", trainable_scaling=False):
    """Data re-uploading: trainable blocks between ``n_layers`` repetitions of the encoding.

    The circuit is ``W_0 S(x) W_1 S(x) … S(x) W_L`` with ``L = n_layers``: each ``W_b`` is one
    hardware-efficient layer and each ``S(x)`` an :func:`angle_encoding`. With ``L`` repetitions of
    an ``exp(-i x σ/2)`` encoding on one qubit, the model is a Fourier series of degree ``L`` in
    ``x`` (Schuld, Sweke & Meyer 2021): more layers, richer functions.

    Args:
        qubits: an int (that many ``cirq.LineQubit``) or a sequence of Cirq qubits.
        n_layers: number of encoding repetitions ``L`` (there are ``L + 1`` trainable blocks).
        n_features: number of features; defaults to one per qubit.
        encoding: rotation used by the encoding, ``"rx"``, ``"ry"`` or ``"rz"``.
        rotations: rotations of each trainable block (see :func:`hardware_efficient_ansatz`).
        entangler: entangling pattern of each trainable block.
        trainable_scaling: if True, rotation ``i`` of encoding layer ``l`` multiplies its feature
            by its own trainable scale ``s{l}_{i}`` (initial value 1.0), which lets the model
            learn the frequencies of its Fourier series.

    Returns:
        A :class:`CircuitSpec`.

    Example:
    >>> spec = reuploading_circuit(1, n_layers=2, rotations=("rz", "ry", "rz"))
    >>> len(spec.data_symbols), len(spec.weight_symbols)
    (1, 9)
    """
    qubits = qubit_list(qubits)
    n_layers = check_positive_int(n_layers, "n_layers")
    n_features = len(qubits) if n_features is None else check_positive_int(n_features, "n_features")
    spec = hardware_efficient_ansatz(qubits, 1, rotations, entangler, first_block=0)
    for layer in range(n_layers):
        scale_prefix = f"s{layer}_" if trainable_scaling else None
        spec = spec + angle_encoding(qubits, n_features, encoding, scale_prefix)
        spec = spec + hardware_efficient_ansatz(qubits, 1, rotations, entangler,
                                                first_block=layer + 1)
    return spec


def _entangling_layer(qubits, entangler):
    if entangler == "none" or len(qubits) < 2:
        return []
    gate = cirq.CNOT if entangler.startswith("cnot") else cirq.CZ
    pairs = list(zip(qubits[:-1], qubits[1:]))
    if entangler.endswith("_ring") and len(qubits) > 2:
        pairs.append((qubits[-1], qubits[0]))
    return [gate(a, b) for a, b in pairs]
