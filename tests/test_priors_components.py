"""The prior's clean-up: specks dropped, enclosed holes filled, whichever labelling found the regions."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bgmatte.color.encoding import encode_for_network
from bgmatte.priors import gain_match, resample, segmentation
from bgmatte.priors.components import component_labels, fill_holes, opencv_labels, remove_specks
from conftest import read_exr

SHOT = Path(__file__).resolve().parents[1] / "samples" / "shot"
LABELLINGS = {"opencv": opencv_labels, "torchscript": torch.jit.script(component_labels)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def regions(labels: torch.Tensor) -> set[frozenset[int]]:
    """The partition a labelling makes: the set of flat pixel indices of each label > 0."""
    flat = labels.reshape(-1)
    return {frozenset(torch.nonzero(flat == label).view(-1).tolist()) for label in flat.unique().tolist() if label > 0}


@pytest.mark.parametrize("labelling", LABELLINGS, ids=str)
def test_a_region_joined_only_at_a_corner_is_one_region_with_diagonals_and_two_without(labelling):
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[1:3, 1:3] = True
    mask[3:5, 3:5] = True  # touches the first block at one corner only
    label = LABELLINGS[labelling]
    assert len(regions(label(mask, True))) == 1
    assert len(regions(label(mask, False))) == 2
    assert int(label(mask, True)[0, 0]) == 0  # 0 outside the mask


@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("diagonal", [True, False])
def test_both_labellings_find_the_same_regions(density, diagonal):
    mask = torch.from_numpy(np.random.default_rng(4).random((60, 80)) < density)
    assert regions(opencv_labels(mask, diagonal)) == regions(LABELLINGS["torchscript"](mask, diagonal))


@pytest.mark.parametrize("labelling", LABELLINGS, ids=str)
def test_specks_under_the_share_go_and_larger_regions_stay(labelling):
    subject = torch.zeros(40, 50, dtype=torch.bool)  # 2000 px: 1 % is 20 px
    subject[2:7, 2:7] = True  # 25 px: kept
    subject[20:24, 20:24] = True  # 16 px: dropped
    subject[30:33, 40:43] = True  # 9 px ...
    subject[33:36, 43:46] = True  # ... + 9 px joined at a corner: 18 px, dropped
    kept = remove_specks(subject, LABELLINGS[labelling](subject, True), 0.01)
    expected = torch.zeros_like(subject)
    expected[2:7, 2:7] = True
    assert torch.equal(kept, expected)


@pytest.mark.parametrize("labelling", LABELLINGS, ids=str)
def test_only_small_holes_that_touch_no_border_are_filled(labelling):
    subject = torch.zeros(40, 50, dtype=torch.bool)
    subject[5:35, 5:45] = True
    subject[10:13, 10:13] = False  # 9 px enclosed: filled
    subject[15:30, 20:40] = False  # 300 px enclosed: the plate seen through, kept
    subject[0:8, 30:33] = False  # open to the border: kept
    filled = fill_holes(subject, LABELLINGS[labelling](~subject, False), 0.01)
    expected = subject.clone()
    expected[10:13, 10:13] = True
    assert torch.equal(filled, expected)


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
