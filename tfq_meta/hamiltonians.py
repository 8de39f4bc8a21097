"""Hamiltonians of quantum tasks, as Cirq ``PauliSum``s, and their exact solutions.

Builders (qubits are ``cirq.LineQubit(0 … n-1)``, index ``i`` is the ``i``-th spin):

* :func:`xxz_chain`: ``Σ_i (X_i X_{i+1} + Y_i Y_{i+1} + Δ Z_i Z_{i+1}) + λ Σ_i Z_i``;
* :func:`transverse_field_ising`: ``-Σ_i Z_i Z_{i+1} - h Σ_i X_i``;
* :func:`maxcut_hamiltonian`: ``Σ_{(i,j)∈E} (w_ij / 2) Z_i Z_j``, whose energy ``E`` gives the
  expected cut ``W/2 - E`` (``W`` the total edge weight).

Exact references, for evaluating what a variational circuit reaches:

* :func:`ground_energy`: dense diagonalization up to :data:`DENSE_MAX_QUBITS` qubits, sparse
  Lanczos (``scipy.sparse.linalg.eigsh``) up to :data:`GROUND_ENERGY_MAX_QUBITS`;
* :func:`max_cut`: the best cut by enumerating every assignment, up to
  :data:`MAX_CUT_MAX_NODES` nodes.

:func:`check_hamiltonian` is the one check every Hamiltonian passes: a non-empty PauliSum with
real coefficients (a Hermitian operator).
"""
import functools

import cirq
import networkx as nx
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from tfq_meta._validation import (check_bool, check_finite_number, check_positive_int,
                                  is_finite_number)

# Dense eigvalsh below this many qubits (a 2^10 matrix takes milliseconds), sparse Lanczos above.
DENSE_MAX_QUBITS = 10
# A sparse Hamiltonian on 16 qubits holds ~2^16 · (terms) non-zeros: tens of MB; the dense
# matrix would need 64 GB.
GROUND_ENERGY_MAX_QUBITS = 16
# 2^20 assignments × 20 nodes of bits: 20 MB.
MAX_CUT_MAX_NODES = 20

_PAULI_MATRICES = {
    cirq.X: np.array([[0, 1], [1, 0]], complex),
    cirq.Y: np.array([[0, -1j], [1j, 0]], complex),
    cirq.Z: np.array([[1, 0], [0, -1]], complex),
}


def xxz_chain(n_qubits, delta, field=0.75, periodic=True):
    """The XXZ spin chain in a longitudinal field (the Meta-VQE benchmark).

    ``H = Σ_i (X_i X_{i+1} + Y_i Y_{i+1} + Δ Z_i Z_{i+1}) + λ Σ_i Z_i``, with the bond
    ``(n-1, 0)`` when ``periodic``.

    Args:
        n_qubits: spins, at least 2 (3 when periodic).
        delta: the anisotropy ``Δ``.
        field: the field ``λ``.
        periodic: whether the chain closes into a ring.

    Returns:
        ``cirq.PauliSum`` on ``cirq.LineQubit.range(n_qubits)``.

    Example:
    >>> len(xxz_chain(4, delta=0.5))   # 4 bonds x 3 + 4 field terms
    16
    """
    check_finite_number(delta, "delta"), check_finite_number(field, "field")
    q = cirq.LineQubit.range(n_qubits)
    terms = [coefficient * pauli(q[i]) * pauli(q[j])
             for i, j in chain_bonds(n_qubits, periodic)
             for pauli, coefficient in ((cirq.X, 1.0), (cirq.Y, 1.0), (cirq.Z, delta))]
    terms += [field * cirq.Z(qubit) for qubit in q]
    return cirq.PauliSum.from_pauli_strings(terms)


def transverse_field_ising(n_qubits, field, periodic=True):
    """The transverse-field Ising chain ``H = -Σ_i Z_i Z_{i+1} - h Σ_i X_i``.

    Args:
        n_qubits: spins, at least 2 (3 when periodic).
        field: the transverse field ``h`` (critical at ``h = 1``).
        periodic: whether the chain closes into a ring.

    Returns:
        ``cirq.PauliSum`` on ``cirq.LineQubit.range(n_qubits)``.
    """
    check_finite_number(field, "field")
    q = cirq.LineQubit.range(n_qubits)
    terms = [-1.0 * cirq.Z(q[i]) * cirq.Z(q[j]) for i, j in chain_bonds(n_qubits, periodic)]
    terms += [-field * cirq.X(qubit) for qubit in q]
    return cirq.PauliSum.from_pauli_strings(terms)


