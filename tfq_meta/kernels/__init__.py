"""Quantum kernels and a quantum support vector classifier.

``QuantumKernel`` (fidelity kernel) and ``ProjectedQuantumKernel`` (PQK) are Keras layers that
return Gram matrices; ``QSVC`` is a scikit-learn classifier on top of them; ``KernelAlignment``
trains an embedding's weights by kernel-target alignment and ``KernelMetaLearner`` meta-learns
them across a family of few-shot tasks.
"""
from tfq_meta.kernels.alignment import KernelAlignment, kernel_target_alignment
from tfq_meta.kernels.meta_kernel import KernelMetaLearner, ridge_predictions
from tfq_meta.kernels.projected_kernel import ProjectedQuantumKernel
from tfq_meta.kernels.qsvc import QSVC
from tfq_meta.kernels.quantum_kernel import QuantumKernel

__all__ = ["KernelAlignment", "KernelMetaLearner", "ProjectedQuantumKernel", "QSVC",
           "QuantumKernel", "kernel_target_alignment", "ridge_predictions"]
