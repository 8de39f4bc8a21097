"""Keras 3 layers of tfq_meta."""
from tfq_meta.layers.feature_columns import FeatureColumns
from tfq_meta.layers.pqc import PQC

__all__ = ["FeatureColumns", "PQC"]
