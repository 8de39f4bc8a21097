"""Argument checks shared by the modules: errors that name the argument and what it accepts."""
import numpy as np
import tensorflow as tf


def check_choice(value, allowed, argument):
    """Returns ``value`` if it is one of ``allowed``, else raises a ValueError naming it."""
    if value not in allowed:
        raise ValueError(f"`{argument}` must be one of {list(allowed)}; got {value!r}.")
    return value


def check_positive_int(value, argument, allow_none=False):
    """Returns ``value`` as an int if it is a positive integer (not a bool), else raises.

    With ``allow_none``, ``None`` is accepted and returned as is.
    """
    return _check_int(value, argument, 1, "a positive int", allow_none)


def check_non_negative_int(value, argument, allow_none=False, meaning=""):
    """Returns ``value`` as an int if it is an integer >= 0 (not a bool), else raises; the error
    adds ``meaning`` (e.g. " (a number of epochs)") to what is accepted."""
    return _check_int(value, argument, 0, f"a non-negative int{meaning}", allow_none)


def check_int_at_least(value, minimum, argument, meaning=""):
    """Returns ``value`` as an int if it is an integer >= ``minimum`` (not a bool), else raises;
    the error adds ``meaning`` (e.g. " (classes per task)") to what is accepted."""
    return _check_int(value, argument, minimum, f"an int >= {minimum}{meaning}", False)


def _check_int(value, argument, minimum, accepted, allow_none):
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        accepted = f"None or {accepted}" if allow_none else accepted
        raise ValueError(f"`{argument}` must be {accepted}; got {value!r}.")
    return int(value)


def check_bool(value, argument):
    """Returns ``value`` as a bool if it is True or False (NumPy's included), else raises: a
    string such as ``"no"`` would otherwise count as true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{argument}` must be True or False; got {value!r}.")
    return bool(value)


def check_seed(seed, argument="seed", allow_sequence=True):
    """Returns ``seed`` if ``np.random.default_rng`` takes it as a reproducible seed: an int >= 0
    or, with ``allow_sequence``, a non-empty sequence of them; else raises."""
    sequence = allow_sequence and isinstance(seed, (list, tuple, np.ndarray)) and len(seed) > 0
    values = list(np.ravel(seed)) if sequence else [seed]
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
               for v in values):
        accepted = "an int >= 0" + (" or a non-empty sequence of them" if allow_sequence else "")
        raise ValueError(f"`{argument}` must be {accepted}; got {seed!r}.")
    return seed


def check_finite_array(array, argument):
    """Returns ``array`` (array-like) as a NumPy array if it holds numbers (bool excluded), all
    finite, else raises."""
    array = np.asarray(array)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"`{argument}` must hold int or float numbers; got dtype {array.dtype}.")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"`{argument}` contains NaN or infinite values; every value must be "
                         "finite.")
    return array


def checked_finite(values, message):
    """``values`` (a tensor) once every value is finite: eagerly a ValueError with ``message``
    is raised at once, in a graph an assertion carries it. Only float tensors are looked at.

    The eager check runs in NumPy: TensorFlow's eager reduction costs about 0.3 ms a tensor,
    which ``train_on_batch`` would pay on every step.
    """
    if not values.dtype.is_floating:
        return values
    if tf.executing_eagerly():
        if not np.isfinite(values.numpy()).all():
            raise ValueError(message)
        return values
    return tf.debugging.assert_all_finite(values, message)


def is_finite_number(value):
    """Whether ``value`` is a finite int or float (NumPy's included), and not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and \
        bool(np.isfinite(value))


def check_positive_float(value, argument):
    """Returns ``value`` as a float if it is a positive finite number, else raises."""
    if not is_finite_number(value) or value <= 0:
        raise ValueError(f"`{argument}` must be a positive finite number; got {value!r}.")
    return float(value)


def check_unit_interval(value, argument, meaning=""):
    """Returns ``value`` as a float if it is a number in [0, 1], else raises; the error adds
    ``meaning`` (e.g. " (0 distills only, 1 trains on labels only)") to what is accepted."""
    if not is_finite_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"`{argument}` must be a number in [0, 1]{meaning}; got {value!r}.")
    return float(value)


def check_finite_number(value, argument):
    """Returns ``value`` as a float if it is a finite number, else raises."""
    if not is_finite_number(value):
        raise ValueError(f"`{argument}` must be a finite number; got {value!r}.")
    return float(value)


def check_interval(interval, argument):
    """Returns ``(low, high)`` as floats if ``interval`` is a pair of finite numbers with
    ``low <= high``, else raises."""
    if not (isinstance(interval, (tuple, list)) and len(interval) == 2 and
            all(is_finite_number(v) for v in interval) and interval[0] <= interval[1]):
        raise ValueError(f"`{argument}` must be an interval (low, high) of finite numbers with "
                         f"low <= high; got {interval!r}.")
    return float(interval[0]), float(interval[1])
