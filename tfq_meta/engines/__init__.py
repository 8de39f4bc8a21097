"""Simulation engines behind :class:`tfq_meta.ops.CircuitExpectation`; use that, not these."""
