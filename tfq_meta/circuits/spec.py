"""CircuitSpec: a parameterized circuit with its data and weight symbols, and shared helpers."""
import dataclasses

import cirq

from tfq_meta._validation import check_positive_int


@dataclasses.dataclass(frozen=True)
class CircuitSpec:
    """A parameterized circuit with its data and weight symbols.

    Attributes:
        circuit: the ``cirq.Circuit``.
        data_symbols: tuple of ``sympy.Symbol`` whose values come from features, in feature order.
        weight_symbols: tuple of ``sympy.Symbol`` that are trainable weights.
        initial_values: dict ``{symbol name: float}`` of weights that should not start at a
            random angle (e.g. input scales start at 1.0).
    """

    circuit: cirq.Circuit
    data_symbols: tuple = ()
    weight_symbols: tuple = ()
    initial_values: dict = dataclasses.field(default_factory=dict)

    def __add__(self, other):
        """Concatenates two specs: circuits in sequence, symbols in first-appearance order."""
        return CircuitSpec(
            self.circuit + other.circuit,
            unique(self.data_symbols + other.data_symbols),
            unique(self.weight_symbols + other.weight_symbols),
            {**self.initial_values, **other.initial_values},
        )

    @property
    def qubits(self):
        return sorted(self.circuit.all_qubits())


def qubit_list(qubits):
    """``qubits`` as a list of Cirq qubits: an int n gives ``cirq.LineQubit.range(n)``."""
    if isinstance(qubits, int) and not isinstance(qubits, bool):
        n_qubits = check_positive_int(qubits, "qubits")
        return cirq.LineQubit.range(n_qubits)
    try:
        qubits = list(qubits)
    except TypeError:
        raise TypeError(
            f"`qubits` must be a positive int or a sequence of Cirq qubits; got {qubits!r}."
        ) from None
    if not qubits or not all(isinstance(q, cirq.Qid) for q in qubits):
        raise TypeError(f"`qubits` must be a non-empty sequence of Cirq qubits; got {qubits!r}.")
    repeated = sorted({q for q in qubits if qubits.count(q) > 1})
    if repeated:
        raise ValueError(f"`qubits` lists {repeated} more than once; give distinct qubits.")
    qudits = [q for q in qubits if q.dimension != 2]
    if qudits:
        raise ValueError(f"`qubits` contains {qudits[0]!r} of dimension {qudits[0].dimension}: "
                         "only qubits (dimension 2) are supported.")
    return qubits


def sequence_of(value, argument):
    """A name, or a sequence of names, as a list."""
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(
            f"`{argument}` must be a name or a sequence of names; got {value!r}.") from None


def unique(symbols):
    """``symbols`` without repeats, in first-seen order."""
    return tuple(dict.fromkeys(symbols))
