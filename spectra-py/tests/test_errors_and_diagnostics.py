import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import spectra


def test_error_classes_form_one_hierarchy() -> None:
    pairs = {
        spectra.SpectraIOError: OSError, spectra.NotFoundError: FileNotFoundError,
        spectra.PermissionDeniedError: PermissionError, spectra.InvalidInputError: ValueError,
        spectra.InvalidPatternError: ValueError, spectra.InvalidDataError: ValueError,
        spectra.TooLargeError: ValueError, spectra.UnsupportedError: NotImplementedError,
        spectra.PolicyError: ValueError, spectra.SpectraTimeoutError: TimeoutError,
        spectra.CancelledError: Exception, spectra.CallbackError: Exception,
    }
    for cls, builtin in pairs.items():
        assert issubclass(cls, spectra.SpectraError) and issubclass(cls, builtin), cls
        assert cls.__module__ == "spectra"
        assert isinstance(cls.code, str) and isinstance(cls.number, int)
    assert spectra.SpectraError.code is None
    # One class per code of core's table (read from its source, not from this binding).
    core_source = Path(__file__).parents[2] / "spectra-core" / "src" / "error.rs"
    table = core_source.read_text().split("pub fn as_str(self)")[1].split("\n    }\n")[0]
    core_codes = set(re.findall(r'ErrorCode::\w+ => "(\w+)"', table))
    published = core_source.read_text().split("let published = [")[1].split("];")[0]
    numbers = {name: int(n) for n, name in re.findall(r'\((\d+), "(\w+)"\)', published)}
    assert numbers and set(numbers) == core_codes
    classes = [
        value for value in vars(spectra).values()
        if isinstance(value, type) and issubclass(value, spectra.SpectraError)
        and value is not spectra.SpectraError
    ]
    assert sorted(cls.code for cls in classes) == sorted(core_codes)
    assert {cls.code: cls.number for cls in classes} == numbers
    assert set(pairs) == set(classes), "every class is checked against its builtin above"


def test_io_errors_carry_errno_and_filename(tmp_path: Path) -> None:
    with pytest.raises(spectra.NotFoundError) as error:
        spectra.scan(tmp_path / "missing")
    assert error.value.errno == 2
    assert error.value.filename == str(tmp_path / "missing")


@pytest.mark.skipif(not Path("/usr/bin/setpriv").exists(), reason="needs setpriv")
def test_permission_errors_map_to_permission_error(tmp_path: Path) -> None:
    import os

    if os.geteuid() != 0:
        pytest.skip("drops to nobody, which needs root")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
    code = (
        "import spectra\n"
        "try:\n"
        f"    spectra.Policy('p', ['size > 1']).plan('/usr/share/doc', state_dir='{locked}/s')\n"
        "except PermissionError as e:\n"
        "    assert isinstance(e, spectra.PermissionDeniedError), type(e)\n"
        "    print('mapped', e.errno)\n"
    )
    out = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
         "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "mapped 13" in out.stdout


def test_diagnostics_on_loopback() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        result = spectra.tcp_connect("127.0.0.1", port)
        assert result["connected"] and result["port"] == port
        sockets = spectra.netstat()
        listening = [s for s in sockets if s["local"] == f"127.0.0.1:{port}"]
        assert listening and listening[0]["state"] == "LISTEN", listening
    finally:
        listener.close()
    closed = spectra.tcp_connect("127.0.0.1", port)
    assert not closed["connected"] and closed["error"]
    ping = spectra.ping("127.0.0.1", count=2, timeout=1.0)
    assert ping["received"] == 2 and ping["loss_percent"] == 0.0
    trace = spectra.traceroute("127.0.0.1", max_hops=3, timeout=1.0)
    assert trace["reached"] and trace["address"] == "127.0.0.1"
    assert any(m["mount_point"] == "/" for m in spectra.mounts())
    with pytest.raises(spectra.InvalidInputError) as error:
        spectra.ping("-oProxyCommand=x")
    assert "target" in str(error.value)
    with pytest.raises(spectra.InvalidInputError) as bad_timeout:
        spectra.ping("127.0.0.1", timeout=-1)
    assert "timeout" in str(bad_timeout.value)


def test_logs_and_disk_usage_use_cores_defaults(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"x" * (i + 1))
    report = spectra.disk_usage(tmp_path)
    assert len(report["largest_files"]) == 20, "core's DEFAULT_DISK_USAGE_TOP"
    assert len(spectra.disk_usage(tmp_path, top=3)["largest_files"]) == 3
    try:
        lines = spectra.logs(severity="debug", lines=5)
    except spectra.UnsupportedError:
        return
    assert len(lines) <= 5 and all("message" in line for line in lines)
    with pytest.raises(spectra.InvalidInputError):
        spectra.logs(severity="loud")


def test_the_cli_and_python_give_the_same_diagnostic_defaults(tmp_path: Path) -> None:
    """One source of defaults: the CLI's `diag du` and Python's disk_usage() list as many."""
    cli = os.environ.get("SPECTRA_CLI")
    if not cli:
        pytest.skip("SPECTRA_CLI (the built spectra binary) is set by test.sh")
    for i in range(30):
        (tmp_path / f"f{i}").write_bytes(b"x" * (i + 1))
    out = subprocess.run([cli, "diag", "--format", "json", "du", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    from_cli = json.loads(out.stdout)
    from_python = spectra.disk_usage(tmp_path)
    assert len(from_cli["largest_files"]) == len(from_python["largest_files"]) == 20
    assert from_cli["largest_files"] == from_python["largest_files"]


def test_dir_shows_no_typing_helpers() -> None:
    public = {name for name in dir(spectra) if not name.startswith("_")}
    assert not public & {"Any", "List", "Union", "Optional", "annotations"}, public
    assert {"logs", "disk_usage", "ping"} <= public


def test_dataframes_without_pandas_say_how_to_get_it(tree: Path) -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import spectra\n"
        f"report = spectra.scan({str(tree)!r})\n"
        "try:\n"
        "    report.to_pandas()\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install pandas" in out.stdout, out.stderr


def test_stubs_match_the_runtime() -> None:
    mypy = pytest.importorskip("mypy")
    assert mypy
    out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "spectra"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
