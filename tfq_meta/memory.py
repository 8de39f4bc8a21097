"""How much of a simulation fits in memory, and running a batch in chunks that fit.

Both engines keep whole state vectors of ``2^n`` amplitudes. The statevector engine keeps one per
example and per operation while a gradient tape records (:func:`statevector_max_batch` says how
many examples fit; :func:`split_batch` runs larger batches in chunks of that size, eagerly or
traced with an unknown batch size). qsim keeps a few states per worker thread
(:func:`check_qsim_memory` refuses circuits whose states do not fit at all). Below both,
:func:`check_state_fits` refuses a problem size (a task family's qubits) whose one state vector
would not fit, before any circuit is built.

Example:
>>> statevector_max_batch(12, 100, available_bytes=100 * 8 * 4096 * 102)   # 3.2 MiB per example
50
"""
import os

import tensorflow as tf

from tfq_meta import system_memory

# Fraction of available memory one statevector evaluation may use before the batch is split.
MEMORY_BUDGET = 0.5
# Circuits that fit this many examples at once are never split inside a traced graph.
ALWAYS_SPLITTABLE = 2 ** 16
# Bytes of one complex64 amplitude, and state vectors qsim keeps per worker thread at once
# (the adjoint gradient holds the state, its adjoint and a scratch copy).
_AMPLITUDE_BYTES = 8
_STATES_PER_THREAD = 3


def statevector_max_batch(n_qubits, n_operations, state_dtype="complex64", available_bytes=None):
    """Most examples one statevector evaluation (with its gradient tape) fits in memory.

    Autodiff keeps every intermediate state: about ``n_operations + 2`` states of ``2^n_qubits``
    amplitudes per example. Raises ValueError, saying how much memory is needed, when not even one
    example fits.

    Args:
        n_qubits: qubits of the circuit.
        n_operations: operations of the (lowered) circuit.
        state_dtype: ``"complex64"`` or ``"complex128"``.
        available_bytes: memory to plan for; default what the machine has available now.
    """
    amplitude = 16 if state_dtype == "complex128" else 8
    per_example = amplitude * 2.0 ** n_qubits * (n_operations + 2)
    available = available_memory_bytes() if available_bytes is None else available_bytes
    budget = MEMORY_BUDGET * available
    if per_example > budget:
        raise ValueError(
            f"`circuit` has {n_qubits} qubits and {n_operations} operations: the statevector "
            f"engine needs about {_format_bytes(per_example)} per example (state and gradient "
            f"tape), more than {_format_bytes(budget)} ({MEMORY_BUDGET:.0%} of the "
            f"{_format_bytes(available)} available). Use engine='qsim' or fewer qubits."
        )
    return int(budget // per_example)


def check_qsim_memory(n_qubits, available_bytes=None):
    """Raises ValueError if simulating ``n_qubits`` qubits on qsim would not fit in memory."""
    threads = os.cpu_count() or 1
    needed = _AMPLITUDE_BYTES * 2.0 ** n_qubits * _STATES_PER_THREAD * threads
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if needed > available:
        raise ValueError(
            f"`circuit` has {n_qubits} qubits: one state vector takes "
            f"{_format_bytes(_AMPLITUDE_BYTES * 2.0 ** n_qubits)} and simulating it on "
            f"{threads} thread(s) needs about {_format_bytes(needed)}, but only "
            f"{_format_bytes(available)} of memory is available. Use fewer qubits."
        )


def check_state_fits(n_qubits, argument="n_qubits", available_bytes=None):
    """Raises ValueError, naming ``argument``, if one state vector of ``n_qubits`` does not fit.

    Every engine holds at least one complex64 state of ``2^n_qubits`` amplitudes, so a size
    beyond this can never be simulated here; the engines' own checks (:func:`check_qsim_memory`,
    :func:`statevector_max_batch`) refine it once a circuit is known.

    Args:
        n_qubits: qubits of the problem.
        argument: the name the caller's user gave the size (``"n_qubits"``, ``"n_nodes"``).
        available_bytes: memory to plan for; default what the machine has available now.
    """
    needed = _AMPLITUDE_BYTES * 2.0 ** n_qubits
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if needed > available:
        # The largest n with 8 · 2^n <= available.
        most = max(0, int(available // _AMPLITUDE_BYTES).bit_length() - 1)
        raise ValueError(
            f"`{argument}` is {n_qubits}: one state vector of {n_qubits} qubits takes "
            f"{_format_bytes(needed)}, more than the {_format_bytes(available)} of memory "
            f"available, so it cannot be simulated here. `{argument}` must be at most {most} "
            "on this machine.")


def split_batch(function, values, max_batch, output_dtype):
    """``function(values)``, run on chunks of at most ``max_batch`` rows when the batch is larger.

    Args:
        function: maps ``[rows, k]`` to ``[rows, ...]`` (a state or its expectations per row).
        values: ``[batch, k]``; the batch size may be unknown (traced with ``None``).
        max_batch: most rows ``function`` may see at once (:func:`statevector_max_batch`).
        output_dtype: dtype of ``function``'s output.

    Returns:
        ``[batch, ...]``, equal to ``function(values)`` row by row, and differentiable like it.
    """
    static_batch = values.shape[0]
    if static_batch is not None and static_batch <= max_batch:
        return function(values)
    # Known while tracing, the chunks' shapes are static, as XLA needs them.
    batch = static_batch if static_batch is not None else tf.shape(values)[0]

    def chunked():
        # Chunks of equal size, padded to whole chunks so one map_fn runs them one after the
        # other (never at once): 160 rows at most 110 at once run as 2 x 80, not 2 x 110.
        n_chunks = (batch + max_batch - 1) // max_batch
        chunk = (batch + n_chunks - 1) // n_chunks
        padded = tf.pad(values, [[0, n_chunks * chunk - batch], [0, 0]])
        chunks = tf.reshape(padded, [n_chunks, chunk, values.shape[1]])
        results = tf.map_fn(function, chunks, parallel_iterations=1,
                            fn_output_signature=output_dtype)
        rows = tf.reshape(results, tf.concat([[-1], tf.shape(results)[2:]], axis=0))
        return tf.ensure_shape(rows[:batch], [None, *results.shape[2:]])

    if static_batch is not None:
        return chunked()
    if max_batch < ALWAYS_SPLITTABLE:
        return tf.cond(batch <= max_batch, lambda: function(values), chunked)
    # Small circuits: a batch this large is out of reach, and tracing the split branch (and its
    # gradient) would cost every model seconds; check instead of splitting.
    check = tf.debugging.assert_less_equal(batch, max_batch, message=(
        f"A batch of more than {max_batch} examples does not fit in memory for this circuit on "
        "the statevector engine; use smaller batches."))
    with tf.control_dependencies([check]):
        return function(tf.identity(values))


def available_memory_bytes():
    """Memory available to this process (:func:`tfq_meta.system_memory.available_bytes`)."""
    return system_memory.available_bytes()


def _format_bytes(n_bytes):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n_bytes < 1024 or unit == "PiB":
            return f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
