"""The zoo registry and binary: manifests, checksums, refusals, published architectures.

No TensorFlow here: exports are placeholders (tests/transfer/test_end_to_end.py
verifies and classifies with a real SavedModel).
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_helpers  # noqa: E402
from model_zoo import registry  # noqa: E402
from nasnet import genotype_source, known_genotypes  # noqa: E402


@pytest.fixture
def zoo(tmp_path):
    zoo = registry.Zoo(str(tmp_path / "zoo"))
    zoo.add(zoo_helpers.fake_export(tmp_path / "export"), "digits_a", source_run="/runs/a")
    return zoo


def _entry(zoo, *parts):
    return os.path.join(zoo.entry_dir("digits_a"), *parts)


def _rewrite_manifest(zoo, edit):
    path = _entry(zoo, "manifest.json")
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, "w") as f:
        json.dump(data, f)


def test_add_records_checksums_and_facts(zoo, tmp_path):
    m = zoo.manifest("digits_a")
    assert m.name == "digits_a" and m.task == "classification" and m.architecture == "nasnet_a"
    assert m.genotype_fingerprint == known_genotypes.NASNET_A.fingerprint()
    assert m.input_size == (16, 16, 3) and m.num_classes == 10
    assert (m.parameters, m.mult_adds) == (1234, 5678)
    assert m.metrics == {"top1": 0.5, "top5": 0.9} and m.source_run == "/runs/a"
    assert m.signatures == ("serving_bytes", "serving_images") and m.created_at
    paths = [f.path for f in m.files]
    assert paths == sorted(paths) and "saved_model/saved_model.pb" in paths
    assert "manifest.json" not in paths
    record = next(f for f in m.files if f.path == "genotype.json")
    assert record.sha256 == registry.sha256_file(_entry(zoo, "genotype.json"))
    assert os.path.isdir(tmp_path / "export")            # add copies
    assert zoo.check_files("digits_a").ok
    assert not [n for n in os.listdir(zoo.root) if n.startswith(".")]   # no temp dirs left


def test_a_modified_file_is_a_checksum_mismatch(zoo):
    with open(_entry(zoo, "saved_model", "saved_model.pb"), "ab") as f:
        f.write(b"tampered")
    report = zoo.verify("digits_a")
    assert not report.ok
    assert any("checksum mismatch for 'saved_model/saved_model.pb'" in p for p in report.problems)
    assert "FAILED digits_a" in report.summary()
    with pytest.raises(registry.ZooError, match="checksum mismatch"):
        zoo.load("digits_a")


def test_a_missing_file_is_named(zoo):
    os.remove(_entry(zoo, "saved_model", "variables", "variables.index"))
    report = zoo.verify("digits_a")
    assert report.problems == [
        "missing file 'saved_model/variables/variables.index' (listed in the manifest)"]


def test_an_unlisted_file_is_reported(zoo):
    with open(_entry(zoo, "saved_model", "extra.pb"), "wb") as f:
        f.write(b"x")
    assert zoo.check_files("digits_a").problems == [
        "unlisted file 'saved_model/extra.pb' (not in the manifest)"]


@pytest.mark.parametrize("path, message", [
    ("../../etc/passwd", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("saved_model/../../x", "contains '..'"),
    ("./genotype.json", "not normalised"),
])
def test_a_manifest_path_that_escapes_the_entry_is_refused(zoo, path, message):
    _rewrite_manifest(zoo, lambda d: d["files"].append(
        {"path": path, "sha256": "0" * 64, "size": 1}))
    with pytest.raises(registry.ZooError, match=message):
        zoo.manifest("digits_a")
    report = zoo.verify("digits_a")
    assert len(report.problems) == 1
    assert "escapes the entry directory" in report.problems[0] or "not normalised" in \
        report.problems[0]


def test_a_symbolic_link_out_of_the_entry_is_refused(zoo, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    target = _entry(zoo, "genotype.json")
    os.remove(target)
    os.symlink(outside, target)
    report = zoo.verify("digits_a")
    assert any("outside the entry directory" in p for p in report.problems)
    with pytest.raises(registry.ZooError, match="outside the entry directory"):
        zoo.genotype("digits_a")


def test_bad_manifests_are_refused(zoo):
    _rewrite_manifest(zoo, lambda d: d.update(format_version=7))
    with pytest.raises(registry.ZooError, match="unsupported manifest format_version 7"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: d.update(format_version=1, colour="blue"))
    with pytest.raises(registry.ZooError, match=r"unknown key\(s\) \['colour'\]"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: (d.pop("colour"), d.pop("task")))
    with pytest.raises(registry.ZooError, match=r"missing key\(s\) \['task'\]"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: d.update(task="classification",
                                              files=[{"path": "a", "sha256": "xyz", "size": 1}]))
    with pytest.raises(registry.ZooError, match="64 lowercase hex"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: d.update(files=[{"path": "a"}]))
    with pytest.raises(registry.ZooError, match="list of {path, sha256, size}"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: d.update(files=[
        {"path": "a", "sha256": "0" * 64, "size": 1}] * 2))
    with pytest.raises(registry.ZooError, match="lists a file twice"):
        zoo.manifest("digits_a")
    _rewrite_manifest(zoo, lambda d: d.update(files=[], input_size=[0, 16, 3]))
    with pytest.raises(registry.ZooError, match="input_size must be positive"):
        zoo.manifest("digits_a")
    with open(_entry(zoo, "manifest.json"), "w") as f:
        f.write("{torn")
    with pytest.raises(registry.ZooError, match="not valid JSON"):
        zoo.manifest("digits_a")


def test_genotype_fingerprint_must_match_the_manifest(zoo):
    known_genotypes.PNASNET_5.save(_entry(zoo, "genotype.json"))
    with pytest.raises(registry.ZooError, match="but the manifest records"):
        zoo.genotype("digits_a")


def test_add_refusals(zoo, tmp_path):
    export = zoo_helpers.fake_export(tmp_path / "export2")
    with pytest.raises(registry.ZooError, match="already exists"):
        zoo.add(export, "digits_a")
    with pytest.raises(registry.ZooError, match="published architecture"):
        zoo.add(export, "nasnet_a")
    with pytest.raises(registry.ZooError, match="invalid zoo entry name"):
        zoo.add(export, "../escape")
    with pytest.raises(registry.ZooError, match="does not exist"):
        zoo.add(str(tmp_path / "nowhere"), "b")
    with pytest.raises(registry.ZooError, match="has no export_info.json"):
        zoo.add(str(tmp_path), "b")
    os.remove(os.path.join(export, "saved_model", "saved_model.pb"))
    with pytest.raises(registry.ZooError, match="lacks saved_model/saved_model.pb"):
        zoo.add(export, "b")
    linked = zoo_helpers.fake_export(tmp_path / "export3")
    os.symlink("/etc/hostname", os.path.join(linked, "saved_model", "link"))
    with pytest.raises(registry.ZooError, match="symbolic link"):
        zoo.add(linked, "b")
    mismatched = zoo_helpers.fake_export(tmp_path / "export4")
    known_genotypes.AMOEBANET_A.save(os.path.join(mismatched, "genotype.json"))
    with pytest.raises(registry.ZooError, match="records fingerprint"):
        zoo.add(mismatched, "b")
    assert zoo.names() == ["digits_a"]


def test_overwrite_and_move(zoo, tmp_path):
    export = zoo_helpers.fake_export(tmp_path / "export2", known_genotypes.PNASNET_5)
    zoo.add(export, "digits_a", overwrite=True, move=True)
    assert zoo.manifest("digits_a").architecture == "pnasnet_5"
    assert not os.path.exists(export)


def test_list_show_and_published_architectures(zoo):
    rows = zoo.list()
    assert [r["name"] for r in rows] == ["digits_a", "amoebanet_a", "nasnet_a", "pnasnet_5"]
    assert rows[0]["weights"] and not any(r["weights"] for r in rows[1:])
    shown = zoo.show("nasnet_a")
    assert shown["kind"] == "architecture" and shown["weights"] is False
    assert shown["genotype_fingerprint"] == known_genotypes.NASNET_A.fingerprint()
    assert "Zoph et al. 2018" in shown["source"]
    assert zoo.show("digits_a")["files"]
    assert zoo.genotype("pnasnet_5") == known_genotypes.PNASNET_5
    with pytest.raises(registry.NoWeightsError, match="published architecture without weights"):
        zoo.load("nasnet_a")
    with pytest.raises(registry.ZooError, match="no zoo entry 'nope'.*entries: \\['digits_a'\\]"):
        zoo.show("nope")
    assert registry.Zoo(str(zoo.root) + "_empty").names() == []


def test_remove(zoo):
    zoo.remove("digits_a")
    assert zoo.names() == [] and not os.listdir(zoo.root)
    with pytest.raises(registry.ZooError, match="no zoo entry"):
        zoo.remove("digits_a")
    with pytest.raises(registry.ZooError, match="nothing to remove"):
        zoo.remove("nasnet_a")


def test_default_zoo_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NASNET_ZOO_DIR", str(tmp_path / "z"))
    assert registry.Zoo().root == str(tmp_path / "z")
    monkeypatch.delenv("NASNET_ZOO_DIR")
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(tmp_path))
    assert registry.Zoo().root == str(tmp_path / "out" / "zoo")


def test_add_refuses_a_malformed_export_info(zoo, tmp_path):
    export = zoo_helpers.fake_export(tmp_path / "export2")
    info_path = os.path.join(export, "export_info.json")
    with open(info_path) as f:
        info = json.load(f)
    info["num_classes"] = True
    with open(info_path, "w") as f:
        json.dump(info, f)
    with pytest.raises(registry.ZooError, match=r"export_info.json: export_info field "
                                                r"'num_classes' must be an integer >= 1"):
        zoo.add(export, "b")
    del info["num_classes"]
    with open(info_path, "w") as f:
        json.dump({**info, "colour": "blue"}, f)
    with pytest.raises(registry.ZooError, match=r"unknown field\(s\) \['colour'\]"):
        zoo.add(export, "b")
    torn = zoo_helpers.fake_export(tmp_path / "export3")
    with open(os.path.join(torn, "genotype.json"), "w") as f:
        f.write("{}")
    with pytest.raises(registry.ZooError, match=r"genotype.json: genotype is missing key"):
        zoo.add(torn, "b")
    assert zoo.names() == ["digits_a"]


def test_a_hand_designed_network_has_no_genotype(zoo, tmp_path):
    zoo.add(zoo_helpers.fake_export(tmp_path / "baseline", genotype=None), "resnet_baseline")
    manifest = zoo.manifest("resnet_baseline")
    assert manifest.genotype_fingerprint is None and manifest.architecture == "hand_designed"
    assert "genotype.json" not in [f.path for f in manifest.files]
    assert zoo.check_files("resnet_baseline").ok
    row = next(r for r in zoo.list() if r["name"] == "resnet_baseline")
    assert row["genotype_fingerprint"] is None
    with pytest.raises(registry.ZooError, match="hand-designed"):
        zoo.genotype("resnet_baseline")
    loaded = registry.LoadedModel(manifest=manifest, saved_model=None,
                                  genotype_path=_entry(zoo, "genotype.json"))
    with pytest.raises(registry.ZooError, match="is a hand-designed network"):
        loaded.genotype  # noqa: B018
    stray = zoo_helpers.fake_export(tmp_path / "stray", genotype=None)
    known_genotypes.NASNET_A.save(os.path.join(stray, "genotype.json"))
    with pytest.raises(registry.ZooError, match="records no genotype fingerprint .* but the "
                                                "export has genotype.json"):
        zoo.add(stray, "stray")
    missing = zoo_helpers.fake_export(tmp_path / "missing")
    os.remove(os.path.join(missing, "genotype.json"))
    with pytest.raises(registry.ZooError, match="lacks genotype.json"):
        zoo.add(missing, "missing")
    listing = zoo_helpers.run_zoo(["list"], zoo.root)
    assert listing.returncode == 0 and "resnet_baseline" in listing.stdout, listing.stderr


def test_a_failed_add_leaves_the_old_entry_and_no_temporary_directory(zoo, tmp_path,
                                                                       monkeypatch):
    before = zoo.manifest("digits_a")
    export = zoo_helpers.fake_export(tmp_path / "export2", known_genotypes.PNASNET_5)

    def broken_hash(path, chunk=0):
        raise OSError("disk error while hashing")

    monkeypatch.setattr(registry, "sha256_file", broken_hash)
    with pytest.raises(OSError, match="disk error"):
        zoo.add(export, "digits_a", overwrite=True)
    monkeypatch.undo()
    assert zoo.manifest("digits_a") == before and zoo.check_files("digits_a").ok
    assert not [n for n in os.listdir(zoo.root) if n.startswith(".")]
    assert os.path.isdir(export)


def test_zoo_entries_resolve_as_genotype_sources(zoo, tmp_path):
    """``zoo:NAME`` (nasnet.genotype_source, below the zoo) reads an entry Zoo.add made."""
    assert genotype_source.resolve("zoo:digits_a", zoo_dir=zoo.root) == \
        known_genotypes.NASNET_A == zoo.genotype("digits_a")
    assert genotype_source.resolve(zoo.entry_dir("digits_a")) == known_genotypes.NASNET_A


# -- the binary ----------------------------------------------------------------

def test_zoo_verify_exits_non_zero_with_a_clear_message(zoo):
    ok = zoo_helpers.run_zoo(["verify", "digits_a", "--nopredict"], zoo.root)
    assert ok.returncode == 0 and "OK digits_a" in ok.stdout, ok.stderr
    with open(_entry(zoo, "metrics.json"), "a") as f:
        f.write(" ")
    os.remove(_entry(zoo, "saved_model", "variables", "variables.index"))
    bad = zoo_helpers.run_zoo(["verify", "digits_a"], zoo.root)
    assert bad.returncode == 1
    assert "checksum mismatch for 'metrics.json'" in bad.stderr
    assert "missing file 'saved_model/variables/variables.index'" in bad.stderr


def test_zoo_binary_refuses_an_escaping_manifest(zoo):
    _rewrite_manifest(zoo, lambda d: d["files"].append(
        {"path": "../other/manifest.json", "sha256": "0" * 64, "size": 1}))
    # verify finds a damaged entry (exit 1); show cannot read it (bad input, exit 2).
    proc = zoo_helpers.run_zoo(["verify", "digits_a"], zoo.root)
    assert proc.returncode == 1 and "escapes the entry directory" in proc.stderr
    proc = zoo_helpers.run_zoo(["show", "digits_a"], zoo.root)
    assert proc.returncode == 2 and "escapes the entry directory" in proc.stderr


def test_zoo_binary_list_show_remove_and_usage(zoo, tmp_path):
    listing = zoo_helpers.run_zoo(["list"], zoo.root)
    assert listing.returncode == 0
    assert "digits_a" in listing.stdout and "nasnet_a" in listing.stdout
    shown = zoo_helpers.run_zoo(["show", "pnasnet_5"], zoo.root)
    assert shown.returncode == 0 and json.loads(shown.stdout)["kind"] == "architecture"
    added = zoo_helpers.run_zoo(["add", "second", f"--export_dir={tmp_path / 'export'}"],
                                zoo.root)
    assert added.returncode == 0 and "added second" in added.stdout, added.stderr
    assert zoo_helpers.run_zoo(["verify", "--all", "--nopredict"], zoo.root).returncode == 0
    removed = zoo_helpers.run_zoo(["remove", "second"], zoo.root)
    assert removed.returncode == 0 and zoo.names() == ["digits_a"]
    for args, message in ((["frobnicate"], "expected a command"),
                          (["show"], "'show' takes 1 argument"),
                          (["add", "x"], "needs --export_dir"),
                          (["export", "x"], "exactly one of --workdir")):
        proc = zoo_helpers.run_zoo(args, zoo.root)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    proc = zoo_helpers.run_zoo(["remove", "ghost"], zoo.root)
    assert proc.returncode == 2 and "no zoo entry 'ghost'" in proc.stderr
    proc = zoo_helpers.run_zoo(["verify", "ghost"], zoo.root)
    assert proc.returncode == 2 and "no zoo entry 'ghost'" in proc.stderr
