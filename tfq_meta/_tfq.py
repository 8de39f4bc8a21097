"""TensorFlow Quantum as an optional dependency: the one place tfq_meta imports it.

TFQ publishes wheels for Linux x86_64 only, so tfq_meta installs without it elsewhere and runs
everything the statevector engine can run. Every feature that needs TFQ calls :func:`require`
when it is constructed, so a missing TFQ fails with :class:`TensorFlowQuantumMissing` there,
naming the feature, rather than deep inside a model's call.

Example:
>>> available() in (True, False)
True
"""
import functools
import importlib

DISTRIBUTION = "tensorflow-quantum==0.7.6"
# The wheels PyPI has for the pinned release; requirements.txt installs TFQ exactly there.
PLATFORMS = "Linux x86_64 with Python 3.10, 3.11 or 3.12"
STATEVECTOR_ALTERNATIVE = (
    "Without it, tfq_meta computes exact, noise-free expectations on engine='statevector' "
    "(kernels: method='statevector').")


class TensorFlowQuantumMissing(ModuleNotFoundError):
    """A feature that needs TensorFlow Quantum was asked for where it cannot be imported."""


@functools.lru_cache(maxsize=None)
def _import():
    """``(module, None)``, or ``(None, the ImportError)`` where TFQ cannot be imported."""
    try:
        return importlib.import_module("tensorflow_quantum"), None
    except ImportError as error:
        return None, error


def available():
    """Whether TensorFlow Quantum imports in this process (it is imported on the first call)."""
    return _import()[0] is not None


def require(feature):
    """TensorFlow Quantum's module, or a clear error naming ``feature`` where it is missing.

    Args:
        feature: what the user asked for that needs TFQ, as they wrote it
            (``"engine='qsim'"``, ``"`repetitions=100` (measurement shots)"`` …).

    Returns:
        The ``tensorflow_quantum`` module.

    Raises:
        TensorFlowQuantumMissing: (a ``ModuleNotFoundError``) when TFQ cannot be imported.
    """
    module, error = _import()
    if module is None:
        raise TensorFlowQuantumMissing(
            f"{feature} needs TensorFlow Quantum (the `{DISTRIBUTION}` package), which cannot "
            f"be imported here ({error}). It installs only on {PLATFORMS}: "
            f"`pip install {DISTRIBUTION}`. {STATEVECTOR_ALTERNATIVE}",
            name="tensorflow_quantum") from error
    return module
