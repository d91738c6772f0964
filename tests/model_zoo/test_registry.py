"""The zoo registry and binary: manifests, checksums, refusals, published architectures.

No TensorFlow here: exports are placeholders (tests/transfer/test_end_to_end.py
verifies and classifies with a real SavedModel).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo_helpers  # noqa: E402
from model_zoo import registry  # noqa: E402
from nasnet import genotype_source, known_genotypes, published  # noqa: E402


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
    assert shown["design"] == "cell" and shown["skeleton"] == "nasnet"
    mobile = shown["published_models"]["nasnet_a_mobile"]
    assert mobile["parameters"] == {"value": 5_326_716.0, "confidence": "code",
                                    "source": published.get("nasnet_a_mobile").parameters.source}
    assert mobile["ours"] == {"parameters": 5_326_716, "mult_adds": 563_638_816}
    pnasnet = zoo.show("pnasnet_5")
    assert pnasnet["skeleton"] == "pnasnet"
    assert set(pnasnet["published_models"]) == {"pnasnet_5_mobile", "pnasnet_5_large"}
    assert pnasnet["published_models"]["pnasnet_5_mobile"]["mult_adds"]["confidence"] == (
        "unverified")
    assert zoo.show("digits_a")["files"] and zoo.show("digits_a")["design"] == "cell"
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
    assert manifest.design == "hand-designed"
    with open(os.path.join(zoo.entry_dir("resnet_baseline"), "manifest.json"),
              encoding="utf-8") as f:
        assert json.load(f)["design"] == "hand-designed"       # the file says so
    assert "genotype.json" not in [f.path for f in manifest.files]
    assert zoo.check_files("resnet_baseline").ok
    row = next(r for r in zoo.list() if r["name"] == "resnet_baseline")
    assert row["genotype_fingerprint"] is None and row["design"] == "hand-designed"
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


# -- paths users give: a file as an export, a linked entry, leftovers, URLs ---------------

def test_an_export_dir_that_is_a_file_is_named_as_such(zoo, tmp_path):
    a_file = tmp_path / "export.tar"
    a_file.write_bytes(b"not a directory")
    with pytest.raises(registry.ZooError, match=r"export directory '.*export.tar' is a file, "
                                                r"not a directory"):
        zoo.add(str(a_file), "b")
    proc = zoo_helpers.run_zoo(["add", "b", f"--export_dir={a_file}"], zoo.root)
    assert proc.returncode == 2 and "is a file, not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_removing_an_entry_that_is_a_symbolic_link_is_refused(zoo, tmp_path):
    os.symlink(zoo.entry_dir("digits_a"), os.path.join(zoo.root, "alias"))
    assert zoo.names() == ["alias", "digits_a"]
    with pytest.raises(registry.ZooError, match=r"zoo entry 'alias' is a symbolic link to "
                                                r"'.*digits_a': the zoo removes only entries "
                                                r"it holds"):
        zoo.remove("alias")
    proc = zoo_helpers.run_zoo(["remove", "alias"], zoo.root)
    assert proc.returncode == 2 and "is a symbolic link" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert zoo.names() == ["alias", "digits_a"]                 # nothing hidden or lost
    assert sorted(os.listdir(zoo.root)) == ["alias", "digits_a"]
    assert zoo.check_files("digits_a").ok


def test_a_killed_add_leaves_a_temporary_that_the_next_add_removes(zoo, tmp_path):
    export = zoo_helpers.fake_export(tmp_path / "export2")
    code = ("import os, signal, sys\nfrom model_zoo import registry\n"
            "registry.sha256_file = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            "registry.Zoo(sys.argv[1]).add(sys.argv[2], 'killed')\n")
    env = {**os.environ, "PYTHONPATH": zoo_helpers.REPO}
    killed = subprocess.run([sys.executable, "-c", code, zoo.root, export], env=env,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = [n for n in os.listdir(zoo.root) if n.startswith(".")]
    assert len(left) == 1 and left[0].startswith(".killed.tmp-")
    time.sleep(0.2)       # a process start is known to 10 ms ticks: the next run comes later
    added = zoo_helpers.run_zoo(["add", "second", f"--export_dir={export}"], zoo.root)
    assert added.returncode == 0, added.stderr
    assert sorted(os.listdir(zoo.root)) == ["digits_a", "second"]


@pytest.mark.parametrize("field, value, message", [
    ("format_version", True, "unsupported manifest format_version True"),
    ("num_classes", True, "manifest field 'num_classes' must be an integer or null, got true"),
    ("parameters", False, "field 'parameters' must be an integer or null, got false"),
    ("input_size", [16, True, 3], r"field 'input_size\[1\]' must be an integer, got true"),
    ("files", [{"path": "a", "sha256": "0" * 64, "size": True}],
     r"field 'files\[0\].size' must be an integer, got true"),
    ("signatures", [1], r"field 'signatures\[0\]' must be a string, got 1"),
    ("size", 3, "field 'size' must be a string or null, got 3"),
    ("metrics", [], "field 'metrics' must be an object, got"),
])
def test_manifest_types_are_strict(zoo, field, value, message):
    _rewrite_manifest(zoo, lambda d: d.update({field: value}))
    with pytest.raises(registry.ZooError, match=message):
        zoo.manifest("digits_a")


def test_manifest_design_follows_the_fingerprint():
    good = dict(name="n", task="classification", architecture="a", genotype_fingerprint=None,
                input_size=(8, 8, 3), files=(), created_at="now")
    assert registry.Manifest(**good).design == "hand-designed"       # filled in when absent
    cell = {**good, "genotype_fingerprint": "0123456789abcdef"}
    assert registry.Manifest(**cell).design == "cell"
    as_json = json.loads(json.dumps(registry.Manifest(**cell).to_dict()))
    assert as_json["design"] == "cell" and registry.Manifest.from_dict(as_json).design == "cell"
    with pytest.raises(registry.ZooError, match="manifest design must be one of "
                                                r"\['cell', 'hand-designed'\], got 'searched'"):
        registry.Manifest(**{**good, "design": "searched"})
    with pytest.raises(registry.ZooError, match="design 'cell' contradicts its genotype "
                                                "fingerprint None"):
        registry.Manifest(**{**good, "design": "cell"})


def test_manifest_construction_checks_types_too():
    good = dict(name="n", task="classification", architecture="a", genotype_fingerprint=None,
                input_size=(8, 8, 3), files=(), created_at="now")
    registry.Manifest(**good)
    for field, value, message in (("input_size", (8, True, 3), "input_size must be positive"),
                                  ("num_classes", True, "num_classes must be a non-negative"),
                                  ("source_run", 1, "source_run must be a string or null"),
                                  ("signatures", (1,), "signatures must be names")):
        with pytest.raises(registry.ZooError, match=message):
            registry.Manifest(**{**good, field: value})


def test_a_zoo_at_a_url_works_through_gfile(tmp_path):
    """file:// runs the tf.io.gfile code path a gs:// zoo takes, on the local disk."""
    url = f"file://{tmp_path}/zoo"
    zoo = registry.Zoo(url)
    assert zoo.root == url                                      # not <cwd>/file:/...
    zoo.add(zoo_helpers.fake_export(tmp_path / "export"), "digits_a")
    assert zoo.names() == ["digits_a"] and zoo.entry_dir("digits_a") == f"{url}/digits_a"
    assert zoo.check_files("digits_a").ok
    assert zoo.genotype("digits_a") == known_genotypes.NASNET_A
    assert [r["name"] for r in zoo.list()][0] == "digits_a"
    local = registry.Zoo(str(tmp_path / "zoo"))
    assert local.manifest("digits_a") == zoo.manifest("digits_a")
    with open(os.path.join(local.entry_dir("digits_a"), "metrics.json"), "a") as f:
        f.write(" ")
    assert any("checksum mismatch for 'metrics.json'" in p
               for p in zoo.check_files("digits_a").problems)
    zoo.remove("digits_a")
    assert zoo.names() == [] and os.listdir(tmp_path / "zoo") == []


