"""What the benchmarks check about the machine before timing: other work on the 2 cores."""
import time


def busy_cpu_share(seconds=1.0):
    """Share of all CPUs' time spent busy over ``seconds`` (from /proc/stat), or None."""
    def idle_and_total():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle_before, total_before = idle_and_total()
        time.sleep(seconds)
        idle_after, total_after = idle_and_total()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle_after - idle_before) / max(1, total_after - total_before)
