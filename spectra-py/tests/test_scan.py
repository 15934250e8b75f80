import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import spectra
from conftest import truth


def test_scan_agrees_with_the_truth(tree: Path) -> None:
    report = spectra.scan(tree, top=3, apparent_size=True)
    files, size = truth(tree)
    assert report.file_count == files == 5
    assert report.dir_count == 4  # root, a, b, b/c
    file_bytes = sum(e.size for e in spectra.iter_files(tree) if e.kind == "file")
    assert file_bytes == size
    assert report.total_bytes == report.apparent_bytes >= size
    assert [f["path"] for f in report.largest_files] == [
        str(tree / "b/c/four.bin"), str(tree / "b/three.txt"), str(tree / "a/two.log")]
    logs = next(e for e in report.extensions if e["name"] == "log")
    assert (logs["count"], logs["bytes"]) == (2, 3000)
    assert report.roots == [str(tree)]
    assert not report.partial and not report.cancelled
    assert report.to_dict()["totals"]["files"] == 5
    assert "ScanReport(" in repr(report)


def test_options_are_passed_through(tree: Path) -> None:
    report = spectra.scan(tree, exclude=["*.log"], threads=1)
    assert report.file_count == 3
    with pytest.raises(spectra.InvalidPatternError) as error:
        spectra.scan(tree, exclude=["[unclosed"])
    assert isinstance(error.value, ValueError)
    assert "[unclosed" in str(error.value)


def test_progress_is_called_and_its_exception_is_the_cause(tree: Path) -> None:
    seen = []
    spectra.scan(tree, progress=lambda entries, size: seen.append((entries, size)))
    assert seen, "called at least once (at the end)"
    assert seen[-1][0] >= 9  # 5 files + 4 directories

    class Stop(Exception):
        pass

    def boom(entries: int, size: int) -> None:
        raise Stop("from the callback")

    with pytest.raises(spectra.CallbackError, match="from the callback") as error:
        spectra.scan(tree, progress=boom)
    assert error.value.code == "callback"
    assert isinstance(error.value.__cause__, Stop), "the callback's own exception is the cause"


def big_tree(root: Path, files: int = 60_000) -> Path:
    for i in range(files):
        directory = root / f"d{i % 300}"
        if i < 300:
            directory.mkdir(parents=True)
        (directory / f"f{i}").touch()
    return root


def test_ctrl_c_cancels_a_scan_promptly(tmp_path: Path) -> None:
    root = big_tree(tmp_path / "big")
    started = time.monotonic()
    full = spectra.scan(root, threads=1)
    full_time = time.monotonic() - started
    assert full.file_count == 60_000

    def interrupt() -> None:
        time.sleep(min(0.05, full_time / 4))
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        # Slowed by a callback so the interrupt lands mid-walk whatever the machine.
        spectra.scan(root, threads=1, progress=lambda e, b: time.sleep(0.01))
    assert time.monotonic() - started < full_time + 1.0


def test_the_interpreter_runs_while_a_scan_does(tmp_path: Path) -> None:
    root = big_tree(tmp_path / "big", 30_000)
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    before = ticks
    spectra.scan(root, threads=1)
    during = ticks - before
    done.set()
    counter.join()
    assert during > 5, f"the other thread ran {during} times during the scan"


def test_iter_files_streams_every_entry_once(tree: Path) -> None:
    entries = list(spectra.iter_files(tree))
    paths = [e.path for e in entries]
    assert len(paths) == len(set(paths)) == 9
    expected = {str(tree)}
    for directory, dirs, names in os.walk(tree):
        expected.update(os.path.join(directory, n) for n in dirs + names)
    assert set(paths) == expected
    five = next(e for e in entries if e.path.endswith("five"))
    assert (five.kind, five.size, five.depth) == ("file", 10, 1)
    assert five.mtime is not None and abs(five.mtime - os.lstat(five.path).st_mtime) < 1e-3
    assert five.to_dict()["size"] == 10


def test_iter_files_can_stop_early(tmp_path: Path) -> None:
    root = big_tree(tmp_path / "big", 20_000)
    stream = spectra.iter_files(root)
    first = [next(stream) for _ in range(10)]
    assert len(first) == 10
    stream.close()
    assert list(stream) == []