def maxcut_hamiltonian(graph):
    """``Σ_{(i,j)∈E} (w_ij / 2) Z_i Z_j`` of a graph: the expected cut is ``W/2 − ⟨H⟩``.

    Args:
        graph: a ``networkx.Graph`` on nodes ``0 … n-1``, with optional ``weight`` edge
            attributes (default 1).

    Returns:
        ``cirq.PauliSum`` on ``cirq.LineQubit.range(n)``.
    """
    n_nodes, edges = graph_edges(graph)
    qubits = cirq.LineQubit.range(n_nodes)
    return cirq.PauliSum.from_pauli_strings(
        [0.5 * weight * cirq.Z(qubits[i]) * cirq.Z(qubits[j]) for i, j, weight in edges])


def chain_bonds(n_qubits, periodic):
    """The nearest-neighbour bonds ``(i, i+1)`` of a chain, with ``(n-1, 0)`` when periodic."""
    check_positive_int(n_qubits, "n_qubits")
    check_bool(periodic, "periodic")
    if n_qubits < (3 if periodic else 2):
        raise ValueError(f"`n_qubits` must be at least {3 if periodic else 2} for a "
                         f"{'periodic' if periodic else 'open'} chain; got {n_qubits}.")
    return [(i, (i + 1) % n_qubits) for i in range(n_qubits if periodic else n_qubits - 1)]


def graph_edges(graph):
    """``(n_nodes, [(i, j, weight), …])`` of a graph on nodes ``0 … n-1``, checked."""
    if not isinstance(graph, nx.Graph) or graph.is_directed():
        raise TypeError(f"`graph` must be an undirected networkx.Graph; got "
                        f"{type(graph).__name__}.")
    n_nodes = graph.number_of_nodes()
    if sorted(graph.nodes) != list(range(n_nodes)):
        raise ValueError("`graph` must have the nodes 0 … n-1 (they index the qubits); got "
                         f"{sorted(graph.nodes)[:10]}. Relabel it with "
                         "networkx.convert_node_labels_to_integers.")
    if graph.number_of_edges() == 0:
        raise ValueError(f"`graph` has no edges: every cut of its {n_nodes} nodes is 0, so there "
                         "is nothing to optimize.")
    edges = [(min(i, j), max(i, j), data.get("weight", 1.0))
             for i, j, data in graph.edges(data=True)]
    for i, j, weight in edges:
        if i == j:
            raise ValueError(f"`graph` has a self-loop on node {i}; a cut cannot separate it.")
        if not is_finite_number(weight):
            raise ValueError(f"`graph` edge ({i}, {j}) has weight {weight!r}; weights must be "
                             "finite numbers.")
    return n_nodes, edges


def check_hamiltonian(hamiltonian, argument="hamiltonian"):
    """Returns ``hamiltonian`` if it is a non-empty ``cirq.PauliSum`` with real, finite
    coefficients (a Hermitian operator), else raises naming ``argument``."""
    if isinstance(hamiltonian, cirq.PauliString):
        hamiltonian = cirq.PauliSum.from_pauli_strings([hamiltonian])
    if not isinstance(hamiltonian, cirq.PauliSum):
        raise TypeError(f"`{argument}` must be a cirq.PauliSum; got {type(hamiltonian).__name__}.")
    terms = list(hamiltonian)
    if not terms:
        raise ValueError(f"`{argument}` is an empty PauliSum (the zero operator): it has no "
                         "ground state to find.")
    for term in terms:
        coefficient = complex(term.coefficient)
        if abs(coefficient.imag) > 1e-12 or not np.isfinite(coefficient.real):
            raise ValueError(
                f"`{argument}` must be Hermitian: every Pauli term needs a real, finite "
                f"coefficient; the term {term} has {term.coefficient}.")
    return hamiltonian


