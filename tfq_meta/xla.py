"""XLA by default wherever it is valid.

Keras resolves ``compile(jit_compile="auto")`` to off on a machine without an accelerator. For
tfq_meta's own training models that is the wrong default: on the statevector engine a meta-step
of a small circuit compiled by XLA runs 2-3x as fast on a CPU as on TensorFlow's executor (the
default MAML learner: 15 against 45 ms), and about as fast from 8 qubits up
(``bench/bench_peers.py``); XLA also fuses better on a GPU. It costs compile time once.
So :class:`XlaByDefault` resolves ``"auto"`` itself: on, unless something in the model cannot
be compiled by XLA.

XLA compiles assertions to nothing, so the checks that a step makes in its graph (finite
features, class labels in range) would pass bad data silently. :class:`XlaByDefault` therefore
also runs the model's :meth:`~XlaByDefault.check_inputs` on the data before the compiled step:
in a ``tf.data`` map for datasets, once and eagerly for arrays, and eagerly on each item of a
Python generator.
"""
import types

import numpy as np
import tensorflow as tf

from tfq_meta._compat.keras import flatten_layers
from tfq_meta._compat.tensorflow import is_op_determinism_enabled
from tfq_meta._validation import checked_finite


def xla_is_valid(model, run_eagerly=False):
    """Whether ``model``'s train step can be XLA-compiled.

    Not when it runs eagerly; not when any layer says it cannot be (``supports_jit``: a PQC on
    the qsim engine, whose TFQ ops XLA cannot compile); not under a ``tf.distribute`` strategy
    (Keras compiles none under one); and not with op determinism enabled, which XLA does not
    honour for every op.
    """
    if run_eagerly or tf.distribute.has_strategy() or is_op_determinism_enabled():
        return False
    return all(getattr(layer, "supports_jit", True) for layer in flatten_layers(model))


def resolve_jit_compile(model, jit_compile="auto", run_eagerly=False):
    """``jit_compile`` as given, or for ``"auto"`` whether :func:`xla_is_valid`."""
    return xla_is_valid(model, run_eagerly) if jit_compile == "auto" else jit_compile


class XlaByDefault:
    """A ``keras.Model`` mixin whose ``compile(jit_compile="auto")`` (the default) resolves by
    :func:`resolve_jit_compile`, and whose ``fit``, ``evaluate``, ``train_on_batch`` and
    ``test_on_batch`` check their data with :meth:`check_inputs` outside the compiled step."""

    def compile(self, *args, jit_compile="auto", **kwargs):
        super().compile(*args, jit_compile=resolve_jit_compile(
            self, jit_compile, kwargs.get("run_eagerly", False)), **kwargs)

    def fit(self, x=None, *args, **kwargs):
        if kwargs.get("validation_data") is not None:
            kwargs["validation_data"] = checked_data(kwargs["validation_data"], self.check_inputs)
        return super().fit(checked_data(x, self.check_inputs), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return super().evaluate(checked_data(x, self.check_inputs), *args, **kwargs)

    def train_on_batch(self, x=None, *args, **kwargs):
        return super().train_on_batch(checked_data(x, self.check_inputs), *args, **kwargs)

    def test_on_batch(self, x=None, *args, **kwargs):
        return super().test_on_batch(checked_data(x, self.check_inputs), *args, **kwargs)

    def check_inputs(self, data):
        """``data`` (one element or batch: tensors, nested), checked; raises on bad values,
        eagerly or through graph assertions. Default: every float tensor is finite."""
        return tf.nest.map_structure(_finite, data)


def checked_data(data, check):
    """``data`` with ``check`` applied: mapped over a ``tf.data.Dataset``, called once on arrays
    and tensors (eagerly, so it raises at once), and on each item of a Python generator as it is
    drawn; a ``keras.utils.PyDataset`` is passed on unchecked."""
    if isinstance(data, tf.data.Dataset):
        # map passes a tuple element as separate arguments.
        return data.map(lambda *element: check(element if len(element) > 1 else element[0]))
    if isinstance(data, types.GeneratorType):
        return (checked_data(item, check) for item in data)
    leaves = tf.nest.flatten(data)
    if leaves and all(leaf is None or isinstance(leaf, (np.ndarray, tf.Tensor)) for leaf in leaves):
        check(tf.nest.map_structure(
            lambda leaf: leaf if leaf is None else tf.convert_to_tensor(leaf), data))
    return data


def _finite(value):
    if value is None:
        return value
    return checked_finite(value, "the data holds NaN or infinite values; circuit angles and "
                          "targets must be finite.")
