"""Cirq backends: any ``cirq.Sampler``, or a simulator implementing
``cirq.SimulatesExpectationValues``, as the engine of a compiled circuit.

A backend runs on the qsim engine's code path (:mod:`tfq_meta.engines.qsim`) with TFQ's ops for
that backend in place of qsim's: ``tfq.get_expectation_op(backend)`` for exact expectations
(``repetitions=None``; a simulator implementing ``cirq.SimulatesExpectationValues``, as
``cirq.Simulator`` and ``cirq.DensityMatrixSimulator`` do), and
``tfq.get_sampled_expectation_op(backend)`` for ``repetitions`` shots per Pauli term (any
``cirq.Sampler``: hardware, ``cirq.Simulator``, ``cirq.DensityMatrixSimulator``, qsimcirq).
First-order gradients use the parameter-shift rule (the adjoint method only exists inside qsim),
and so does the second order.

Noise belongs to the backend (``cirq.DensityMatrixSimulator(noise=...)``). ``noise=`` may also be
given to a backend without a noise model: the channels are then put into the circuit, which the
backend simulates as it simulates any channel. Exact noisy expectations need a density-matrix
backend; a state-vector backend samples one trajectory per evaluation, so it needs
``repetitions`` (each shot then draws its own trajectory). A backend's own noise model also acts
on the moments a sampled expectation appends to measure each Pauli term (basis changes,
measurement), as a device's noise would: on ``cirq.DensityMatrixSimulator(noise=
cirq.depolarize(0.05))`` sampled ``Z0`` kept its exact noisy value while ``X1`` and ``Z0*Z1``
came out about one depolarizing layer lower (×0.93, ×0.87). With ``noise=`` the channels stay in
the circuit alone.

These evaluations run Cirq in Python through TFQ's ``tf.py_function`` ops, so backends need
TensorFlow Quantum like the qsim engine; XLA cannot compile them, a SavedModel cannot hold them
(:func:`tfq_meta.export.export` refuses such a model), and a layer on a backend cannot be
written to a ``.keras`` file (its config holds the backend object).
"""
import cirq

from tfq_meta._validation import check_choice

ACCEPTED = ("a Cirq backend: a cirq.Sampler (with `repetitions`), or a simulator implementing "
            "cirq.SimulatesExpectationValues such as cirq.Simulator() or "
            "cirq.DensityMatrixSimulator()")


def is_backend(engine):
    """Whether ``engine`` is a Cirq backend rather than an engine name."""
    return isinstance(engine, (cirq.Sampler, cirq.SimulatesExpectationValues))


def check_engine(engine, engines):
    """``engine`` if it is one of the names ``engines`` or a Cirq backend; raises otherwise.

    Args:
        engine: the ``engine`` argument.
        engines: the accepted engine names.
    """
    if isinstance(engine, str):
        return check_choice(engine, engines, "engine")
    if isinstance(engine, BackendReference):
        return engine.backend
    if not is_backend(engine):
        raise TypeError(f"`engine` must be one of {', '.join(map(repr, engines))}, or "
                        f"{ACCEPTED}; got {engine!r} ({type(engine).__name__}).")
    return engine


def check_backend_options(backend, repetitions, noise, noisy):
    """Raises ValueError when ``backend`` cannot compute what the options ask of it.

    Args:
        backend: a Cirq backend (see :func:`is_backend`).
        repetitions: ``None`` (exact expectations) or the number of shots.
        noise: the ``noise`` option as a ``cirq.NoiseModel``, or None.
        noisy: whether the circuit holds noise channels (the backend may add its own).
    """
    name = type(backend).__name__
    if repetitions is None and not isinstance(backend, cirq.SimulatesExpectationValues):
        raise ValueError(
            f"Exact expectations (`repetitions=None`) need a simulator implementing "
            f"cirq.SimulatesExpectationValues; the backend {name} only samples: pass "
            "`repetitions=` (shots per Pauli term).")
    if repetitions is not None and not isinstance(backend, cirq.Sampler):
        raise ValueError(f"`repetitions` (shots) need a cirq.Sampler; the backend {name} is "
                         "not one: use `repetitions=None` for its exact expectations.")
    if noise is not None and backend_noise(backend) is not None:
        raise ValueError(
            f"The backend {name} already has a noise model ({backend_noise(backend)!r}), and "
            f"`noise={noise!r}` would add a second: put all the noise into one of them.")
    noisy = noisy or backend_noise(backend) is not None
    if noisy and repetitions is None and not isinstance(backend, cirq.DensityMatrixSimulator):
        raise ValueError(
            f"Exact expectations of a noisy circuit need a density-matrix backend; {name} "
            "simulates one random trajectory per evaluation. Use "
            "cirq.DensityMatrixSimulator(noise=...), or pass `repetitions=`.")


def backend_noise(backend):
    """The backend's own noise model, or None when it has none (or does not say)."""
    noise = getattr(backend, "noise", None)
    return None if noise is None or noise == cirq.NO_NOISE else noise


class BackendReference:
    """A Cirq backend inside a layer's config: ``clone_model`` and ``from_config`` take it back
    as it is, and Keras' saving to a file, which calls :meth:`get_config`, gets a clear error.

    Args:
        backend: the Cirq backend.
    """

    def __init__(self, backend):
        self.backend = backend

    def get_config(self):
        raise TypeError(
            f"A layer on the Cirq backend {type(self.backend).__name__} cannot be written to a "
            "file: a backend (a simulator, or a connection to hardware) has no saved form. "
            "Save the weights (`model.save_weights`) and build the layer again with "
            "`engine=backend`, or save a copy built with engine='qsim'.")
