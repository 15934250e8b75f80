import pytest

import spectra

psutil = pytest.importorskip("psutil")

FUNCTIONS = {
    "cpu": spectra.cpu, "memory": spectra.memory, "disk": spectra.disks,
    "disk_io": spectra.disk_io, "network": spectra.network, "processes": spectra.processes,
    "services": spectra.services, "temperature": spectra.temperatures, "wifi": spectra.wifi,
    "containers": spectra.containers, "system": spectra.system,
    "applications": spectra.applications, "raspberry_pi": spectra.raspberry_pi,
}


def test_every_collector_has_a_function_that_works_or_says_why_not() -> None:
    infos = {info.name: info for info in spectra.collectors()}
    assert set(infos) == set(FUNCTIONS)
    for name, function in FUNCTIONS.items():
        info = infos[name]
        assert info.interval_secs > 0
        if info.supported:
            result = function()
            records = result if isinstance(result, list) else [result]
            for record in records:
                # The typed record declares exactly the fields core sends.
                assert set(record._asdict()) == set(type(record)._fields()), name
            assert type(spectra.collect(name)) is type(result)
        else:
            assert info.reason and info.reason.code == "unsupported", info.reason
            assert info.reason.number == spectra.UnsupportedError.number
            with pytest.raises(spectra.UnsupportedError) as error:
                function()
            assert info.reason.message == str(error.value)


def test_records_are_frozen_and_convert_to_dicts() -> None:
    memory = spectra.memory()
    with pytest.raises(AttributeError):
        memory.total = 1  # type: ignore[misc]
    as_dict = memory._asdict()
    assert as_dict["total"] == memory.total
    cpu = spectra.cpu()
    assert isinstance(cpu.total, spectra.CpuTimes)
    assert isinstance(cpu._asdict()["total"], dict)
    assert spectra.Memory(as_dict) == memory


def test_memory_and_cpu_agree_with_psutil() -> None:
    assert spectra.memory().total == psutil.virtual_memory().total
    assert spectra.cpu().core_count == psutil.cpu_count()
    usage = spectra.cpu().total.usage_percent
    assert 0.0 <= usage <= 100.0


def test_mounts_and_interfaces_agree_with_psutil() -> None:
    ours = {d.mount_point for d in spectra.disks()}
    theirs = {p.mountpoint for p in psutil.disk_partitions(all=True)}
    assert "/" in ours
    assert ours <= theirs, ours - theirs
    assert {i.name for i in spectra.network()} == set(psutil.net_if_stats())


def test_processes_and_system_agree_with_psutil() -> None:
    mine = spectra.processes(top=3)
    assert len(mine.top_by_cpu) <= 3 and len(mine.top_by_memory) <= 3
    assert isinstance(mine.top_by_memory[0], spectra.Process)
    assert abs(mine.total - len(psutil.pids())) <= 5
    system = spectra.system()
    assert abs(system.uptime_secs - (__import__("time").time() - psutil.boot_time())) < 5


def test_unknown_collector_names_are_refused() -> None:
    with pytest.raises(spectra.InvalidInputError) as error:
        spectra.collect("gpu")
    assert "unknown collector" in str(error.value)


def _leaf_names(prefix: str, value: object) -> list:
    """The dotted names of a record's leaves, as the schema names them (lists are walked)."""
    if isinstance(value, dict):
        return [name for key, item in value.items() for name in _leaf_names(f"{prefix}.{key}", item)]
    if isinstance(value, list):
        return [name for item in value for name in _leaf_names(prefix, item)]
    # Numbers and booleans: the series. Text (names, labels) is checked by core's own test.
    return [prefix] if isinstance(value, (int, float)) else []


def test_every_number_python_returns_is_a_field_of_core_metric_schema_by_the_same_name() -> None:
    schema = {field["name"]: field for field in spectra.metric_fields()}
    assert schema["cpu.total.usage_percent"]["unit"] == "percent"
    assert schema["memory.used"]["unit"] == "bytes"
    checked = 0
    for info in spectra.collectors():
        if not info.supported:
            continue
        result = spectra.collect(info.name)
        records = result if isinstance(result, list) else [result]
        for record in records:
            for name in _leaf_names(info.name, record._asdict()):
                field = spectra.metric_field(name)
                assert field is not None, f"{name} is not in core's metric schema"
                checked += 1
    assert checked > 50, checked
    assert spectra.metric_field("cpu.total.usage_percnt") is None
