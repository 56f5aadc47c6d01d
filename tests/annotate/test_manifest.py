"""Tests of the plan, the status records and OUTPUT's checks (spacy_bioner.annotate.manifest)."""
from __future__ import annotations

from pathlib import Path

import pytest
import srsly

from spacy_bioner.annotate.manifest import (
    SETTINGS,
    InputFile,
    Plan,
    build_manifest,
    check_resume,
    make_shards,
    plan_path,
    prepare_output,
    read_plan,
    read_statuses,
    status_path,
    write_plan,
    write_status,
)
from spacy_bioner.annotate.types import Failure, Shard, ShardResult
from spacy_bioner.errors import BioNERInputError

FILES = [InputFile("a.jsonl", 100, 5), InputFile("b/c.jsonl", 7, 0), InputFile("d.jsonl", 30, 2)]
SETTINGS_VALUES = {"format": "jsonl", "output_format": "jsonl", "pipeline": "/p", "labels": [["Disease", None]],
                   "existing": "keep", "batch_size": 64, "shard_size": 2}


def _plan() -> Plan:
    return Plan("corpus", "/data/corpus", dict(SETTINGS_VALUES), list(FILES), make_shards(FILES, 2))


def test_make_shards_cover_every_document_once_and_never_span_files() -> None:
    shards = make_shards(FILES, 2)
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(1 <= s.count <= 2 for s in shards)
    for file in FILES:
        mine = [s for s in shards if s.file == file.name]
        covered = [n for s in mine for n in range(s.first, s.first + s.count)]
        assert covered == list(range(file.documents))
    assert sum(s.count for s in shards) == sum(f.documents for f in FILES)


def test_plan_round_trip(tmp_path: Path) -> None:
    plan = _plan()
    write_plan(tmp_path, plan)
    again = read_plan(tmp_path)
    assert again == plan
    assert again is not None and again.total == 7


def test_read_plan_none_and_damaged(tmp_path: Path) -> None:
    assert read_plan(tmp_path) is None
    plan_path(tmp_path).parent.mkdir(parents=True)
    plan_path(tmp_path).write_text("{not json", encoding="utf8")
    with pytest.raises(BioNERInputError, match=r"\[E969\]"):
        read_plan(tmp_path)
    srsly.write_json(plan_path(tmp_path), {**_plan().to_dict(), "version": 99})
    with pytest.raises(BioNERInputError, match=r"\[E969\]"):
        read_plan(tmp_path)


def test_status_records_round_trip_and_pick_finished_shards(tmp_path: Path) -> None:
    plan = _plan()
    first = ShardResult(plan.shards[0], done=1, failures=[Failure("a.jsonl:2", "#2", "[E954] bad")], words=9,
                        spans=3, outputs=[".shards/000000.jsonl"], seconds=0.5)
    write_status(tmp_path, first)
    write_status(tmp_path, ShardResult(plan.shards[2], done=1))
    assert read_statuses(tmp_path, plan) == {0: first, 2: ShardResult(plan.shards[2], done=1)}
    unfinished = [s.index for s in plan.shards if s.index not in read_statuses(tmp_path, plan)]
    assert unfinished == [1, 3]


def test_status_records_that_do_not_match_the_plan_do_not_count(tmp_path: Path) -> None:
    plan = _plan()
    # another shard's record under shard 1's name, a record with counts that do not add up, a damaged one
    write_status(tmp_path, ShardResult(plan.shards[2], done=2))  # shard 2 has 1 document
    srsly.write_json(status_path(tmp_path, 1), ShardResult(plan.shards[0], done=2).to_dict())
    status_path(tmp_path, 3).write_text('{"shard": ', encoding="utf8")
    assert read_statuses(tmp_path, plan) == {}


