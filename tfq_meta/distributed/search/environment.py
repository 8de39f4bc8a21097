"""The environment that gives each process of a keras-tuner search its role.

keras-tuner's distributed mode runs the *same* script in every process; these variables tell each
one what it is:

- ``KERASTUNER_TUNER_ID``: ``chief`` for the oracle, any other unique id (here ``tuner0`` …) for
  a worker;
- ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``: where the chief serves the oracle.

Example::

    from tfq_meta.distributed import is_chief
    tuner.search(x, y, validation_data=(x_val, y_val))
    if is_chief():
        best = tuner.get_best_models()[0]
"""
import os

TUNER_ID = "KERASTUNER_TUNER_ID"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
CHIEF = "chief"


def is_chief():
    """Whether this process is keras-tuner's chief, or runs a search that is not distributed.

    In a distributed search only the chief knows when the search has ended. Guard code that
    follows ``tuner.search()`` (reports, ``get_best_models``) with it: in a worker, a call that
    reaches the oracle after the chief has exited waits for the chief (keras-tuner's gRPC timeout
    is one hour).

    Example::

        os.environ.update(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_TUNER_ID="tuner0")
        is_chief()
        # False
    """
    if ORACLE_IP not in os.environ:
        return True
    return CHIEF in os.environ.get(TUNER_ID, "")


def worker_names(n_workers):
    """The tuner ids of ``n_workers`` workers: ``["tuner0", …]``."""
    return [f"tuner{index}" for index in range(n_workers)]


def role_environment(tuner_id, host, port):
    """The keras-tuner variables of the process ``tuner_id`` of a search served on host:port."""
    return {TUNER_ID: tuner_id, ORACLE_IP: host, ORACLE_PORT: str(port)}
