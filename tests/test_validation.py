"""tfq_meta._validation: the shared finiteness check, eagerly and in graphs."""
import numpy as np
import pytest
import tensorflow as tf

from tfq_meta._validation import checked_finite

MESSAGE = "`x` holds NaN or infinite values"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [tf.float16, tf.float32, tf.float64])
def test_a_non_finite_value_raises_a_value_error_eagerly(bad, dtype):
    values = tf.constant([[0.5, 1.0], [bad, 2.0]], dtype)
    with pytest.raises(ValueError, match=MESSAGE):
        checked_finite(values, MESSAGE)


def test_finite_and_integer_values_pass_unchanged():
    values = tf.constant([[0.5, -1e30], [3.0, 0.0]])
    assert checked_finite(values, MESSAGE) is values
    integers = tf.constant([1, 2, 3])
    assert checked_finite(integers, MESSAGE) is integers


def test_in_a_graph_an_assertion_carries_the_message():
    checked = tf.function(lambda values: checked_finite(values, MESSAGE) * 2.0)
    np.testing.assert_array_equal(checked(tf.constant([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(tf.errors.InvalidArgumentError, match=MESSAGE):
        checked(tf.constant([1.0, np.nan]))
