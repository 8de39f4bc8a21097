"""Spin-chain families: the XXZ chain of Meta-VQE and the transverse-field Ising chain."""
import cirq
import numpy as np

from tfq_meta import hamiltonians
from tfq_meta._validation import check_finite_number, check_interval
from tfq_meta.tasks.hamiltonian_family import HamiltonianFamily, check_family_size


class XXZChain(HamiltonianFamily):
    """XXZ chains in a field, one task per anisotropy ``Δ`` (the Meta-VQE benchmark).

    ``H(Δ) = Σ_i (X_i X_{i+1} + Y_i Y_{i+1} + Δ Z_i Z_{i+1}) + λ Σ_i Z_i``, periodic, with ``Δ``
    drawn uniformly from ``delta_range``. A task's features are ``[Δ]``.

    Args:
        n_qubits: spins (default 8, as in Meta-VQE); one state vector of them must fit in
            memory.
        field: ``λ`` (default 0.75).
        delta_range: ``(low, high)`` of ``Δ`` (default ``(-1.1, 1.1)``).
        periodic: whether the chain is a ring.

    Example:
    >>> family = XXZChain(n_qubits=4)
    >>> len(family.terms), family.coefficients(0.5)[:3]
    (16, array([1. , 1. , 0.5]))
    >>> episode = family.sample(n_tasks=3)
    >>> episode["support_x"].shape, episode["support_y"].shape
    ((3, 1, 1), (3, 1, 16))
    """

    def __init__(self, n_qubits=8, field=0.75, delta_range=(-1.1, 1.1), periodic=True):
        n_qubits = check_family_size(n_qubits, "n_qubits")
        self.n_qubits, self.field, self.periodic = n_qubits, field, periodic
        self.delta_range = check_interval(delta_range, "delta_range")
        q = cirq.LineQubit.range(n_qubits)
        self._bonds = hamiltonians.chain_bonds(n_qubits, periodic)
        hamiltonians.xxz_chain(n_qubits, 0.0, field, periodic)  # checks `field`
        self.terms = [pauli(q[i]) * pauli(q[j]) for i, j in self._bonds
                      for pauli in (cirq.X, cirq.Y, cirq.Z)] + [cirq.Z(qubit) for qubit in q]

    def sample_parameter(self, rng):
        return float(rng.uniform(*self.delta_range))

    def coefficients(self, delta):
        bonds = np.tile([1.0, 1.0, check_finite_number(delta, "delta")], len(self._bonds))
        return np.concatenate([bonds, np.full(self.n_qubits, float(self.field))])

    def features(self, delta):
        return np.array([check_finite_number(delta, "delta")], dtype=np.float64)


class TransverseFieldIsing(HamiltonianFamily):
    """Transverse-field Ising chains ``H(h) = -Σ_i Z_i Z_{i+1} - h Σ_i X_i``, one task per ``h``.

    ``h`` is drawn uniformly from ``field_range`` (default ``(0.5, 1.5)``, across the critical
    point ``h = 1``). A task's features are ``[h]``.

    Args:
        n_qubits: spins (default 8); one state vector of them must fit in memory.
        field_range: ``(low, high)`` of ``h``.
        periodic: whether the chain is a ring.

    Example:
    >>> family = TransverseFieldIsing(n_qubits=4)
    >>> family.coefficients(1.2)
    array([-1. , -1. , -1. , -1. , -1.2, -1.2, -1.2, -1.2])
    """

    def __init__(self, n_qubits=8, field_range=(0.5, 1.5), periodic=True):
        n_qubits = check_family_size(n_qubits, "n_qubits")
        self.n_qubits, self.periodic = n_qubits, periodic
        self.field_range = check_interval(field_range, "field_range")
        q = cirq.LineQubit.range(n_qubits)
        self._bonds = hamiltonians.chain_bonds(n_qubits, periodic)
        self.terms = [cirq.Z(q[i]) * cirq.Z(q[j]) for i, j in self._bonds] + \
            [cirq.X(qubit) for qubit in q]

    def sample_parameter(self, rng):
        return float(rng.uniform(*self.field_range))

    def coefficients(self, field):
        return np.concatenate([np.full(len(self._bonds), -1.0),
                               np.full(self.n_qubits, -check_finite_number(field, "field"))])

    def features(self, field):
        return np.array([check_finite_number(field, "field")], dtype=np.float64)
