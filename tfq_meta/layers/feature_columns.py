"""FeatureColumns: the columns of the features that a circuit reads."""
import keras
from keras import ops

from tfq_meta._validation import check_non_negative_int


@keras.saving.register_keras_serializable(package="tfq_meta")
class FeatureColumns(keras.layers.Layer):
    """Keeps chosen columns of ``[batch, n_features]`` features, in the order given.

    A model of a task family takes every feature the family gives (e.g. ``[Δ]``); a circuit
    that reads none of them (a plain VQE ansatz) takes ``FeatureColumns([])`` of them, a
    ``[batch, 0]`` tensor, so the PQC layer's check that every feature has a data symbol holds.

    Args:
        columns: list of column indices.

    Example:
    >>> import numpy as np
    >>> FeatureColumns([1])(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)).numpy()
    array([[2.],
           [4.]], dtype=float32)
    """

    def __init__(self, columns, **kwargs):
        super().__init__(**kwargs)
        self.columns = [check_non_negative_int(c, "columns") for c in columns]

    def call(self, features):
        if not self.columns:
            return features[:, :0]
        return ops.take(features, self.columns, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.columns))

    def get_config(self):
        return {**super().get_config(), "columns": self.columns}
