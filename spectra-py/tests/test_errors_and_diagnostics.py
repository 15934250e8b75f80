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
        spectra.PolicyError: ValueError,
    }
    for cls, builtin in pairs.items():
        assert issubclass(cls, spectra.SpectraError) and issubclass(cls, builtin), cls
        assert cls.__module__ == "spectra"
        assert isinstance(cls.code, str)
    assert spectra.SpectraError.code is None
    # One class per code of core's table (read from its source, not from this binding).
    core_source = Path(__file__).parents[2] / "spectra-core" / "src" / "error.rs"
    table = core_source.read_text().split("pub fn as_str(self)")[1].split("\n    }\n")[0]
    core_codes = set(re.findall(r'ErrorCode::\w+ => "(\w+)"', table))
    classes = [
        value for value in vars(spectra).values()
        if isinstance(value, type) and issubclass(value, spectra.SpectraError)
        and value is not spectra.SpectraError
    ]
    assert sorted(cls.code for cls in classes) == sorted(core_codes)
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
    with pytest.raises(ValueError):
        spectra.ping("127.0.0.1", timeout=-1)


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
