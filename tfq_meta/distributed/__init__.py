"""Running tfq_meta on several processes: ``tf.distribute`` training and keras-tuner search.

- ``tf.distribute`` training: ``MetaLearner``, ``Distiller`` and the kernel trainers ``fit`` under
  ``MirroredStrategy`` and ``MultiWorkerMirroredStrategy`` like any Keras model (build and compile
  inside ``strategy.scope()``): each replica's share of the tasks or examples weighs its
  gradient, so training equals one process up to float rounding. Where TensorFlow Quantum is
  installed, ``import tfq_meta`` starts TensorFlow's runtime (through ``import
  tensorflow_quantum``), after which logical devices and ``MultiWorkerMirroredStrategy()`` can no
  longer be set up: create the strategy *before* ``import tfq_meta`` (without TFQ the order does
  not matter, but keep it so that scripts run on both);
- ``workers``: :func:`run_workers` runs a script as a local ``MultiWorkerMirroredStrategy``
  cluster (``TF_CONFIG`` per worker);
- ``search``: :func:`launch` (or ``python -m tfq_meta.distributed --workers N script.py``) runs a
  keras-tuner script as a chief oracle and N workers, restarts workers that die and reports the
  best trial; :func:`is_chief` guards code that follows ``tuner.search()``. The gRPC packages
  come with ``pip install "tfq_meta[distributed]"``;
- ``processes``: free ports, process groups, stopping them, prefixed logs (shared by the above).

Everything loads on first use: ``import tfq_meta`` does not start any of the launchers.

Example::

    import tfq_meta
    result = tfq_meta.distributed.launch("examples/distributed_search.py", workers=2)
    result.best_hyperparameters
    # {'n_layers': 2, 'learning_rate': 0.03}
"""
import importlib

# name → the submodule that defines it, imported when the name is first used (PEP 562).
_EXPORTS = {
    "local_tf_configs": "workers", "run_workers": "workers",
    "free_ports": "processes",
    "ProcessRun": "search.results", "SearchResult": "search.results",
    "is_chief": "search.environment", "launch": "search.launcher", "main": "search.cli",
}
_SUBMODULES = ("processes", "search", "workers")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
