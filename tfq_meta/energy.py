"""The energy of a Hamiltonian as a Keras loss."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfq_meta")
class Energy(keras.losses.Loss):
    """``E = Σ_k c_k ⟨P_k⟩``: each example's energy, from a model that outputs expectations.

    The model outputs the expectation values ``⟨P_k⟩`` of a fixed list of Pauli strings (a PQC
    whose ``observables`` are a task family's ``terms``); the labels are each example's
    Hamiltonian as the coefficients ``c_k`` of those strings
    (:meth:`tfq_meta.tasks.HamiltonianFamily.data`). Minimizing this loss is the variational
    quantum eigensolver (VQE), one Hamiltonian per example: a whole batch of Hamiltonians is
    measured in one simulation, and the loss is differentiable to any order, so
    :class:`tfq_meta.MetaLearner` meta-learns through it exactly.

    Args:
        reduction: as for any Keras loss; the default averages the examples' energies.
        name: the loss's name.
        dtype: as for any Keras loss.

    Example:
    >>> import numpy as np
    >>> coefficients = np.array([[1.0, 0.5], [2.0, 0.0]], np.float32)   # two Hamiltonians
    >>> expectations = np.array([[-1.0, 1.0], [0.5, 1.0]], np.float32)  # ⟨P_1⟩, ⟨P_2⟩ each
    >>> float(Energy()(coefficients, expectations))    # (-0.5 + 1.0) / 2
    0.25
    """

    def __init__(self, reduction="sum_over_batch_size", name="energy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        _check_one_coefficient_per_term(y_true, y_pred)
        return ops.sum(ops.cast(y_true, y_pred.dtype) * y_pred, axis=-1)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name, "dtype": self.dtype}


def _check_one_coefficient_per_term(coefficients, expectations):
    n_coefficients, n_terms = coefficients.shape[-1], expectations.shape[-1]
    if None not in (n_coefficients, n_terms) and n_coefficients != n_terms:
        raise ValueError(
            f"`Energy` needs one coefficient per measured term: the labels (y_true, each "
            f"Hamiltonian's coefficients c_k) have {n_coefficients} per example, the model's "
            f"outputs (y_pred, the expectations ⟨P_k⟩) {n_terms}. Measure the family's terms: "
            f"models.energy_model(ansatz, family), labels from family.data(…).")
