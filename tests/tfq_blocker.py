"""Makes ``import tensorflow_quantum`` (and of any of its submodules) fail in this process, as it
does where TensorFlow Quantum is not installed; call :func:`block` before anything imports it.

An import hook rather than an uninstalled package: the test machine has TFQ installed, and the
hook also catches a stray import of a submodule, which a missing package would too.
"""
import sys

BLOCKED = "tensorflow_quantum"


class TensorFlowQuantumBlocker:
    """A ``sys.meta_path`` finder that refuses TFQ and its submodules like a missing package."""

    def find_spec(self, name, path=None, target=None):
        if name == BLOCKED or name.startswith(BLOCKED + "."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)",
                                      name=name)
        return None


def block():
    """Installs the blocker first on ``sys.meta_path``; TFQ must not be imported yet."""
    if any(name == BLOCKED or name.startswith(BLOCKED + ".") for name in sys.modules):
        raise RuntimeError("tensorflow_quantum is already imported; block it before importing "
                           "tfq_meta.")
    sys.meta_path.insert(0, TensorFlowQuantumBlocker())