def test_frames_have_the_documented_shape(tree: Path) -> None:
    pandas = pytest.importorskip("pandas")
    report = spectra.scan(tree, top=2)
    frame = report.largest_files_frame()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["path", "bytes", "apparent_bytes", "disk_bytes"]
    assert len(frame) == 2
    assert pandas.api.types.is_string_dtype(frame["path"])
    assert all(str(frame[c].dtype) in ("int64", "uint64") for c in frame.columns[1:])
    long = report.to_pandas()
    assert list(long.columns) == ["section", "name", "count", "bytes"]
    assert set(long["section"]) >= {"totals", "largest_file", "extension", "owner", "age_mtime"}
    totals = long[long["section"] == "totals"].set_index("name")["bytes"]
    assert totals["apparent_bytes"] == report.apparent_bytes


def test_a_forked_child_can_scan(tree: Path) -> None:
    import multiprocessing

    spectra.scan(tree)  # the parent has scanned (and used threads) before forking
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        files = pool.apply(_count_files, (str(tree),))
    assert files == 5


def _count_files(path: str) -> int:
    return spectra.scan(path).file_count


def test_the_backend_comes_from_the_environment_and_is_reported(tree: Path) -> None:
    # Core reads SPECTRA_BACKEND once per scanner and sampler; a child interpreter gets its own.
    import json
    import subprocess
    import sys

    code = (
        "import json, sys, spectra\n"
        "r = spectra.scan(sys.argv[1])\n"
        "caps = spectra.collectors()\n"
        "print(json.dumps({'backend': r.backend, 'files': r.file_count, 'bytes': r.disk_bytes,"
        " 'apparent': r.disk_bytes_are_apparent,"
        " 'collectors': sorted({c.backend for c in caps})}))\n"
    )

    def run(backend: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, SPECTRA_BACKEND=backend)
        return subprocess.run([sys.executable, "-c", code, str(tree)], env=env,
                              capture_output=True, text=True)

    native, portable = (json.loads(run(b).stdout) for b in ("native", "portable"))
    assert native["backend"] == "native" and portable["backend"] == "portable"
    assert (portable["files"], portable["bytes"]) == (native["files"], native["bytes"])
    assert portable["apparent"] is False
    assert portable["collectors"] == ["portable"]
    bad = run("turbo")
    assert bad.returncode != 0
    assert "SPECTRA_BACKEND" in bad.stderr and "InvalidInputError" in bad.stderr


def _every_setting() -> dict:
    path = Path(__file__).resolve().parents[2] / "spectra-core/tests/data/every_scan_setting.json"
    return json.loads(path.read_text())


def _build(root: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "spectra-core/tests/data/every_scan_setting_tree.sh"
    subprocess.run(["sh", str(script), str(root)], check=True)


def test_every_setting_gives_the_scan_the_cli_gives(tmp_path: Path) -> None:
    cli = os.environ.get("SPECTRA_CLI")
    if not cli:
        pytest.skip("SPECTRA_CLI (the built spectra binary) is set by test.sh")
    every = _every_setting()
    _build(tmp_path)
    out = subprocess.run([cli, "scan", str(tmp_path), "--format", "json", *every["cli"]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    from_cli = json.loads(out.stdout)
    from_python = spectra.scan(tmp_path, **every["settings"]).to_dict()
    for key in every["volatile"]:
        del from_cli[key], from_python[key]
    assert from_python == from_cli
    assert from_python["totals"]["files"] == 3 and from_python["backend"] == "portable"
    files = [e.path for e in spectra.iter_files(tmp_path, **every["settings"]) if e.kind == "file"]
    assert sorted(files) == sorted(f["path"] for f in from_cli["largest_files"])


def test_an_unknown_setting_is_refused_with_the_known_ones(tree: Path) -> None:
    with pytest.raises(spectra.InvalidInputError) as error:
        spectra.scan(tree, depth=2)
    assert "unknown field `depth`" in str(error.value) and "max_depth" in str(error.value)
