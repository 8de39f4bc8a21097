"""Checks the process is ready for tfq_meta: Keras 3 on the TensorFlow backend."""
import keras


def check_keras_backend():
    """Raises ImportError unless Keras runs on the TensorFlow backend."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(
            f"tfq_meta needs Keras on the TensorFlow backend, but Keras is using {backend!r}. "
            "Fix: set the environment variable KERAS_BACKEND=tensorflow before Python starts "
            "(or set \"backend\": \"tensorflow\" in ~/.keras/keras.json)."
        )

