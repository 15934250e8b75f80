"""Frozen, typed result objects for the collectors (like psutil's named tuples).

Each class lists its fields as annotations; ``_asdict()`` gives them back as a dict. The
values come from ``spectra-core`` unchanged (bytes, seconds, percent 0-100).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Optional


class Record:
    """A frozen record: attributes in, ``_asdict()`` out."""

    # Fields holding other records (a dict becomes one record, a list a list of them).
    _nested: ClassVar[Dict[str, type]] = {}

    def __init__(self, data: Dict[str, Any]) -> None:
        # The dict from the native module becomes the instance's namespace as it is (this is
        # the hot path of every collector call); only nested records are converted.
        if self._nested:
            data = dict(data)
            for key, kind in self._nested.items():
                value = data.get(key)
                if isinstance(value, dict):
                    data[key] = kind(value)
                elif isinstance(value, list):
                    data[key] = [kind(item) if isinstance(item, dict) else item for item in value]
        object.__setattr__(self, "__dict__", data)

    @classmethod
    def _fields(cls) -> List[str]:
        names: List[str] = []
        for klass in reversed(cls.__mro__):
            for name in getattr(klass, "__annotations__", {}):
                if not name.startswith("_") and name not in names:
                    names.append(name)
        return names

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _asdict(self) -> Dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Record):
                return value._asdict()
            if isinstance(value, list):
                return [plain(item) for item in value]
            return value

        return {key: plain(value) for key, value in vars(self).items()}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(self)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({fields})"


class CpuTimes(Record):
    usage_percent: float
    user_percent: float
    system_percent: float
    idle_percent: float
    iowait_percent: float
    steal_percent: float


class Cpu(Record):
    _nested = {"total": CpuTimes, "per_core": CpuTimes}
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
    _nested = {"rates": DiskIoRates}
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
    _nested = {"rates": InterfaceRates}
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
    _nested = {"top_by_cpu": Process, "top_by_memory": Process}
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
    _nested = {"users": LoggedInUser}
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
    _nested = {"throttle": Throttle}
    model: str
    soc_temperature: Optional[float]
    arm_clock_mhz: Optional[float]
    throttled_raw: Optional[int]
    throttle: Optional[Throttle]


class ErrorInfo(Record):
    """An error as data (spectra-core's error body): its code, number and message."""

    code: str
    number: Optional[int]
    message: str


class CollectorInfo(Record):
    _nested = {"reason": ErrorInfo}
    name: str
    interval_secs: int
    supported: bool
    reason: Optional[ErrorInfo]
    backend: Optional[str]


# The record type of each collector's result (a list of them where the collector gives many).
BY_COLLECTOR: Dict[str, type] = {
    "cpu": Cpu,
    "memory": Memory,
    "disk": DiskUsage,
    "disk_io": DiskIo,
    "network": NetworkInterface,
    "wifi": WifiLink,
    "processes": Processes,
    "services": Service,
    "applications": Package,
    "containers": Container,
    "system": SystemInfo,
    "temperature": Sensor,
    "raspberry_pi": RaspberryPi,
}
