"""`fit` really learns: the Fourier-series law of data re-uploading (Schuld, Sweke & Meyer 2021).

A one-qubit circuit with r repetitions of an rx(x) encoding between general SU(2) blocks, read out
by a trainable affine map, is a Fourier series of degree r in x. So it fits a random degree-r
series to near-zero MSE, and on an equispaced grid (where frequencies are orthogonal) its MSE
against a degree-(r+1) series can never go below the energy of the frequency-(r+1) terms:
(a_{r+1}^2 + b_{r+1}^2) / 2. That closed form is the oracle.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta import PQC, circuits

R = 2
GRID = (np.arange(24) * 2 * np.pi / 24).astype(np.float32)[:, None]


def fourier_series(x, coefficients):
    """c0 + sum_k a_k cos(kx) + b_k sin(kx), coefficients = [c0, a1, b1, a2, b2, ...]."""
    y = np.full_like(x, coefficients[0])
    for k in range(1, len(coefficients) // 2 + 1):
        y += coefficients[2 * k - 1] * np.cos(k * x) + coefficients[2 * k] * np.sin(k * x)
    return y


def best_training_mse(target):
    keras.utils.set_random_seed(0)
    spec = circuits.reuploading_circuit(1, n_layers=R, rotations=("rz", "ry", "rz"))
    inputs = keras.Input((1,))
    model = keras.Model(inputs, keras.layers.Dense(1)(PQC(spec, "Z0")(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    # One epoch = 100 full-batch steps: keeps Keras' per-epoch overhead out of the way.
    data = tf.data.Dataset.from_tensors((GRID, target)).repeat(100)
    history = model.fit(data, epochs=4, shuffle=False, verbose=0)
    return min(history.history["loss"]), float(np.mean((model(GRID).numpy() - target) ** 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_fits_degree_r_series(seed):
    coefficients = np.random.default_rng(seed).uniform(-0.5, 0.5, 2 * R + 1)
    target = fourier_series(GRID, coefficients).astype(np.float32)
    _, final_mse = best_training_mse(target)
    assert final_mse < 1e-4 * np.var(target)


@pytest.mark.parametrize("seed", [0, 1])
def test_cannot_fit_degree_r_plus_one_series(seed):
    coefficients = np.random.default_rng(seed).uniform(-0.5, 0.5, 2 * R + 3)
    target = fourier_series(GRID, coefficients).astype(np.float32)
    bound = (coefficients[-2] ** 2 + coefficients[-1] ** 2) / 2
    best_mse, final_mse = best_training_mse(target)
    # The bound is exact; float32 round-off is far below 1e-5 of it.
    assert best_mse >= bound * (1 - 1e-5)
    # ...and training does reach it: the lower frequencies are all learned.
    assert final_mse < bound * 1.01
