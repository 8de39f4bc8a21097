"""Former home of :mod:`tfq_meta.distributed.training`.

Kept only because ``tfq_meta.meta.meta_learner`` and ``tfq_meta.distillation.distiller`` (outside
the distributed package's files) still import ``DistributedFit`` and ``step_logs`` from here; once
they import them from :mod:`tfq_meta.distributed.training`, delete this module.
"""
from tfq_meta.distributed.training import DistributedFit, step_logs

__all__ = ["DistributedFit", "step_logs"]
