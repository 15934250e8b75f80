from pathlib import Path

import pytest

import spectra


def test_policies_from_toml_and_from_arguments() -> None:
    policy = spectra.Policy.from_toml(
        'name = "old logs"\nrules = ["extension == \'log\'", "size > 1KB"]\naction = "delete"\n')
    assert policy.name == "old logs"
    assert policy.rules == ["extension == 'log'", "size > 1KB"]
    assert policy.action == {"type": "delete"}
    made = spectra.Policy("logs", ["extension == 'log'"], action="report")
    assert made.to_dict()["action"] == {"type": "report"}
    seed = spectra.Policy.from_json(
        '{"name": "Cleanup Old Logs", "rules": ["extension == \'log\'"], "action": "DELETE"}')
    assert seed.action == {"type": "delete"}


def test_a_bad_rule_says_where() -> None:
    with pytest.raises(spectra.PolicyError) as error:
        spectra.Policy("p", ["size > 1KB", "size > 10 parsecs"])
    e = error.value
    assert isinstance(e, ValueError) and isinstance(e, spectra.SpectraError)
    assert (e.rule_index, e.line, e.column, e.policy) == (2, 2, 11, "p")
    assert e.rule == "size > 10 parsecs"
    assert "^" in str(e) and "rule 2" in str(e)
    with pytest.raises(spectra.InvalidDataError) as error:
        spectra.Policy.from_toml("name = ")
    assert "line 1" in str(error.value)
    with pytest.raises(spectra.InvalidInputError):
        spectra.Policy("p", ["size > 1"], action="shred")


def test_plan_enforce_and_restore(tree: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    policy = spectra.Policy("logs", ["extension == 'log'"], action="delete")
    plan = policy.plan(tree, state_dir=state)
    assert plan.file_count == 2 and plan.total_bytes == 3000
    assert sorted(Path(m.path).name for m in plan.matches) == ["one.log", "two.log"]
    assert all(isinstance(m, spectra.PlannedFile) and m.size in (1000, 2000) for m in plan.matches)
    assert plan.matches[0].to_dict()["size"] == plan.matches[0].size
    assert len(plan.id) == 64 and (state / "plans" / f"{plan.id}.json").exists()
    assert (tree / "a/one.log").exists(), "a plan changes nothing"
    outcome = spectra.enforce(plan.id, state_dir=state)
    assert len(outcome["quarantined"]) == 2 and outcome["skipped"] == []
    assert not (tree / "a/one.log").exists()
    restored = spectra.restore(plan.id, state_dir=state)
    assert sorted(Path(p).name for p in restored) == ["one.log", "two.log"]
    assert (tree / "a/one.log").read_bytes() == b"x" * 1000
    with pytest.raises(spectra.InvalidInputError):
        spectra.enforce("../../etc/passwd", state_dir=state)
    with pytest.raises(FileNotFoundError):
        spectra.enforce("0" * 64, state_dir=state)


def test_plan_frame(tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    plan = spectra.Policy("big", ["size > 1500"]).plan(tree, state_dir=tmp_path)
    frame = plan.to_pandas()
    assert list(frame.columns) == ["path", "size", "disk_size", "mtime", "uid", "gid"]
    assert sorted(frame["size"]) == [2000, 3000, 4096]
    assert str(frame["mtime"].dtype) == "float64"
