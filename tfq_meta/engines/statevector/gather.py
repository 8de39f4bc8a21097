"""A constant gather of amplitudes whose gradient is another gather, to any order.

``tf.gather``'s own gradient is a scatter (an ``IndexedSlices`` made dense), slow and large in
the graphs of second derivatives. A permutation's adjoint is a gather too, so the engine gives
each gather its adjoint as gradient, and the adjoint has the forward gather as its gradient.
"""
import dataclasses
from typing import Optional

import numpy as np
import tensorflow as tf

from .polynomials import TOLERANCE


@dataclasses.dataclass(frozen=True, eq=False)
class Gather:
    """``result[:, j] = Σ_{g < group} state[:, index[j * group + g]] * phases[j * group + g]``:
    ``index`` int ``[m]`` (None: all amplitudes in order), ``phases`` complex ``[m]`` (None: all
    1), ``group`` consecutive gathered amplitudes summed into one output (1: none summed)."""

    index: Optional[np.ndarray]
    phases: Optional[np.ndarray] = None
    group: int = 1


def gather(state, forward, adjoint, dtype):
    """``forward`` (a :class:`Gather`) of ``state`` ``[batch, 2^n]`` (complex ``dtype``); its
    gradient is ``adjoint``, whose gradient is ``forward``."""

    @tf.custom_gradient
    def gathered(value):
        result = value if forward.index is None else tf.gather(value, forward.index, axis=1)
        if forward.phases is not None and not np.allclose(forward.phases, 1, rtol=0,
                                                          atol=TOLERANCE):
            result = result * tf.constant(forward.phases, dtype)
        if forward.group > 1:
            result = tf.reduce_sum(
                tf.reshape(result, [-1, len(forward.index) // forward.group, forward.group]),
                axis=2)
        return result, lambda upstream: gather(upstream, adjoint, forward, dtype)

    return gathered(state)


def permute(state, permutation, dtype):
    """:class:`~.permutations.Permutation` ``permutation`` applied to ``state``
    ``[batch, 2^n]``, differentiable to any order."""
    index, phases = permutation.index, permutation.phases
    if not permutation.moves_amplitudes:  # phases only
        return gather(state, Gather(None, phases), Gather(None, np.conj(phases)), dtype)
    inverse = np.argsort(index)
    return gather(state, Gather(index, phases), Gather(inverse, np.conj(phases)[inverse]), dtype)
