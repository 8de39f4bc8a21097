"""Available memory on every platform: each source tfq_meta reads, against Linux's
/proc/meminfo, and the fall-backs taken where a source is missing (macOS has no free-page count in
``sysconf``, Windows no ``sysconf`` at all). The Windows reader itself needs Windows and is not
run here."""
import os

import numpy as np

from tfq_meta import system_memory


def meminfo(field):
    with open("/proc/meminfo") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def between_reads(field, read):
    """Whether ``read()`` lies within 5 % of ``field`` read just before and after it."""
    before = meminfo(field)
    value = read()
    after = meminfo(field)
    return 0.95 * min(before, after) <= value <= 1.05 * max(before, after)


def test_linux_reports_memavailable():
    assert between_reads("MemAvailable", system_memory.available_bytes)


def test_without_meminfo_free_pages_then_physical_memory(monkeypatch):
    monkeypatch.setattr(system_memory, "meminfo_available", lambda: None)
    assert between_reads("MemFree", system_memory.available_bytes)
    # macOS: no free-page count.
    monkeypatch.setattr(system_memory, "sysconf_available", lambda: None)
    np.testing.assert_allclose(system_memory.available_bytes(), meminfo("MemTotal"), rtol=1e-3)


def test_without_sysconf_the_fallback_is_planned(monkeypatch):
    # Windows' os has no sysconf; the readers must not fail there.
    monkeypatch.setattr(system_memory, "meminfo_available", lambda: None)
    monkeypatch.delattr(os, "sysconf")
    monkeypatch.delattr(os, "sysconf_names")
    assert system_memory.sysconf_available() is None and system_memory.physical_memory() is None
    assert system_memory.available_bytes() == system_memory.FALLBACK_BYTES
