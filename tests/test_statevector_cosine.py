"""The vectorizable cosine against NumPy's float64 cosine and its closed-form derivatives."""
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta.engines.statevector.cosine import cosine


def float32_angles():
    """A dense grid, every quadrant's edges and the points just beside them, and large angles
    (their reduction by many multiples of π/2 must stay exact)."""
    edges = np.arange(-64, 65) * np.pi / 4
    beside = np.concatenate([np.nextafter(edges.astype(np.float32), np.float32(sign * np.inf))
                             for sign in (-1, 1)])
    large = np.random.default_rng(0).uniform(-1e4, 1e4, 2000)
    return np.concatenate([np.linspace(-50, 50, 100_001), edges, beside, large]).astype(
        np.float32)


def derivatives(angles):
    """cos and its first three derivatives at ``angles``, by nested tapes."""
    with tf.GradientTape() as third:
        third.watch(angles)
        with tf.GradientTape() as second:
            second.watch(angles)
            with tf.GradientTape() as first:
                first.watch(angles)
                value = cosine(angles, xla=True)
            slope = first.gradient(value, angles)
        curvature = second.gradient(slope, angles)
    return value, slope, curvature, third.gradient(curvature, angles)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_cosine_and_its_derivatives_are_as_accurate_as_tf_cos(jit_compile):
    angles = float32_angles()
    exact = np.float64(angles)
    results = tf.function(derivatives, jit_compile=jit_compile)(tf.constant(angles))
    closed_forms = (np.cos(exact), -np.sin(exact), -np.cos(exact), np.sin(exact))
    # tf.cos of the same float32 angles errs by up to 7.9e-8; float32's spacing near 1 is 6e-8.
    for result, closed_form in zip(results, closed_forms):
        assert result.dtype == tf.float32
        np.testing.assert_allclose(result.numpy(), closed_form, rtol=0, atol=1.2e-7)


def test_cosine_is_tf_cos_without_xla_or_in_float64():
    angles = np.random.default_rng(1).uniform(-10, 10, 1000)
    for values, xla in ((angles.astype(np.float32), False), (angles, True), (angles, False)):
        np.testing.assert_array_equal(cosine(tf.constant(values), xla).numpy(),
                                      tf.cos(tf.constant(values)).numpy())


def test_non_finite_angles_give_nan_as_tf_cos_does():
    angles = tf.constant([np.nan, np.inf, -np.inf, 0.0], tf.float32)
    result = tf.function(lambda a: cosine(a, xla=True), jit_compile=True)(angles).numpy()
    np.testing.assert_array_equal(np.isnan(result), [True, True, True, False])
    assert result[3] == 1.0
