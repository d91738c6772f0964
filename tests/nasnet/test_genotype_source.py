"""genotype_source.resolve: published names, JSON files, search / training work dirs, zoo:NAME.

The zoo entries here are written by hand in the zoo's on-disk layout
(``nasnet.artifacts``); tests/model_zoo/test_registry.py resolves an entry that
``model_zoo.registry.Zoo.add`` made.
"""

import json
import os

import pytest

from nasnet import artifacts, genotype_source, known_genotypes
from nasnet.genotype import Block, Cell, Genotype, Op

TINY = Genotype(
    normal=Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.IDENTITY),
                        Block(2, Op.AVG_POOL_3X3, 0, Op.IDENTITY)), concat=(3,)),
    reduction=Cell(blocks=(Block(0, Op.SEP_CONV_3X3, 1, Op.MAX_POOL_3X3),
                           Block(2, Op.AVG_POOL_3X3, 0, Op.MAX_POOL_3X3)), concat=(3,)),
    name="tiny_test")


def _trial(path, reward, genotype, status="ok", trial_id=0):
    data = genotype.to_dict() if genotype is not None else None
    if data:
        del data["format_version"]       # trial records store Genotype.to_dict() minus nothing
    path.write_text(json.dumps({"format_version": 1, "id": trial_id, "status": status,
                                "reward": reward, "genotype": data}))


def _zoo_entry(zoo_dir, name, genotype=TINY, fingerprint="same"):
    """An entry as the zoo lays it out: genotype.json and a manifest recording its fingerprint."""
    entry = zoo_dir / name
    entry.mkdir(parents=True)
    if genotype is not None:
        genotype.save(str(entry / artifacts.GENOTYPE_FILE))
    recorded = TINY.fingerprint() if fingerprint == "same" else fingerprint
    (entry / artifacts.MANIFEST_FILE).write_text(json.dumps(
        {"format_version": 1, "name": name, "genotype_fingerprint": recorded}))
    return entry


def test_published_names():
    for name, genotype in known_genotypes.KNOWN.items():
        assert genotype_source.resolve(name) == genotype


def test_json_file(tmp_path):
    path = tmp_path / "cell.json"
    TINY.save(str(path))
    assert genotype_source.resolve(str(path)) == TINY


def test_search_workdir_report_wins(tmp_path):
    (tmp_path / "report").mkdir()
    TINY.save(str(tmp_path / "report" / "best_genotype.json"))
    (tmp_path / "best.json").write_text(json.dumps(
        {"top": [{"rank": 1, "reward": 0.9, "genotype": known_genotypes.NASNET_A.to_dict()}]}))
    (tmp_path / "trials").mkdir()
    _trial(tmp_path / "trials" / "000000.json", 0.9, known_genotypes.NASNET_A)
    assert genotype_source.resolve(str(tmp_path)) == TINY
    assert genotype_source.best_genotype_file(str(tmp_path)).endswith(
        os.path.join("report", "best_genotype.json"))


def test_running_search_uses_best_json(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps(
        {"top": [{"rank": 1, "reward": 0.9, "genotype": TINY.to_dict()},
                 {"rank": 2, "reward": 0.8, "genotype": known_genotypes.NASNET_A.to_dict()}]}))
    assert genotype_source.resolve(str(tmp_path)).fingerprint() == TINY.fingerprint()
    (tmp_path / "best.json").write_text(json.dumps({"top": []}))
    with pytest.raises(ValueError, match="holds no genotype"):
        genotype_source.resolve(str(tmp_path))
    (tmp_path / "best.json").write_text("[1]")
    with pytest.raises(ValueError, match="not a search's best.json"):
        genotype_source.resolve(str(tmp_path))
    (tmp_path / "best.json").write_text(json.dumps({"top": [{"genotype": "nasnet"}]}))
    with pytest.raises(ValueError, match="is not a JSON object"):
        genotype_source.resolve(str(tmp_path))


def test_search_workdir_without_report_uses_the_best_trial(tmp_path):
    (tmp_path / "trials").mkdir()
    _trial(tmp_path / "trials" / "000000.json", 0.5, known_genotypes.NASNET_A, trial_id=0)
    _trial(tmp_path / "trials" / "000001.json", 0.8, TINY, trial_id=1)
    _trial(tmp_path / "trials" / "000002.json", None, None, status="failed", trial_id=2)
    (tmp_path / "trials" / "000003.json").write_text("{torn")
    assert genotype_source.resolve(str(tmp_path)).fingerprint() == TINY.fingerprint()


