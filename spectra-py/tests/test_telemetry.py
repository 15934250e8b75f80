import json
import time
from pathlib import Path

import pytest

import spectra


def test_recorder_writes_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.jsonl"
    with spectra.Recorder(log, metadata_sample_rate=0.5) as recorder:
        assert recorder.record("read", "/srv/a.csv", bytes=4096, uid=1000)
        assert recorder.record("write", tmp_path / "b")
        kept = [recorder.record("stat", f"/srv/{i}") for i in range(10)]
        assert kept.count(True) == 5
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(events) == 7
    assert events[0]["op"] == "read" and events[0]["bytes"] == 4096 and events[0]["uid"] == 1000
    assert events[0]["path"] == "/srv/a.csv"
    stats = recorder.stats
    assert (stats["recorded"], stats["sampled_out"], stats["written"]) == (7, 5, 7)
    assert not recorder.record("read", "/after/close")


def test_recorder_calls_a_python_sink_in_batches() -> None:
    batches = []
    recorder = spectra.Recorder(batches.append, batch_size=3, flush_interval=0.05)
    for i in range(7):
        recorder.record("open", f"/f{i}")
    recorder.flush()
    assert [len(b) for b in batches] == [3, 3, 1]
    assert batches[0][0]["op"] == "open"
    time.sleep(0.1)
    stats = recorder.close()
    assert stats["written"] == 7


def test_a_failing_sink_is_reported_and_bad_arguments_refused() -> None:
    def broken(events: list) -> None:
        raise RuntimeError("sink down")

    recorder = spectra.Recorder(broken)
    recorder.record("read", "/x")
    with pytest.raises(spectra.InvalidDataError, match="sink down"):
        recorder.flush()
    assert recorder.stats["failed"] == 1
    with pytest.raises(spectra.InvalidInputError, match="expected open"):
        recorder.record("chmod", "/x")
    with pytest.raises(spectra.InvalidInputError):
        spectra.Recorder(broken, metadata_sample_rate=2.0)
    with pytest.raises(TypeError):
        spectra.Recorder(42)  # type: ignore[arg-type]