def sparse_matrix(hamiltonian, n_qubits=None):
    """The Hamiltonian as a ``scipy.sparse`` CSR matrix ``[2^n, 2^n]``, qubit 0 the most
    significant bit (Cirq's order), on ``n_qubits`` ``cirq.LineQubit``s (default: up to the
    highest the Hamiltonian acts on)."""
    hamiltonian = check_hamiltonian(hamiltonian)
    n_qubits = _n_qubits(hamiltonian, n_qubits)
    qubits = cirq.LineQubit.range(n_qubits)
    matrix = scipy.sparse.csr_matrix((2 ** n_qubits, 2 ** n_qubits), dtype=complex)
    for term in hamiltonian:
        factors = [scipy.sparse.csr_matrix(_PAULI_MATRICES[term[q]]) if q in term
                   else scipy.sparse.identity(2, format="csr") for q in qubits]
        product = functools.reduce(lambda a, b: scipy.sparse.kron(a, b, format="csr"), factors)
        matrix = matrix + complex(term.coefficient) * product
    return matrix


def ground_energy(hamiltonian, n_qubits=None):
    """The lowest eigenvalue of a Hamiltonian on ``cirq.LineQubit``s.

    Args:
        hamiltonian: ``cirq.PauliSum`` with real coefficients.
        n_qubits: how many qubits the space has; default one more than the highest qubit
            index the Hamiltonian acts on.

    Returns:
        float.

    Example:
    >>> round(ground_energy(transverse_field_ising(3, field=0.0)), 6)   # all spins aligned
    -3.0
    """
    hamiltonian = check_hamiltonian(hamiltonian)
    n_qubits = _n_qubits(hamiltonian, n_qubits)
    if n_qubits > GROUND_ENERGY_MAX_QUBITS:
        raise ValueError(
            f"`hamiltonian` acts on {n_qubits} qubits; exact ground energies are computed up to "
            f"{GROUND_ENERGY_MAX_QUBITS} (a sparse matrix of 2^{n_qubits} rows beyond that "
            "takes too much memory and time).")
    matrix = sparse_matrix(hamiltonian, n_qubits)
    if n_qubits <= DENSE_MAX_QUBITS:
        return float(np.linalg.eigvalsh(matrix.toarray())[0])
    # Fixed start vector: the result does not depend on NumPy's global random state.
    start = np.random.default_rng(0).standard_normal(2 ** n_qubits)
    value = scipy.sparse.linalg.eigsh(matrix, k=1, which="SA", v0=start, tol=1e-10,
                                      return_eigenvectors=False)
    return float(value[0])


def max_cut(graph):
    """The weight of a maximum cut of ``graph``, by enumerating every assignment.

    Args:
        graph: a ``networkx.Graph`` on nodes ``0 … n-1`` (``n ≤ MAX_CUT_MAX_NODES``), with
            optional ``weight`` edge attributes.

    Returns:
        float.

    Example:
    >>> import networkx as nx
    >>> max_cut(nx.cycle_graph(5))   # an odd cycle: all edges but one
    4.0
    """
    n_nodes, edges = graph_edges(graph)
    if n_nodes > MAX_CUT_MAX_NODES:
        raise ValueError(f"`graph` has {n_nodes} nodes; the maximum cut is found by trying all "
                         f"2^n assignments, up to {MAX_CUT_MAX_NODES} nodes.")
    # Node 0 stays on one side: each cut is counted once, and half the assignments are enough.
    assignments = np.arange(2 ** (n_nodes - 1))[:, None] >> np.arange(n_nodes - 1) & 1
    sides = np.concatenate([np.zeros((len(assignments), 1), np.int64), assignments], axis=1)
    cuts = sum(weight * (sides[:, i] != sides[:, j]) for i, j, weight in edges)
    return float(np.max(cuts))


def _n_qubits(hamiltonian, n_qubits):
    if not all(isinstance(q, cirq.LineQubit) for q in hamiltonian.qubits):
        raise ValueError("`hamiltonian` must act on cirq.LineQubits (qubit i is spin i); got "
                         f"{sorted(hamiltonian.qubits)}.")
    highest = max(q.x for q in hamiltonian.qubits) + 1 if hamiltonian.qubits else 1
    if n_qubits is None:
        return highest
    check_positive_int(n_qubits, "n_qubits")
    if n_qubits < highest:
        raise ValueError(f"`n_qubits`={n_qubits}, but `hamiltonian` acts on qubit "
                         f"{highest - 1}.")
    return n_qubits
