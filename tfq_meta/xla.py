"""XLA by default wherever it is valid.

Keras resolves ``compile(jit_compile="auto")`` to off on a machine without an accelerator. For
tfq_meta's own training models that is the wrong default: on the statevector engine a meta-step
or a kernel step compiled by XLA runs about twice as fast on a CPU as TensorFlow's executor
does (``bench/bench_meta.py``, ``bench/bench_peers.py``), and XLA also fuses better on a GPU.
So :class:`XlaByDefault` resolves ``"auto"`` itself: on, unless something in the model cannot
be compiled by XLA.
"""
import tensorflow as tf

from tfq_meta._compat.keras import flatten_layers
from tfq_meta._compat.tensorflow import is_op_determinism_enabled


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
    :func:`resolve_jit_compile`."""

    def compile(self, *args, jit_compile="auto", **kwargs):
        super().compile(*args, jit_compile=resolve_jit_compile(
            self, jit_compile, kwargs.get("run_eagerly", False)), **kwargs)
