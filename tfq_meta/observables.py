"""Observables: Pauli strings such as ``"Z0"``, ``"Z0*Z1"`` or ``"0.5*X2 - Z0"`` as Cirq PauliSums.

A qubit index ``i`` in a string means the ``i``-th qubit of the circuit, in Cirq's sorted qubit
order (``sorted(circuit.all_qubits())``), so the same strings work for ``LineQubit`` and
``GridQubit`` circuits.
"""
import re

import cirq
import numpy as np

_PAULIS = {"I": cirq.I, "X": cirq.X, "Y": cirq.Y, "Z": cirq.Z}
# A sign right after a digit and an exponent marker belongs to the number ("1e-3"), not the sum.
_TERM = re.compile(r"([+-]?)\s*((?:[^+-]|(?<=\d[eE])[+-])+)")
_FACTOR = re.compile(r"^([IXYZ])(\d+)$")
_COEFFICIENT = re.compile(r"^\d*\.?\d+(?:[eE][+-]?\d+)?$")


def parse_observables(observables, qubits, argument="observables"):
    """Turns one observable or a list of them into a list of ``cirq.PauliSum``.

    Args:
        observables: a string, ``cirq.PauliString``, ``cirq.PauliSum``, or a list of these.
            Strings are sums of terms; a term is an optional real coefficient and Pauli factors
            ``X``, ``Y``, ``Z`` (or ``I``) followed by a qubit index, joined by ``*``:
            ``"Z0"``, ``"Z0*Z1"``, ``"0.5*X2 - 0.25*Z0*Y1"``.
        qubits: the circuit's qubits in the order string indices refer to.
        argument: the argument name used in error messages.

    Returns:
        A list of ``cirq.PauliSum``, one per observable.

    Raises:
        ValueError: for an unknown Pauli string, a qubit index out of range, an observable
            that acts on a qubit the circuit does not have, or one that is not Hermitian (a
            complex or non-finite coefficient, e.g. ``"X0*Y0"``, which is ``1j*Z0``).
        TypeError: for anything that is not a string or a Cirq Pauli object.

    Example:
    >>> qubits = cirq.LineQubit.range(2)
    >>> print(parse_observables(["Z0", "0.5*Z0*Z1 - X1"], qubits)[1])
    0.500*Z(q(0))*Z(q(1))-1.000*X(q(1))
    """
    qubits = list(qubits)
    if isinstance(observables, (str, cirq.PauliString, cirq.PauliSum)):
        observables = [observables]
    try:
        observables = list(observables)
    except TypeError:
        raise TypeError(
            f"`{argument}` must be a Pauli string like 'Z0*Z1', a cirq.PauliString, a "
            f"cirq.PauliSum or a list of these; got {type(observables).__name__}."
        ) from None
    if not observables:
        raise ValueError(f"`{argument}` is empty: give at least one observable, e.g. 'Z0'.")
    return [_to_pauli_sum(item, qubits, argument) for item in observables]


def _to_pauli_sum(item, qubits, argument):
    if isinstance(item, str):
        pauli_sum = _parse_string(item, qubits, argument)
    elif isinstance(item, cirq.PauliString):
        pauli_sum = cirq.PauliSum.from_pauli_strings([item])
    elif isinstance(item, cirq.PauliSum):
        pauli_sum = item
    else:
        raise TypeError(
            f"`{argument}` entries must be Pauli strings like 'Z0*Z1', cirq.PauliString or "
            f"cirq.PauliSum; got {type(item).__name__} ({item!r})."
        )
    outside = set(pauli_sum.qubits) - set(qubits)
    if outside:
        raise ValueError(
            f"`{argument}` entry {item!r} acts on {sorted(outside)}, which the circuit does not "
            f"have; the circuit's qubits are {qubits}."
        )
    _check_hermitian(pauli_sum, item, argument)
    return pauli_sum


def _check_hermitian(pauli_sum, item, argument):
    # Cirq simplifies a product of Paulis on one qubit to a single Pauli with a phase
    # (X*Y = iZ); a phase that is not real makes the observable non-Hermitian, and its
    # "expectation" would silently drop the imaginary part.
    for term in pauli_sum:
        coefficient = complex(term.coefficient)
        scale = max(1.0, abs(coefficient))
        if not np.isfinite(coefficient) or abs(coefficient.imag) > 1e-12 * scale:
            raise ValueError(
                f"`{argument}` entry {item!r} has the term {term} with coefficient "
                f"{coefficient}: expectations need Hermitian observables, Pauli sums with real "
                "finite coefficients (a product of Paulis on the same qubit, like 'X0*Y0', "
                "is a Pauli times 1j or -1j)."
            )


def _parse_string(text, qubits, argument):
    compact = text.strip()
    if not compact:
        raise ValueError(f"`{argument}` contains an empty string; expected e.g. 'Z0' or 'Z0*Z1'.")
    pauli_sum = cirq.PauliSum()
    position = 0
    for match in _TERM.finditer(compact):
        if compact[position:match.start()].strip():
            break
        position = match.end()
        sign = -1.0 if match.group(1) == "-" else 1.0
        pauli_sum += sign * _parse_term(match.group(2).strip(), text, qubits, argument)
    if compact[position:].strip():
        raise ValueError(_syntax_error(text, argument))
    return pauli_sum


def _parse_term(term, text, qubits, argument):
    coefficient = 1.0
    paulis = []
    for factor in (piece.strip() for piece in term.split("*")):
        if _COEFFICIENT.match(factor) and not paulis:
            coefficient *= float(factor)
            continue
        match = _FACTOR.match(factor.upper())
        if not match:
            raise ValueError(_syntax_error(text, argument))
        index = int(match.group(2))
        if index >= len(qubits):
            raise ValueError(
                f"`{argument}` entry {text!r} uses qubit index {index}, but the circuit has "
                f"{len(qubits)} qubit(s) (indices 0..{len(qubits) - 1})."
            )
        paulis.append(_PAULIS[match.group(1)](qubits[index]))
    if not paulis:
        return cirq.PauliString(coefficient=coefficient)
    return cirq.PauliString(paulis, coefficient=coefficient)


def _syntax_error(text, argument):
    return (
        f"`{argument}` entry {text!r} is not a Pauli string. Expected terms of Pauli factors "
        "X, Y, Z or I with qubit indices joined by '*', with optional real coefficients, "
        "e.g. 'Z0', 'Z0*Z1', 'X2', '0.5*Z0 - X1*X2'."
    )

