"""HamiltonianFamily: task families whose tasks are Hamiltonians, minimized as energies."""
import cirq
import numpy as np

from tfq_meta import hamiltonians, memory
from tfq_meta._validation import check_positive_int, check_seed
from tfq_meta.tasks.family import TaskFamily


def check_family_size(n_qubits, argument):
    """``n_qubits`` as an int, checked when a family is made: a positive int whose one state
    vector fits in memory (:func:`tfq_meta.memory.check_state_fits`), so a size no engine could
    simulate fails here, naming ``argument``, rather than in TensorFlow later.

    Args:
        n_qubits: the family's size (its spins or graph nodes).
        argument: the constructor's name for it (``"n_qubits"``, ``"n_nodes"``).
    """
    n_qubits = check_positive_int(n_qubits, argument)
    memory.check_state_fits(n_qubits, argument)
    return n_qubits


class HamiltonianFamily(TaskFamily):
    """Tasks ``H(p) = Σ_k c_k(p) P_k``: one fixed list of Pauli strings, coefficients per task.

    A task is a parameter ``p`` (a coupling, a field, a graph). Every task of the family is a
    weighted sum of the same Pauli strings :attr:`terms`, so a model that outputs the
    expectation values ``⟨P_k⟩`` of its circuit (a PQC whose ``observables`` are
    :attr:`terms`) measures every task's energy ``E = Σ_k c_k ⟨P_k⟩`` in one batched call, and
    :class:`tfq_meta.Energy` is that energy as a Keras loss.

    In an episode, ``x`` is a task's :meth:`features` (what the model may read of ``p``, e.g.
    ``Δ`` for Meta-VQE's encoding) and ``y`` its :meth:`coefficients`, one shot each: the inner
    loop minimizes the task's energy on the support set, and the query set is the same
    Hamiltonian.

    Subclasses set :attr:`n_qubits` (checked by :func:`check_family_size`) and :attr:`terms`
    and implement :meth:`sample_parameter`, :meth:`coefficients` and :meth:`features`.

    Attributes:
        n_qubits: the spins (qubits ``cirq.LineQubit(0 … n-1)``).
        terms: list of ``cirq.PauliString`` with coefficient 1.
    """

    n_qubits = None
    terms = ()

    def sample_parameter(self, rng):
        """One task's parameter, drawn from ``rng`` (a ``np.random.Generator``)."""
        raise NotImplementedError

    def coefficients(self, parameter):
        """float64 ``[len(terms)]``: ``c_k(p)``."""
        raise NotImplementedError

    def features(self, parameter):
        """float64 ``[n_features]``: what a model is given of the task."""
        raise NotImplementedError

    @property
    def observables(self):
        """:attr:`terms` as ``cirq.PauliSum``s: the ``observables`` of a PQC for this family."""
        return [cirq.PauliSum.from_pauli_strings([term]) for term in self.terms]

    def hamiltonian(self, parameter):
        """The task's Hamiltonian ``Σ_k c_k(p) P_k`` as a ``cirq.PauliSum``."""
        return cirq.PauliSum.from_pauli_strings(
            [float(c) * term for c, term in zip(self.coefficients(parameter), self.terms)
             if c != 0.0])

    def ground_energy(self, parameter):
        """The exact lowest energy of the task (:func:`tfq_meta.hamiltonians.ground_energy`)."""
        return hamiltonians.ground_energy(self.hamiltonian(parameter), self.n_qubits)

    def data(self, parameters):
        """``(x, y)`` of a list of tasks, for ``model.fit(x, y)`` with the ``Energy`` loss:
        float32 ``[n, n_features]`` features and ``[n, len(terms)]`` coefficients."""
        if not isinstance(parameters, (list, tuple, np.ndarray)) or len(parameters) == 0:
            raise ValueError(f"`parameters` must be a non-empty list of task parameters (see "
                             f"sample_parameters); got {parameters!r}.")
        x = np.stack([self.features(p) for p in parameters]).astype(np.float32)
        y = np.stack([self.coefficients(p) for p in parameters]).astype(np.float32)
        return x, y

    def energies(self, expectations, parameters):
        """Each task's energy from a model's outputs ``[n, len(terms)]``: ``Σ_k c_k ⟨P_k⟩``."""
        coefficients = self.data(parameters)[1]
        expectations = np.asarray(expectations)
        if expectations.shape != coefficients.shape:
            raise ValueError(f"`expectations` must be shaped [tasks, terms] = "
                             f"{list(coefficients.shape)} ({len(parameters)} parameters, "
                             f"{len(self.terms)} terms); got shape {list(expectations.shape)}.")
        return np.sum(coefficients * expectations, axis=-1)

    def episode(self, parameters):
        """The episode of the tasks with these parameters (one task each, in order), for a
        :class:`~tfq_meta.MetaLearner`'s ``fit``, ``evaluate`` or ``adaptation_losses``."""
        x, y = self.data(parameters)
        x, y = x[:, None], y[:, None]
        return {"support_x": x, "support_y": y, "query_x": x, "query_y": y}

    def sample_task(self, rng):
        episode = self.episode([self.sample_parameter(rng)])
        return {key: value[0] for key, value in episode.items()}

    def sample_parameters(self, n_tasks, seed=0):
        """``n_tasks`` parameters, reproducibly from ``seed``."""
        check_positive_int(n_tasks, "n_tasks")
        rng = np.random.default_rng(check_seed(seed))
        return [self.sample_parameter(rng) for _ in range(n_tasks)]
