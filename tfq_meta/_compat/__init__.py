"""Every use of another library's private API, fenced in one package, one module per library:

- :mod:`.keras_tuner`: the distributed search's chief, the oracle's files and gRPC messages;
- :mod:`.keras`: the Keras 3 internals that the MetaLearner, the Distiller and the kernels use;
- :mod:`.tfq`: TensorFlow Quantum's lazily loaded op libraries and its adjoint op's cut-off;
- :mod:`.tensorflow`: whether the graph being built will be compiled by XLA;
- :mod:`.cirq`: EigenGate exponents and spectra, for lowering circuits and the engines.

Each entry says what it works around (or which public API is missing), the upstream issue, and on
which versions it applies (a :class:`Workaround`). ``tests/test_compat_<module>.py`` asserts, for
each one, that upstream still misbehaves or still lacks the public API: when such a test fails,
upstream has changed; set the entry's ``fixed_in`` (or use the new public API) and remove the
workaround once the oldest supported version has the fix. requirements.txt bounds every library
named here from above.

This package, :mod:`.keras_tuner` and :mod:`.cirq` import nothing heavy: the search launcher
reads them in processes that have not imported TensorFlow or keras-tuner, and the statevector
compiler is tested without TensorFlow.
"""
import dataclasses
import importlib.metadata
import re


def version_tuple(text):
    """``"1.4.8"`` → ``(1, 4, 8)``; a pre-release (``"1.5.0rc1"``) counts as its release."""
    return tuple(int(number) for number in re.findall(r"\d+", text)[:3])


def installed_version(distribution):
    """The installed version of a PyPI distribution as a tuple, read without importing it."""
    return version_tuple(importlib.metadata.version(distribution))


@dataclasses.dataclass(frozen=True)
class Workaround:
    """An upstream misbehaviour (or missing public API) that tfq_meta works around.

    Attributes:
        distribution: the PyPI name of the library (``"keras"``, ``"keras-tuner"`` …).
        issue: URL of the upstream issue or pull request.
        fixed_in: the first release that behaves, or None while none does.

    Example:

    >>> Workaround("keras-tuner", "https://github.com/keras-team/keras-tuner/pull/967",
    ...            fixed_in="1.0.0").applies()   # fixed long before the installed release
    False
    """
    distribution: str
    issue: str
    fixed_in: str = None

    def applies(self):
        """Whether the installed release needs the workaround."""
        return self.fixed_in is None or (installed_version(self.distribution)
                                         < version_tuple(self.fixed_in))