def test_training_workdir_or_export_with_genotype_json(tmp_path):
    TINY.save(str(tmp_path / "genotype.json"))
    assert genotype_source.resolve(str(tmp_path)) == TINY


def test_zoo_entry_and_published_architecture(tmp_path):
    zoo_dir = tmp_path / "zoo"
    _zoo_entry(zoo_dir, "tiny")
    assert genotype_source.resolve("zoo:tiny", zoo_dir=str(zoo_dir)) == TINY
    assert genotype_source.resolve("zoo:pnasnet_5", zoo_dir=str(zoo_dir)) == \
        known_genotypes.PNASNET_5
    with pytest.raises(ValueError, match="no zoo entry 'nope'"):
        genotype_source.resolve("zoo:nope", zoo_dir=str(zoo_dir))


def test_zoo_entry_in_the_default_zoo(tmp_path, monkeypatch):
    _zoo_entry(tmp_path / "default_zoo", "tiny")
    monkeypatch.setenv(artifacts.ZOO_DIR_ENV, str(tmp_path / "default_zoo"))
    assert genotype_source.resolve("zoo:tiny") == TINY


def test_bad_zoo_entries_are_refused(tmp_path):
    zoo_dir = tmp_path / "zoo"
    with pytest.raises(ValueError, match="invalid zoo entry name '../escape'"):
        genotype_source.zoo_genotype("../escape", str(zoo_dir))
    _zoo_entry(zoo_dir, "other", fingerprint=known_genotypes.NASNET_A.fingerprint())
    with pytest.raises(ValueError, match="has fingerprint .* but the manifest records"):
        genotype_source.zoo_genotype("other", str(zoo_dir))
    _zoo_entry(zoo_dir, "baseline", genotype=None, fingerprint=None)
    with pytest.raises(ValueError, match="records no genotype fingerprint .*hand-designed"):
        genotype_source.zoo_genotype("baseline", str(zoo_dir))
    torn = _zoo_entry(zoo_dir, "torn")
    (torn / artifacts.MANIFEST_FILE).write_text("{torn")
    with pytest.raises(ValueError, match="not a readable zoo manifest"):
        genotype_source.zoo_genotype("torn", str(zoo_dir))
    broken = _zoo_entry(zoo_dir, "broken")
    (broken / artifacts.GENOTYPE_FILE).write_text("{}")
    with pytest.raises(ValueError, match="zoo entry 'broken': .*genotype.json"):
        genotype_source.zoo_genotype("broken", str(zoo_dir))
    linked = _zoo_entry(zoo_dir, "linked")
    TINY.save(str(tmp_path / "outside.json"))
    os.remove(linked / artifacts.GENOTYPE_FILE)
    os.symlink(tmp_path / "outside.json", linked / artifacts.GENOTYPE_FILE)
    with pytest.raises(ValueError, match="outside the entry directory"):
        genotype_source.zoo_genotype("linked", str(zoo_dir))


def test_unknown_source_lists_what_was_tried():
    with pytest.raises(ValueError) as e:
        genotype_source.resolve("nasnet_b")
    message = str(e.value)
    assert "'nasnet_b'" in message and "nasnet_a" in message
    assert "JSON file" in message and "work directory" in message and "zoo:NAME" in message
    with pytest.raises(ValueError, match="non-empty string"):
        genotype_source.resolve("  ")


def test_directory_without_a_genotype(tmp_path):
    with pytest.raises(ValueError, match="holds no genotype: looked for"):
        genotype_source.resolve(str(tmp_path))


def test_invalid_best_trial_genotype_is_reported(tmp_path):
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / "000000.json").write_text(json.dumps(
        {"status": "ok", "reward": 1.0, "genotype": {"normal": {}, "reduction": {}}}))
    with pytest.raises(ValueError, match="the best genotype is invalid"):
        genotype_source.resolve(str(tmp_path))


def test_invalid_json_file_is_reported(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="cell.json"):
        genotype_source.resolve(str(path))
