"""The engine cache trusts only complete files made for this machine, model and setting."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from vj.generators.base import GeneratorError
from vj.generators.diffusion.engine_cache import (EngineKey, atomic_path, atomic_write_bytes, check_trusted,
                                                  find_other_builds, remove_stale_temporaries, sidecar_path,
                                                  temporary_name, trusted, weights_fingerprint, write_sidecar)

KEY = EngineKey(model="stabilityai/sd-turbo", weights="abc123", gpu="NVIDIA H200", compute_capability="9.0",
                tensorrt="10.13.0", width=512, height=512, batch=1)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path):
    final = tmp_path / "unet.engine"
    atomic_write_bytes(final, b"old engine")

    class Killed(Exception):
        pass

    with pytest.raises(Killed):
        with atomic_path(final) as temporary:
            with open(temporary, "wb") as handle:
                handle.write(b"half a new eng")
            raise Killed()     # the compile dies mid-write
    assert final.read_bytes() == b"old engine"
    assert _leftovers(tmp_path) == []


def test_an_interrupted_first_write_leaves_nothing_a_later_run_trusts(tmp_path):
    final = tmp_path / "unet.engine"
    with pytest.raises(RuntimeError):
        with atomic_path(final) as temporary:
            temporary.write_bytes(b"partial")
            raise RuntimeError("killed")
    assert not final.exists() and _leftovers(tmp_path) == []
    with pytest.raises(GeneratorError, match="no TensorRT engine at .*vj compile"):
        check_trusted(final, KEY)


def test_a_full_disk_is_one_clear_error(tmp_path):
    final = tmp_path / "unet.engine"
    with pytest.raises(GeneratorError, match="out of disk space writing .*unet.engine.*--cache-dir"):
        with atomic_path(final) as temporary:
            temporary.write_bytes(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert not final.exists() and _leftovers(tmp_path) == []


def test_temporaries_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "folder" / f".unet.engine.tmp-{dead_pid}-deadbeef"
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    mine = temporary_name(tmp_path / "folder" / "vae.engine")
    mine.write_bytes(b"being written")
    assert remove_stale_temporaries(tmp_path) == [stale]
    assert mine.exists() and not stale.exists()


def test_the_key_changes_when_any_component_changes():
    digests = {KEY.digest()}
    for change in ({"model": "other/model"}, {"weights": "def456"}, {"gpu": "NVIDIA RTX 4090"},
                   {"compute_capability": "8.9"}, {"tensorrt": "11.4.0"}, {"width": 768}, {"height": 768},
                   {"batch": 2}, {"precision": "fp32"}, {"vae": "tiny"}, {"lora": "some/lora"},
                   {"lora_scale": 0.5}):
        digests.add(replace(KEY, **change).digest())
    assert len(digests) == 13
    assert KEY.folder_name().startswith("stabilityai-sd-turbo--1x512x512--fp16--")


def test_differences_name_the_machine_first():
    recorded = replace(KEY, gpu="NVIDIA RTX 4090", tensorrt="10.0.1", width=768).as_dict()
    differences = KEY.differences(recorded)
    assert differences[0].startswith("gpu 'NVIDIA RTX 4090'") and differences[1].startswith("tensorrt '10.0.1'")
    assert any(d.startswith("width 768") for d in differences)


def test_an_engine_is_trusted_only_with_a_matching_complete_sidecar(tmp_path):
    engine = atomic_write_bytes(tmp_path / "unet.engine", b"engine bytes")
    with pytest.raises(GeneratorError, match="sidecar .*interrupted"):
        check_trusted(engine, KEY)             # killed between the engine and its sidecar
    write_sidecar(engine, KEY)
    check_trusted(engine, KEY)
    assert trusted(engine, KEY)
    with pytest.raises(GeneratorError, match="built for gpu 'NVIDIA H200'.*RTX 4090.*vj compile"):
        check_trusted(engine, replace(KEY, gpu="NVIDIA RTX 4090"))
    with pytest.raises(GeneratorError, match="tensorrt '10.13.0'"):
        check_trusted(engine, replace(KEY, tensorrt="11.4.0"))
    engine.write_bytes(b"engine by")          # truncated (a copy that stopped)
    with pytest.raises(GeneratorError, match="truncated"):
        check_trusted(engine, KEY)
    assert not trusted(engine, KEY)
    sidecar_path(engine).write_text("{not json")
    assert not trusted(engine, KEY)


def test_engines_for_another_gpu_are_found_by_model_and_size(tmp_path):
    other = replace(KEY, gpu="NVIDIA RTX 4090", compute_capability="8.9")
    folder = tmp_path / other.folder_name()
    engine = atomic_write_bytes(folder / "unet.engine", b"e")
    write_sidecar(engine, other)
    found = find_other_builds(tmp_path, KEY)
    assert [f["gpu"] for f in found] == ["NVIDIA RTX 4090"]
    assert find_other_builds(tmp_path, replace(KEY, width=768)) == []


def test_the_weight_fingerprint_follows_content_not_names(tiny_model, tmp_path):
    model = shutil.copytree(tiny_model, tmp_path / "model")
    before = weights_fingerprint(model)
    assert weights_fingerprint(model) == before
    copied = shutil.copytree(model, tmp_path / "copy")     # a plain copy (new mtimes) is the same model
    assert weights_fingerprint(copied) == before
    weights = sorted(model.rglob("unet/*.safetensors"))[0]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF                                         # a fine-tune: same size, same header
    weights.write_bytes(bytes(data))
    assert weights_fingerprint(model) != before
    config = json.loads((copied / "unet" / "config.json").read_text())
    config["sample_size"] = int(config.get("sample_size", 8)) + 1
    (copied / "unet" / "config.json").write_text(json.dumps(config))
    assert weights_fingerprint(copied) not in (before, weights_fingerprint(model))


def test_a_snapshot_revision_is_part_of_the_fingerprint(tiny_model, tmp_path):
    one = shutil.copytree(tiny_model, tmp_path / "snapshots" / "1111")
    two = shutil.copytree(tiny_model, tmp_path / "snapshots" / "2222")
    assert weights_fingerprint(one) != weights_fingerprint(two)
    assert os.path.basename(one) == "1111"