def test_classifying_a_file_that_is_not_an_image_names_it(zoo, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    loaded = registry.LoadedModel(manifest=zoo.manifest("digits_a"), saved_model=None,
                                  genotype_path=_entry(zoo, "genotype.json"))
    with pytest.raises(registry.ZooError, match=r"'.*notes.txt' is not a decodable image "
                                                r"\(JPEG, PNG, GIF or BMP; 12 bytes starting "
                                                r"b'not an i'\)"):
        loaded.classify_files([str(text)])
    with pytest.raises(registry.ZooError, match=r"cannot read image '.*missing.png'"):
        loaded.classify_files([str(tmp_path / "missing.png")])


def test_a_failed_removal_is_a_zoo_error_and_leaves_the_entry(zoo, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(registry.fs, "rename", refuse)
    with pytest.raises(registry.ZooError, match="cannot remove zoo entry 'digits_a' from .*: "
                                                "Permission denied"):
        zoo.remove("digits_a")
    monkeypatch.undo()
    assert zoo.names() == ["digits_a"] and zoo.check_files("digits_a").ok


def test_a_model_that_fails_on_decodable_images_is_one_line(zoo, tmp_path):
    import tensorflow as tf

    def serving_bytes(images):
        raise tf.errors.InvalidArgumentError(None, None, "Graph execution error:\n\nboom")

    class Broken:
        signatures = {"serving_bytes": serving_bytes}

    png = tmp_path / "grey.png"
    png.write_bytes(tf.io.encode_png(tf.fill([4, 4, 3], tf.constant(128, tf.uint8))).numpy())
    loaded = registry.LoadedModel(manifest=zoo.manifest("digits_a"), saved_model=Broken(),
                                  genotype_path=_entry(zoo, "genotype.json"))
    with pytest.raises(registry.ZooError, match=r"^cannot classify \[.*grey.png'\]: boom$"):
        loaded.classify_files([str(png)])
