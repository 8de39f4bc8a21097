"""Keras 3 layers of tfq_meta."""
from tfq_meta.layers.pqc import PQC

__all__ = ["PQC"]
