"""Type stubs for the spectra package (checked against the runtime by mypy's stubtest)."""

from os import PathLike
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Optional, Sequence, Union, final

__all__ = [
    "AgentSink",
    "CallbackError",
    "CancelledError",
    "CollectorInfo",
    "ErrorInfo",
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


_Path = Union[str, PathLike[str]]

__version__: str

class SpectraError(Exception):
    code: ClassVar[Optional[str]]
    number: ClassVar[Optional[int]]

class SpectraIOError(SpectraError, OSError): ...
class NotFoundError(SpectraIOError, FileNotFoundError): ...
class PermissionDeniedError(SpectraIOError, PermissionError): ...
class InvalidInputError(SpectraError, ValueError): ...
class InvalidPatternError(InvalidInputError): ...
class InvalidDataError(SpectraError, ValueError): ...
class TooLargeError(SpectraError, ValueError): ...
class UnsupportedError(SpectraError, NotImplementedError): ...
class SpectraTimeoutError(SpectraError, TimeoutError): ...
class CancelledError(SpectraError): ...
class CallbackError(SpectraError): ...

class PolicyError(SpectraError, ValueError):
    policy: str
    rule_index: int
    line: int
    rule: str
    column: int
    reason: str

class Record:
    _nested: ClassVar[Dict[str, type]]
    def __init__(self, data: Dict[str, Any]) -> None: ...
    @classmethod
    def _fields(cls) -> List[str]: ...
    def _asdict(self) -> Dict[str, Any]: ...

class CpuTimes(Record):
    usage_percent: float
    user_percent: float
    system_percent: float
    idle_percent: float
    iowait_percent: float
    steal_percent: float

class Cpu(Record):
    total: CpuTimes
    per_core: List[CpuTimes]
    load_1: float
    load_5: float
    load_15: float
    core_count: int
    frequency_mhz: Optional[float]
    since_boot: bool

class Memory(Record):
    total: int
    used: int
    available: int
    free: int
    buffers: int
    cached: int
    swap_total: int
    swap_used: int
    cgroup_limit: Optional[int]

class DiskUsage(Record):
    device: str
    mount_point: str
    fs_type: str
    total: int
    used: int
    free: int
    usage_percent: float
    inodes_total: int
    inodes_used: int
    inodes_free: int

class DiskIoRates(Record):
    read_bytes_per_sec: float
    write_bytes_per_sec: float
    read_ops_per_sec: float
    write_ops_per_sec: float
    read_latency_ms: Optional[float]
    write_latency_ms: Optional[float]

class DiskIo(Record):
    device: str
    read_bytes: int
    write_bytes: int
    read_ops: int
    write_ops: int
    read_time_ms: int
    write_time_ms: int
    in_flight: int
    io_time_ms: int
    rates: Optional[DiskIoRates]

class InterfaceRates(Record):
    rx_bytes_per_sec: float
    tx_bytes_per_sec: float
    rx_packets_per_sec: float
    tx_packets_per_sec: float

class NetworkInterface(Record):
    name: str
    up: Optional[bool]
    addresses: List[str]
    rx_bytes: int
    rx_packets: int
    rx_errors: int
    rx_drops: int
    tx_bytes: int
    tx_packets: int
    tx_errors: int
    tx_drops: int
    rates: Optional[InterfaceRates]

class WifiLink(Record):
    interface: str
    ssid: Optional[str]
    signal_dbm: Optional[float]
    link_quality: Optional[float]
    bitrate_mbps: Optional[float]
    frequency_mhz: Optional[float]

class Process(Record):
    pid: int
    name: str
    user: Optional[str]
    uid: Optional[int]
    cpu_percent: float
    rss_bytes: int
    threads: int
    state: str

class Processes(Record):
    total: int
    total_threads: int
    by_state: Dict[str, int]
    top_by_cpu: List[Process]
    top_by_memory: List[Process]
    since_start: bool

class Service(Record):
    name: str
    load_state: str
    active_state: str
    sub_state: str
    description: str

class Package(Record):
    name: str
    version: str
    size_bytes: Optional[int]
    manager: str

class Container(Record):
    runtime: str
    id: str
    name: str
    image: Optional[str]
    node: Optional[str]
    state: str
    cpu_percent: Optional[float]
    memory_usage: Optional[int]
    memory_limit: Optional[int]
    network_rx_bytes: Optional[int]
    network_tx_bytes: Optional[int]

class LoggedInUser(Record):
    name: str
    terminal: str
    host: str

class SystemInfo(Record):
    hostname: str
    os: Optional[str]
    kernel: str
    arch: str
    uptime_secs: float
    boot_time: str
    process_count: int
    users: List[LoggedInUser]

class Sensor(Record):
    chip: str
    label: str
    current: float
    high: Optional[float]
    critical: Optional[float]

class Throttle(Record):
    under_voltage_now: bool
    frequency_capped_now: bool
    throttled_now: bool
    soft_temperature_limit_now: bool
    under_voltage_occurred: bool
    frequency_capped_occurred: bool
    throttled_occurred: bool
    soft_temperature_limit_occurred: bool

class RaspberryPi(Record):
    model: str
    soc_temperature: Optional[float]
    arm_clock_mhz: Optional[float]
    throttled_raw: Optional[int]
    throttle: Optional[Throttle]


class ErrorInfo(Record):
    code: str
    number: Optional[int]
    message: str

class CollectorInfo(Record):
    name: str
    interval_secs: int
    supported: bool
    reason: Optional[ErrorInfo]
    backend: Optional[str]

@final
class ScanReport:
    @property
    def total_bytes(self) -> int: ...
    @property
    def apparent_bytes(self) -> int: ...
    @property
    def disk_bytes(self) -> int: ...
    @property
    def file_count(self) -> int: ...
    @property
    def dir_count(self) -> int: ...
    @property
    def symlink_count(self) -> int: ...
    @property
    def error_count(self) -> int: ...
    @property
    def partial(self) -> bool: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def backend(self) -> str: ...
    @property
    def disk_bytes_are_apparent(self) -> bool: ...
    @property
    def duration(self) -> float: ...
    @property
    def roots(self) -> List[str]: ...
    @property
    def largest_files(self) -> List[Dict[str, Any]]: ...
    @property
    def largest_dirs(self) -> List[Dict[str, Any]]: ...
    @property
    def extensions(self) -> List[Dict[str, Any]]: ...
    @property
    def owners(self) -> List[Dict[str, Any]]: ...
    @property
    def age_by_mtime(self) -> List[Dict[str, Any]]: ...
    @property
    def age_by_atime(self) -> List[Dict[str, Any]]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_pandas(self) -> Any: ...
    def largest_files_frame(self) -> Any: ...

@final
class FileEntry:
    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def disk_size(self) -> int: ...
    @property
    def mtime(self) -> Optional[float]: ...
    @property
    def atime(self) -> Optional[float]: ...
    @property
    def uid(self) -> Optional[int]: ...
    @property
    def gid(self) -> Optional[int]: ...
    @property
    def depth(self) -> int: ...
    def to_dict(self) -> Dict[str, Any]: ...

@final
class FileIterator(Iterator[FileEntry]):
    def __iter__(self) -> FileIterator: ...
    def __next__(self) -> FileEntry: ...
    def close(self) -> None: ...

@final
class Policy:
    def __new__(
        cls,
        name: str,
        rules: Sequence[str],
        action: str = "report",
        *,
        description: str = ...,
        scope: Sequence[_Path] = ...,
        destination: Optional[_Path] = None,
    ) -> Policy: ...
    @staticmethod
    def from_toml(text: str) -> Policy: ...
    @staticmethod
    def from_json(text: str) -> Policy: ...
    @property
    def name(self) -> str: ...
    @property
    def rules(self) -> List[str]: ...
    @property
    def action(self) -> Dict[str, Any]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def plan(
        self,
        path: _Path,
        *,
        state_dir: Optional[_Path] = None,
        exclude: Sequence[str] = ...,
        one_file_system: Optional[bool] = None,
    ) -> Plan: ...

@final
class Plan:
    @property
    def id(self) -> str: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def total_bytes(self) -> int: ...
    @property
    def scanned_bytes(self) -> int: ...
    @property
    def file_count(self) -> int: ...
    @property
    def matches(self) -> List[PlannedFile]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_pandas(self) -> Any: ...

@final
class AgentSink:
    def __new__(cls, socket: Optional[_Path] = None) -> AgentSink: ...
    @property
    def socket(self) -> str: ...

@final
class Recorder:
    def __new__(
        cls,
        sink: Union[_Path, AgentSink, Callable[[List[Dict[str, Any]]], object]],
        *,
        # Core's defaults (500 events, 1.0 s, 0.1, 10,000), not repeated here.
        batch_size: int = ...,
        flush_interval: float = ...,
        metadata_sample_rate: float = ...,
        queue_capacity: int = ...,
    ) -> Recorder: ...
    def record(
        self,
        op: str,
        path: _Path,
        *,
        bytes: int = 0,
        uid: Optional[int] = None,
        user: Optional[str] = None,
        backend: Optional[str] = None,
    ) -> bool: ...
    def flush(self) -> None: ...
    def close(self) -> Dict[str, int]: ...
    @property
    def stats(self) -> Dict[str, int]: ...
    def __enter__(self) -> Recorder: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class PlannedFile:
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def disk_size(self) -> int: ...
    @property
    def mtime(self) -> Optional[float]: ...
    @property
    def atime(self) -> Optional[float]: ...
    @property
    def uid(self) -> Optional[int]: ...
    @property
    def gid(self) -> Optional[int]: ...
    @property
    def nlink(self) -> Optional[int]: ...
    def to_dict(self) -> Dict[str, Any]: ...

def scan(
    path: _Path,
    *,
    progress: Optional[Callable[[int, int], object]] = None,
    # Core's ScanSettings by name; what is left out (None) keeps core's default.
    top: Optional[int] = None,  # DEFAULT_TOP (10)
    top_extensions: Optional[int] = None,
    exclude: Optional[Sequence[str]] = None,
    one_file_system: Optional[bool] = None,
    apparent_size: Optional[bool] = None,
    threads: Optional[int] = None,
    max_depth: Optional[int] = None,
    follow_symlinks: Optional[bool] = None,
    count_links: Optional[bool] = None,
    walker: Optional[str] = None,  # "native" or "portable"
) -> ScanReport: ...
def iter_files(
    path: _Path,
    *,
    top: Optional[int] = None,
    top_extensions: Optional[int] = None,
    exclude: Optional[Sequence[str]] = None,
    one_file_system: Optional[bool] = None,
    apparent_size: Optional[bool] = None,
    threads: Optional[int] = None,
    max_depth: Optional[int] = None,
    follow_symlinks: Optional[bool] = None,
    count_links: Optional[bool] = None,
    walker: Optional[str] = None,
) -> FileIterator: ...
def enforce(
    plan_id: str, *, state_dir: Optional[_Path] = None, override_limits: bool = False
) -> Dict[str, Any]: ...
def restore(plan_id: str, *, state_dir: Optional[_Path] = None) -> List[str]: ...
def ping(
    host: str, count: Optional[int] = None, timeout: Optional[float] = None
) -> Dict[str, Any]: ...
def tcp_connect(host: str, port: int, timeout: Optional[float] = None) -> Dict[str, Any]: ...
def traceroute(
    host: str, max_hops: Optional[int] = None, timeout: Optional[float] = None
) -> Dict[str, Any]: ...
def netstat() -> List[Dict[str, Any]]: ...
def mounts() -> List[Dict[str, Any]]: ...
def logs(severity: Optional[str] = None, lines: Optional[int] = None) -> List[Dict[str, Any]]: ...
def disk_usage(path: _Path, top: Optional[int] = None) -> Dict[str, Any]: ...
def collect(name: str) -> Union[Record, List[Record]]: ...
def cpu() -> Cpu: ...
def memory() -> Memory: ...
def disks() -> List[DiskUsage]: ...
def disk_io() -> List[DiskIo]: ...
def network() -> List[NetworkInterface]: ...
def processes(top: Optional[int] = None) -> Processes: ...
def services() -> List[Service]: ...
def temperatures() -> List[Sensor]: ...
def wifi() -> List[WifiLink]: ...
def containers() -> List[Container]: ...
def system() -> SystemInfo: ...
def applications() -> List[Package]: ...
def raspberry_pi() -> RaspberryPi: ...
def collectors() -> List[CollectorInfo]: ...
def metric_fields() -> List[Dict[str, Any]]: ...
def metric_field(name: str) -> Optional[Dict[str, Any]]: ...
