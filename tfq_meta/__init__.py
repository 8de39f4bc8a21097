"""tfq_meta: quantum meta-learning and knowledge distillation as Keras 3 workflows.

Importing the package checks that Keras runs on the TensorFlow backend and, where TensorFlow
Quantum is installed, registers its ops, so any SavedModel that tfq_meta exported loads in a fresh
process. Without TFQ everything on the statevector engine works; what needs TFQ raises
:class:`tfq_meta._tfq.TensorFlowQuantumMissing` when it is constructed. ``tuning``
(keras-tuner) and ``distributed`` (the launchers) load when first used, like ``kernels.QSVC``
(scikit-learn).
"""
import importlib

from tfq_meta import _runtime
from tfq_meta._compat import tfq as _tfq_compat

_runtime.check_keras_backend()
_tfq_compat.load_op_libraries()

from tfq_meta import (  # noqa: E402
    circuits, distillation, export, hamiltonians, kernels, layers, meta, models, observables, ops,
    resolved, saving, tasks)
from tfq_meta.circuits import CircuitSpec  # noqa: E402
from tfq_meta.distillation import Distiller  # noqa: E402
from tfq_meta.energy import Energy  # noqa: E402
from tfq_meta.layers import PQC  # noqa: E402
from tfq_meta.meta import MetaLearner  # noqa: E402
from tfq_meta.saving import save_model  # noqa: E402

__version__ = "0.1.0"

__all__ = ["CircuitSpec", "Distiller", "Energy", "MetaLearner", "PQC", "circuits",
           "distillation", "distributed", "export", "hamiltonians", "kernels", "layers", "meta",
           "models", "observables", "ops", "resolved", "save_model", "saving", "tasks", "tuning"]

# Submodules whose imports are heavy or start nothing the rest needs: loaded on first use (PEP 562).
_LAZY_SUBMODULES = ("distributed", "tuning")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
