"""The Energy loss: its formula, a VQE that reaches the exact ground energy with plain ``fit``,
and a model compiled with it saved and reloaded whole.

Oracles: the formula by hand, exact diagonalization (tfq_meta.hamiltonians, tested against
NumPy matrices)."""
import keras
import numpy as np
import pytest

from tfq_meta import Energy, circuits, models, tasks


def test_energy_is_the_coefficient_weighted_sum_of_expectations(rng):
    coefficients = rng.normal(size=(5, 7)).astype(np.float32)
    expectations = rng.uniform(-1, 1, size=(5, 7)).astype(np.float32)
    per_example = np.sum(coefficients.astype(np.float64) * expectations, axis=1)
    np.testing.assert_allclose(Energy(reduction=None)(coefficients, expectations), per_example,
                               rtol=1e-5)
    assert float(Energy()(coefficients, expectations)) == pytest.approx(per_example.mean(),
                                                                         rel=1e-5)


def test_vqe_with_fit_reaches_the_exact_ground_energy():
    # The Ising ansatz with N/2 layers holds the periodic chain's ground state.
    family = tasks.TransverseFieldIsing(n_qubits=4)
    keras.utils.set_random_seed(0)
    model = models.energy_model(circuits.tfim_ansatz(4, n_layers=2), family,
                                initializer=keras.initializers.RandomUniform(-0.1, 0.1))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=Energy())
    x, y = family.data([1.2])
    # 200 steps in one epoch: Keras' per-epoch work would take most of the time.
    model.fit(np.repeat(x, 200, axis=0), np.repeat(y, 200, axis=0), batch_size=1, verbose=0)
    energy = family.energies(model.predict(x, verbose=0), [1.2])[0]
    assert energy == pytest.approx(family.ground_energy(1.2), abs=1e-3)


def test_energy_model_saves_and_reloads_with_its_loss(tmp_path):
    family = tasks.XXZChain(n_qubits=4)
    model = models.energy_model(circuits.meta_vqe_ansatz(4, 1, 1), family)
    model.compile(optimizer="adam", loss=Energy())
    x, y = family.data(family.sample_parameters(3))
    model.save(tmp_path / "vqe.keras")
    reloaded = keras.saving.load_model(tmp_path / "vqe.keras")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert isinstance(reloaded.loss, Energy)
    assert reloaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                               abs=1e-5)


def test_labels_and_outputs_of_different_widths_are_refused():
    # Three coefficients against five expectations used to fail inside TensorFlow's Mul.
    with pytest.raises(ValueError, match="`Energy` needs one coefficient per measured term: the "
                                         "labels .* have 3 per example, the model's outputs "
                                         r"\(y_pred, the expectations ⟨P_k⟩\) 5"):
        Energy()(np.zeros((2, 3), np.float32), np.zeros((2, 5), np.float32))
