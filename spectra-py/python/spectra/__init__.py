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

# Only the package's own names are public: typing helpers are imported under private names so
# that `dir(spectra)` lists what a notebook user can call.
from typing import Any as _Any
from typing import List as _List
from typing import Optional as _Optional
from typing import Union as _Union

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
    ErrorInfo,
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
    AgentSink,
    CallbackError,
    CancelledError,
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
    SpectraTimeoutError,
    TooLargeError,
    UnsupportedError,
    __version__,
    disk_usage,
    enforce,
    iter_files,
    logs,
    metric_field,
    metric_fields,
    mounts,
    netstat,
    ping,
    restore,
    scan,
    tcp_connect,
    traceroute,
)

__all__ = [
    "AgentSink",
    "CallbackError",
    "CancelledError",
    "CollectorInfo",
    "Container",
    "Cpu",
    "CpuTimes",
    "DiskIo",
    "DiskIoRates",
    "DiskUsage",
    "ErrorInfo",
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
    "SpectraTimeoutError",
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
    "disk_usage",
    "disks",
    "enforce",
    "iter_files",
    "logs",
    "metric_field",
    "metric_fields",
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


def collect(name: str) -> _Union[Record, _List[Record]]:
    """One sample of collector ``name`` as records (see ``collectors()`` for the names)."""
    data = _spectra.collect(name)
    kind = BY_COLLECTOR[name]
    if isinstance(data, list):
        return [kind(item) for item in data]
    return kind(data)


def _one(name: str, **kwargs: _Any) -> _Any:
    kind = BY_COLLECTOR[name]
    return kind(_spectra.collect(name, **kwargs))


def _many(name: str) -> _Any:
    kind = BY_COLLECTOR[name]
    return [kind(item) for item in _spectra.collect(name)]


def cpu() -> Cpu:
    """CPU usage since the previous call (since boot on the first), load and frequency."""
    return _one("cpu")


def memory() -> Memory:
    return _one("memory")


def disks() -> _List[DiskUsage]:
    """Usage of every mounted filesystem that has a size."""
    return _many("disk")


def disk_io() -> _List[DiskIo]:
    return _many("disk_io")


def network() -> _List[NetworkInterface]:
    return _many("network")


def processes(top: _Optional[int] = None) -> Processes:
    """Process counts and the ``top`` busiest processes by CPU and by memory (10 unless
    given: the default is spectra-core's, the same in every frontend)."""
    return _one("processes", top=top)


def services() -> _List[Service]:
    return _many("services")


def temperatures() -> _List[Sensor]:
    return _many("temperature")


def wifi() -> _List[WifiLink]:
    return _many("wifi")


def containers() -> _List[Container]:
    return _many("containers")


def system() -> SystemInfo:
    return _one("system")


def applications() -> _List[Package]:
    return _many("applications")


def raspberry_pi() -> RaspberryPi:
    return _one("raspberry_pi")


def collectors() -> _List[CollectorInfo]:
    """Every collector: its name, default interval, and whether it works on this host."""
    return [CollectorInfo(item) for item in _spectra.collectors()]
