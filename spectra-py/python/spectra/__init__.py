"""Spectra for Python: what fills the disks, what a host is doing, and policies over files.

>>> import spectra
>>> report = spectra.scan("/usr/share", top=5)
>>> report.file_count > 0
True
>>> spectra.memory().total > 0
True

Everything runs in ``spectra-core`` (Rust) with the interpreter released; this package
converts arguments and results. Units are bytes, seconds and percent (0-100). Errors derive
from ``SpectraError``; I/O errors are also ``OSError`` subclasses (``FileNotFoundError``,
``PermissionError``), invalid arguments also ``ValueError``.
"""

from __future__ import annotations

from typing import Any, List, Union

from . import _spectra
from ._records import (
    BY_COLLECTOR,
    CollectorInfo,
    Container,
    Cpu,
    CpuTimes,
    DiskIo,
    DiskIoRates,
    DiskUsage,
    InterfaceRates,
    LoggedInUser,
    Memory,
    NetworkInterface,
    Package,
    Process,
    Processes,
    RaspberryPi,
    Record,
    Sensor,
    Service,
    SystemInfo,
    Throttle,
    WifiLink,
)
from ._spectra import (
    FileEntry,
    FileIterator,
    InvalidDataError,
    InvalidInputError,
    InvalidPatternError,
    NotFoundError,
    PermissionDeniedError,
    Plan,
    PlannedFile,
    Policy,
    PolicyError,
    Recorder,
    ScanReport,
    SpectraError,
    SpectraIOError,
    TooLargeError,
    UnsupportedError,
    __version__,
    enforce,
    iter_files,
    mounts,
    netstat,
    ping,
    restore,
    scan,
    tcp_connect,
    traceroute,
)

__all__ = [
    "CollectorInfo",
    "Container",
    "Cpu",
    "CpuTimes",
    "DiskIo",
    "DiskIoRates",
    "DiskUsage",
    "FileEntry",
    "FileIterator",
    "InterfaceRates",
    "InvalidDataError",
    "InvalidInputError",
    "InvalidPatternError",
    "LoggedInUser",
    "Memory",
    "NetworkInterface",
    "NotFoundError",
    "Package",
    "PermissionDeniedError",
    "Plan",
    "PlannedFile",
    "Policy",
    "PolicyError",
    "Process",
    "Processes",
    "RaspberryPi",
    "Record",
    "Recorder",
    "ScanReport",
    "Sensor",
    "Service",
    "SpectraError",
    "SpectraIOError",
    "SystemInfo",
    "Throttle",
    "TooLargeError",
    "UnsupportedError",
    "WifiLink",
    "__version__",
    "applications",
    "collect",
    "collectors",
    "containers",
    "cpu",
    "disk_io",
    "disks",
    "enforce",
    "iter_files",
    "memory",
    "mounts",
    "netstat",
    "network",
    "ping",
    "processes",
    "raspberry_pi",
    "restore",
    "scan",
    "services",
    "system",
    "tcp_connect",
    "temperatures",
    "traceroute",
    "wifi",
]


def collect(name: str) -> Union[Record, List[Record]]:
    """One sample of collector ``name`` as records (see ``collectors()`` for the names)."""
    data = _spectra.collect(name)
    kind = BY_COLLECTOR[name]
    if isinstance(data, list):
        return [kind(item) for item in data]
    return kind(data)


def _one(name: str, **kwargs: Any) -> Any:
    kind = BY_COLLECTOR[name]
    return kind(_spectra.collect(name, **kwargs))


def _many(name: str) -> Any:
    kind = BY_COLLECTOR[name]
    return [kind(item) for item in _spectra.collect(name)]


def cpu() -> Cpu:
    """CPU usage since the previous call (since boot on the first), load and frequency."""
    return _one("cpu")


def memory() -> Memory:
    return _one("memory")


def disks() -> List[DiskUsage]:
    """Usage of every mounted filesystem that has a size."""
    return _many("disk")


def disk_io() -> List[DiskIo]:
    return _many("disk_io")


def network() -> List[NetworkInterface]:
    return _many("network")


def processes(top: int = 10) -> Processes:
    """Process counts and the ``top`` busiest processes by CPU and by memory."""
    return _one("processes", top=top)


def services() -> List[Service]:
    return _many("services")


def temperatures() -> List[Sensor]:
    return _many("temperature")


def wifi() -> List[WifiLink]:
    return _many("wifi")


def containers() -> List[Container]:
    return _many("containers")


def system() -> SystemInfo:
    return _one("system")


def applications() -> List[Package]:
    return _many("applications")


def raspberry_pi() -> RaspberryPi:
    return _one("raspberry_pi")


def collectors() -> List[CollectorInfo]:
    """Every collector: its name, default interval, and whether it works on this host."""
    return [CollectorInfo(item) for item in _spectra.collectors()]
