"""Fetch the datasets a library can download from a public source (protocol §1).

torchvision downloads, checks (md5) and extracts the PASCAL VOC trainval archives into exactly
the layout our readers use (``VOCdevkit/VOC2012`` for voc / voc20, ``VOCdevkit/VOC2010`` for the
images of context / context59). The other datasets need a registration or a licence click
(COCO-Stuff labels, Cityscapes, ADE20K), so their errors name the page to get them from.
Offline (``HF_HUB_OFFLINE=1`` or ``RNS_OFFLINE=1``, as tests and CI set) a fetch fails at once
instead of waiting on the network.
"""

from __future__ import annotations

import os
from pathlib import Path

from rns_bench.core.errors import InputError, UnknownNameError

# dataset key → torchvision VOC year whose trainval archive holds its images (and VOC's labels)
VOC_YEARS = {"voc": "2012", "voc20": "2012", "context": "2010", "context59": "2010"}
# The archives torchvision downloads (named here so an offline failure needs no torchvision import).
VOC_ARCHIVES = {
    "2012": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    "2010": "https://thor.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar",
}
MANUAL_SOURCES = {
    "coco_stuff": "http://calvin.inf.ed.ac.uk/wp-content/uploads/data/cocostuffdataset/stuffthingmaps_trainval2017.zip"
    " and the COCO 2017 images from https://cocodataset.org/#download",
    "coco_object": "the COCO-Stuff files (see coco_stuff), then `python -m rns_bench.data prepare coco_object`",
    "cityscapes": "https://www.cityscapes-dataset.com/downloads/ (leftImg8bit_trainvaltest.zip and "
    "gtFine_trainvaltest.zip; registration required)",
    "ade": "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
}
OFFLINE_ENV = ("RNS_OFFLINE", "HF_HUB_OFFLINE")


def fetch(key: str, data_root: Path) -> Path:
    """Download and extract dataset ``key`` under ``data_root``; returns the dataset folder."""
    if key not in VOC_YEARS:
        if key in MANUAL_SOURCES:
            raise InputError(
                f"{key!r} cannot be fetched automatically; download {MANUAL_SOURCES[key]} "
                f"and extract it under {data_root}"
            )
        raise UnknownNameError("fetchable dataset", key, sorted(VOC_YEARS))
    year = VOC_YEARS[key]
    url = VOC_ARCHIVES[year]
    offline = [name for name in OFFLINE_ENV if os.environ.get(name) == "1"]
    if offline:
        raise InputError(
            f"offline ({offline[0]}=1): cannot download {url}. Download it by hand and "
            f"extract it under {data_root}, or unset {offline[0]} to fetch {key!r}"
        )
    from torchvision.datasets.voc import DATASET_YEAR_DICT, VOCSegmentation

    data_root.mkdir(parents=True, exist_ok=True)
    try:
        VOCSegmentation(str(data_root), year=year, image_set="trainval", download=True)
    except (OSError, RuntimeError) as error:  # URLError is an OSError; md5 mismatch is a RuntimeError
        raise InputError(
            f"fetching {url} failed ({error}); download it by hand and extract it under {data_root}"
        ) from None
    return data_root / DATASET_YEAR_DICT[year]["base_dir"]
