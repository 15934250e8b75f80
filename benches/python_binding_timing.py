"""The cost of the Python binding, measured side by side in one run.

1. `spectra.scan(tree)` in-process against the `spectra scan --format json` CLI on the same
   tree (interleaved runs, medians).
2. Each collector through the binding (`spectra.cpu()`, …: the Rust call plus conversion to
   typed records) against psutil's equivalent for the same data (benches/psutil_timing.py).

    python benches/python_binding_timing.py SPECTRA_CLI TREE [RUNS] [CALLS]
"""
import json
import subprocess
import sys
import time

import psutil_timing
import spectra

BINDING = {
    "cpu": spectra.cpu, "memory": spectra.memory, "disk": spectra.disks,
    "disk_io": spectra.disk_io, "network": spectra.network,
    "processes": lambda: spectra.processes(10), "system": spectra.system,
    "temperature": spectra.temperatures,
}


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main():
    cli, tree = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    calls = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    spectra.scan(tree)  # warm the page cache for both
    binding, command = [], []
    for _ in range(runs):
        started = time.perf_counter()
        report = spectra.scan(tree)
        binding.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run([cli, "scan", "--format", "json", tree], check=True,
                       stdout=subprocess.DEVNULL)
        command.append(time.perf_counter() - started)
    results = {"scan": {"tree_entries": report.file_count + report.dir_count,
                        "binding_s": median(binding), "cli_s": median(command),
                        "ratio": median(binding) / median(command)}}
    collectors = {}
    for info in spectra.collectors():
        if not info.supported or info.name not in BINDING:
            continue
        ours = psutil_timing.median_us(BINDING[info.name], calls)
        theirs = psutil_timing.median_us(psutil_timing.EQUIVALENTS[info.name], calls)
        collectors[info.name] = {"binding_us": ours, "psutil_us": theirs, "ratio": ours / theirs}
    results["collectors"] = collectors
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
