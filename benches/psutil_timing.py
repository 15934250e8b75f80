"""Times psutil's equivalent of each Spectra collector (same data on the same machine).

Prints one JSON object {name: median microseconds per call}. Collectors psutil has no
equivalent for (services, wifi, containers, applications, raspberry_pi) are left out.
"""
import json
import os
import platform
import sys
import time

import psutil


def cpu():
    return (psutil.cpu_times_percent(percpu=True), psutil.cpu_percent(percpu=True),
            psutil.getloadavg(), psutil.cpu_count(), psutil.cpu_freq())


def memory():
    return psutil.virtual_memory(), psutil.swap_memory()


def disk():
    return [(p, psutil.disk_usage(p.mountpoint)) for p in psutil.disk_partitions()]


def disk_io():
    return psutil.disk_io_counters(perdisk=True)


def network():
    return psutil.net_io_counters(pernic=True), psutil.net_if_addrs(), psutil.net_if_stats()


def processes():
    attrs = ["pid", "name", "username", "cpu_percent", "memory_info", "num_threads", "status"]
    procs = [p.info for p in psutil.process_iter(attrs)]
    by_cpu = sorted(procs, key=lambda p: p["cpu_percent"] or 0, reverse=True)[:10]
    by_mem = sorted(procs, key=lambda p: p["memory_info"].rss if p["memory_info"] else 0, reverse=True)[:10]
    return by_cpu, by_mem


def system():
    return platform.uname(), psutil.boot_time(), psutil.users(), len(psutil.pids())


def temperature():
    return psutil.sensors_temperatures()


EQUIVALENTS = {"cpu": cpu, "memory": memory, "disk": disk, "disk_io": disk_io, "network": network,
               "processes": processes, "system": system, "temperature": temperature}


def median_us(fn, calls):
    """Median microseconds per call of fn over `calls` calls, after one priming call."""
    fn()  # prime rate state, as the Rust side does
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    return times[len(times) // 2]


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    only = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else set(EQUIVALENTS)
    medians = {}
    for name, fn in EQUIVALENTS.items():
        if name not in only:
            continue
        medians[name] = median_us(fn, calls)
    print(json.dumps(medians))


if __name__ == "__main__":
    main()
