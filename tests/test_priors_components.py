"""The prior's clean-up: specks dropped, whichever labelling found the regions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgmatte.color.encoding import encode_for_network
from bgmatte.priors import gain_match, resample, segmentation
from bgmatte.priors.components import component_labels, opencv_labels, remove_specks
from conftest import read_exr

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"
LABELLINGS = {"opencv": opencv_labels, "torchscript": torch.jit.script(component_labels)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def regions(labels: torch.Tensor) -> set[frozenset[int]]:
    """The partition a labelling makes: the set of flat pixel indices of each label > 0."""
    flat = labels.reshape(-1)
    return {frozenset(torch.nonzero(flat == label).view(-1).tolist()) for label in flat.unique().tolist() if label > 0}


@pytest.mark.parametrize("labelling", LABELLINGS, ids=str)
def test_a_region_joined_only_at_a_corner_is_one_region(labelling):
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[1:3, 1:3] = True
    mask[3:5, 3:5] = True  # touches the first block at one corner only
    labels = LABELLINGS[labelling](mask)
    assert len(regions(labels)) == 1
    assert int(labels[0, 0]) == 0  # 0 outside the mask


@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.7])
def test_both_labellings_find_the_same_regions(density):
    mask = torch.from_numpy(np.random.default_rng(4).random((60, 80)) < density)
    assert regions(opencv_labels(mask)) == regions(LABELLINGS["torchscript"](mask))


@pytest.mark.parametrize("labelling", LABELLINGS, ids=str)
def test_specks_under_the_share_go_and_larger_regions_stay(labelling):
    subject = torch.zeros(40, 50, dtype=torch.bool)  # 2000 px: 1 % is 20 px
    subject[2:7, 2:7] = True  # 25 px: kept
    subject[20:24, 20:24] = True  # 16 px: dropped
    subject[30:33, 40:43] = True  # 9 px ...
    subject[33:36, 43:46] = True  # ... + 9 px joined at a corner: 18 px, dropped
    kept = remove_specks(subject, LABELLINGS[labelling](subject), 0.01)
    expected = torch.zeros_like(subject)
    expected[2:7, 2:7] = True
    assert torch.equal(kept, expected)


def test_the_scripted_prior_is_the_cores_prior_on_the_sample_shot():
    frame = read_exr(SHOT / "frame.1001.exr")[0][..., :3]
    plate, _, _ = gain_match.match_gain(frame, read_exr(SHOT / "clean.exr")[0][..., :3])
    size = resample.working_shape(frame.shape[0], frame.shape[1], 288)
    frame_enc, plate_enc = (encode_for_network(resample.resize_area(x, size)) for x in (frame, plate))
    expected = segmentation.soft_segmentation(frame_enc, plate_enc)
    scripted = torch.jit.script(segmentation.scripted_soft_segmentation)

    def nchw(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]

    assert expected.max() > 0.9  # the subject is found
    assert np.array_equal(scripted(nchw(frame_enc), nchw(plate_enc))[0, 0].numpy(), expected)
