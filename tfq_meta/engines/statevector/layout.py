"""How a matrix on a few qubits meets the state: a view of it and einsum labels (NumPy only).

A state of ``n`` qubits is ``2^n`` amplitudes, qubit 0 the most significant bit. A matrix on
qubits ``axes`` contracts with the state reshaped to as few dimensions as possible,
``[2^a, 2, 2^gap, 2, …, 2^rest]``: one dimension of size 2 per qubit of the matrix, the qubits
between them merged (dimensions of size 1 left out). No transpose of the state is needed.
"""
import dataclasses

import numpy as np

_LETTERS = "acdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # "b" is the batch


@dataclasses.dataclass(frozen=True)
class EinsumLayout:
    """``view``: the state's shape (without batch); ``state_labels``, ``matrix_labels`` (out
    qubits then in qubits, in the matrix's qubit order) and ``output_labels``: the einsum
    ``f"{matrix_labels},{state_labels}->{output_labels}"`` applies the matrix, reshaped to
    ``[2] * 2k``, to the state viewed as ``view``."""

    view: tuple
    state_labels: str
    matrix_labels: str
    output_labels: str

    @classmethod
    def of(cls, axes, n):
        """The layout for a matrix on qubits ``axes`` (in its qubit order) of ``n``."""
        letters = iter(_LETTERS)
        inputs = {a: next(letters) for a in sorted(axes)}
        outputs = {a: next(letters) for a in axes}
        view, state_labels, output_labels, previous = [], "", "", -1
        for a in sorted(axes) + [n]:
            if a - previous > 1:
                view.append(2 ** (a - previous - 1))
                label = next(letters)
                state_labels, output_labels = state_labels + label, output_labels + label
            if a < n:
                view.append(2)
                state_labels, output_labels = state_labels + inputs[a], output_labels + outputs[a]
            previous = a
        matrix_labels = "".join(outputs[a] for a in axes) + "".join(inputs[a] for a in axes)
        return cls(tuple(view), state_labels, matrix_labels, output_labels)

    def apply(self, matrix, state):
        """``matrix`` ``[2^k, 2^k]`` applied to a flat NumPy state ``[2^n]``."""
        k = len(self.matrix_labels) // 2
        return np.einsum(f"{self.matrix_labels},{self.state_labels}->{self.output_labels}",
                         matrix.reshape([2] * (2 * k)), state.reshape(self.view)).reshape(-1)
