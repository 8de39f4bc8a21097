"""Quantum kernels and a quantum support vector classifier.

``QuantumKernel`` (fidelity kernel) and ``ProjectedQuantumKernel`` (PQK) are Keras layers that
return Gram matrices; ``QSVC`` is a scikit-learn classifier on top of them; ``KernelAlignment``
trains an embedding's weights by kernel-target alignment and ``KernelMetaLearner`` meta-learns
them across a family of few-shot tasks. ``QSVC`` loads scikit-learn, so it is imported when first
used.
"""
import importlib

from tfq_meta.kernels.alignment import KernelAlignment, kernel_target_alignment
from tfq_meta.kernels.meta_kernel import KernelMetaLearner, ridge_predictions
from tfq_meta.kernels.projected_kernel import ProjectedQuantumKernel
from tfq_meta.kernels.quantum_kernel import QuantumKernel

__all__ = ["KernelAlignment", "KernelMetaLearner", "ProjectedQuantumKernel", "QSVC",
           "QuantumKernel", "kernel_target_alignment", "ridge_predictions"]


def __getattr__(name):
    if name == "QSVC":  # PEP 562: scikit-learn is imported only when QSVC is used
        return importlib.import_module(f"{__name__}.qsvc").QSVC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