def test_check_resume_refuses_every_setting_that_differs(tmp_path: Path) -> None:
    plan = _plan()
    files = [(f.name, f.size) for f in FILES]
    check_resume(tmp_path, plan, SETTINGS_VALUES, files)
    for key, option in SETTINGS.items():
        changed = {**SETTINGS_VALUES, key: "other"}
        with pytest.raises(BioNERInputError, match=r"\[E967\]") as err:
            check_resume(tmp_path, plan, changed, files)
        assert option in str(err.value) and "'other'" in str(err.value)


@pytest.mark.parametrize("files,what", [
    ([("a.jsonl", 100), ("b/c.jsonl", 7)], "'d.jsonl' is missing"),
    ([("a.jsonl", 100), ("b/c.jsonl", 7), ("d.jsonl", 30), ("e.jsonl", 1)], "'e.jsonl' is new"),
    ([("a.jsonl", 101), ("b/c.jsonl", 7), ("d.jsonl", 30)], "'a.jsonl' was 100 bytes, is 101"),
])
def test_check_resume_refuses_a_changed_input(tmp_path: Path, files: list[tuple[str, int]], what: str) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E968\]") as err:
        check_resume(tmp_path, _plan(), SETTINGS_VALUES, files)
    assert what in str(err.value)


def test_prepare_output_new_empty_and_interrupted_planning(tmp_path: Path) -> None:
    assert prepare_output(tmp_path / "new", resume=False, overwrite=False) is None
    assert prepare_output(tmp_path, resume=False, overwrite=False) is None
    (tmp_path / ".annotate").mkdir()  # killed while counting documents
    assert prepare_output(tmp_path, resume=False, overwrite=False) is None
    assert prepare_output(tmp_path, resume=True, overwrite=False) is None


def test_prepare_output_refuses_files_and_foreign_directories(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf8")
    with pytest.raises(BioNERInputError, match=r"\[E965\].*is a file"):
        prepare_output(tmp_path / "file", resume=False, overwrite=False)
    for flags in ({"resume": False, "overwrite": False}, {"resume": True, "overwrite": False},
                  {"resume": False, "overwrite": True}):
        with pytest.raises(BioNERInputError, match=r"\[E965\].*not empty"):
            prepare_output(tmp_path, **flags)
    assert (tmp_path / "file").exists()
    with pytest.raises(BioNERInputError, match=r"\[E970\]"):
        prepare_output(tmp_path / "new", resume=True, overwrite=True)


def test_prepare_output_with_a_run(tmp_path: Path) -> None:
    plan = _plan()
    write_plan(tmp_path, plan)
    (tmp_path / "a.jsonl").write_text("{}\n", encoding="utf8")
    with pytest.raises(BioNERInputError, match=r"\[E966\].*unfinished.*--resume.*--overwrite"):
        prepare_output(tmp_path, resume=False, overwrite=False)
    assert prepare_output(tmp_path, resume=True, overwrite=False) == plan
    assert prepare_output(tmp_path, resume=False, overwrite=True) is None
    assert list(tmp_path.iterdir()) == []


def test_build_manifest_counts_every_document(tmp_path: Path) -> None:
    plan = _plan()
    failure = Failure("a.jsonl:3", "x", "[E954] bad")
    results = {s.index: ShardResult(s, done=s.count, words=2, spans=1, seconds=0.25) for s in plan.shards}
    results[1] = ShardResult(plan.shards[1], done=1, failures=[failure], words=1, spans=0, seconds=0.25)
    manifest = build_manifest(plan, results, ["b.jsonl", "a.jsonl"], 2.0)
    assert manifest["counts"] == {"in": 7, "done": 6, "failed": 1, "spans": 3, "words": 7, "seconds": 1.0}
    assert manifest["failures"] == [failure.to_dict()]
    assert manifest["outputs"] == ["a.jsonl", "b.jsonl"]
    assert manifest["settings"] == SETTINGS_VALUES
    assert Shard.from_dict(plan.shards[1].to_dict()) == plan.shards[1]
