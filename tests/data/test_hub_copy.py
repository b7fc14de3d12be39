"""``fetch ade --from-hub``: a scene_parse_150-shaped copy (built with ``datasets``) into ADEChallengeData2016."""

from __future__ import annotations

import datasets
import pytest
from data.fake_datasets import write_fake_dataset

from rns_bench.cli.data import main
from rns_bench.core.errors import InputError
from rns_bench.data.declared import spec_for_key
from rns_bench.data.hub_copy import materialise
from rns_bench.data.verify import verify_dataset

HUB_SPLITS = {"training": "train", "validation": "validation"}


def scene_parse_like(fake, with_paths: bool = True) -> datasets.DatasetDict:
    """The fake ADE's files in scene_parse_150's columns, rows in *reverse* order (names restore it)."""
    splits = {}
    for folder, hub_split in HUB_SPLITS.items():
        ids = list(reversed(fake.split_ids[folder]))

        def cell(path):
            return {"bytes": path.read_bytes(), "path": f"ADEChallengeData2016/x/{path.name}" if with_paths else None}

        rows = {
            "image": [cell(fake.image_paths[i]) for i in ids],
            "annotation": [cell(fake.label_paths[i]) for i in ids],
            "scene_category": [0] * len(ids),
        }
        features = datasets.Features(
            {
                "image": datasets.Image(),
                "annotation": datasets.Image(),
                "scene_category": datasets.ClassLabel(names=["airport_terminal"]),
            }
        )
        splits[hub_split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


def test_the_hub_copy_becomes_the_archives_layout_byte_for_byte(tmp_path, capsys):
    fake = write_fake_dataset("ade", tmp_path / "original")
    scene_parse_like(fake).save_to_disk(str(tmp_path / "hub_copy"))
    root, written = materialise("ade", tmp_path / "data", tmp_path / "hub_copy")
    assert written == 2 * len(fake.image_paths)
    reader = spec_for_key("ade", tmp_path / "data").make_reader(tmp_path / "data")
    for folder in HUB_SPLITS:
        assert reader.image_ids(folder) == fake.split_ids[folder]  # original names, original order
        for image_id in fake.split_ids[folder]:
            assert reader.image_path(image_id).read_bytes() == fake.image_paths[image_id].read_bytes()
            assert reader.label_path(image_id).read_bytes() == fake.label_paths[image_id].read_bytes()
    counts = {folder: len(ids) for folder, ids in fake.split_ids.items()}
    assert verify_dataset("ade", tmp_path / "data", expected_counts=counts, progress=False).ok
    assert materialise("ade", tmp_path / "data", tmp_path / "hub_copy")[1] == 0  # resumes: nothing rewritten
    # The command checks the real counts: a small copy is reported, not accepted.
    status = main(["fetch", "ade", "--hub-copy", str(tmp_path / "hub_copy"), "--data-root", str(tmp_path / "data")])
    assert status == 1 and "expected 20210" in capsys.readouterr().out


def test_a_copy_without_file_names_is_refused(tmp_path):
    fake = write_fake_dataset("ade", tmp_path / "original")
    scene_parse_like(fake, with_paths=False).save_to_disk(str(tmp_path / "hub_copy"))
    with pytest.raises(InputError, match=r"no file name, so the original image order"):
        materialise("ade", tmp_path / "data", tmp_path / "hub_copy")
    assert not list((tmp_path / "data").rglob("*.jpg"))


def test_only_known_copies(tmp_path):
    with pytest.raises(InputError, match=r"no Hugging Face Hub copy is known for 'voc'; known: ade"):
        materialise("voc", tmp_path)


def test_offline_the_advice_is_the_exact_load_call_and_the_hub_copy_flag(tmp_path, monkeypatch):
    """The advice names what runs (the parquet conversion, not the dead loading script) and --hub-copy."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    with pytest.raises(InputError) as raised:
        materialise("ade", tmp_path / "data")
    message = str(raised.value)
    assert (
        "load_dataset('scene_parse_150', 'scene_parsing', revision='refs/convert/parquet').save_to_disk(DIR)" in message
        and "--hub-copy DIR" in message
        and "\n" not in message
    )
