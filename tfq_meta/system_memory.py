"""How much memory this machine has available, on Linux, macOS and Windows, without psutil.

Each reader returns bytes, or None where its source does not exist; :func:`available_bytes`
takes the first answer. Linux reports what it can free for a new allocation (``MemAvailable``);
other POSIX systems with glibc-style ``sysconf`` their free pages; Windows its available physical
memory. macOS has neither free-page count in ``sysconf`` and keeps most idle memory as cache it
frees on demand, so its physical memory is the estimate there.

Example:
>>> available_bytes() > 0
True
"""
import ctypes
import os

# Planned for where no reader answers: a small laptop's memory, so plans err on the low side.
FALLBACK_BYTES = 8 * 2 ** 30


def available_bytes():
    """Memory available to this process, in bytes (see the module docstring for the sources)."""
    for reader in (meminfo_available, sysconf_available, windows_available, physical_memory):
        found = reader()
        if found:
            return found
    return FALLBACK_BYTES


def meminfo_available():
    """``MemAvailable`` of ``/proc/meminfo`` (Linux), or None."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def sysconf_available():
    """Free physical pages times the page size, where ``sysconf`` counts them, or None."""
    return _sysconf_bytes("SC_AVPHYS_PAGES")


def physical_memory():
    """Physical pages times the page size, where ``sysconf`` counts them (macOS too), or None."""
    return _sysconf_bytes("SC_PHYS_PAGES")


def windows_available():
    """Available physical memory from ``GlobalMemoryStatusEx`` (Windows), or None."""
    if os.name != "nt":
        return None

    class MemoryStatus(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong)] + [
            (name, ctypes.c_ulonglong) for name in (
                "ullTotalPhys", "ullAvailPhys", "ullTotalPageFile", "ullAvailPageFile",
                "ullTotalVirtual", "ullAvailVirtual", "ullAvailExtendedVirtual")]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullAvailPhys)


def _sysconf_bytes(pages_name):
    names = getattr(os, "sysconf_names", {})
    if pages_name not in names or "SC_PAGE_SIZE" not in names:
        return None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf(pages_name)
    except (OSError, ValueError):
        return None
