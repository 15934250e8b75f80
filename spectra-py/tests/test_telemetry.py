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


def test_the_agent_sink_hands_events_to_the_agents_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent's side of this socket (attribution, batching, upload) is tested against a
    # real agent and server in spectra-cli/tests/governance_cli.rs; here, the wire: one JSON
    # AccessEvent per line on the agent's default socket.
    import socket
    import threading

    monkeypatch.setenv("SPECTRA_AGENT_STATE_DIR", str(tmp_path))
    sink = spectra.AgentSink()
    assert Path(sink.socket) == tmp_path / "telemetry.sock"
    with pytest.raises(spectra.NotFoundError, match="telemetry.sock") as raised:
        spectra.Recorder(sink)  # nothing listens yet
    assert raised.value.code == "not_found"

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / "telemetry.sock"))
    server.listen(1)
    received: list = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection, connection.makefile("r") as lines:
            for line in lines:
                received.append(json.loads(line))

    reader = threading.Thread(target=serve)
    reader.start()
    recorder = spectra.Recorder(sink, batch_size=2)
    assert recorder.record("read", "/data/a.bin", bytes=10, user="ana", backend="s3_training")
    assert recorder.record("write", "/data/b.bin", uid=1000)
    assert recorder.close()["written"] == 2
    reader.join(timeout=10)
    server.close()
    assert [(e["op"], e["path"]) for e in received] == [
        ("read", "/data/a.bin"),
        ("write", "/data/b.bin"),
    ]
    assert (received[0]["user"], received[0]["backend"], received[0]["bytes"]) == (
        "ana",
        "s3_training",
        10,
    )
    assert received[1]["uid"] == 1000 and "backend" not in received[1]
