"""How much of the plate shows through the subject, and the automatic prior that follows it."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from bgmatte.color.encoding import encode_for_network
from bgmatte.priors import soft_segmentation
from bgmatte.priors.resample import as_nchw
from bgmatte.priors.see_through import plate_transmission
from bgmatte.priors.segmentation import rough_blob, subject_mask
from test_priors_plate import SIZE, disc, noisy, textured_plate

VEIL_ALPHA = 0.3
VEIL = (slice(40, 216), slice(20, 110))  # a rectangle of veil on the left ...
SOLID_CENTRE, SOLID_RADIUS = (180, 128), 50  # ... and an opaque textured disc on the right


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image moved by a sub-pixel amount, as a plate shot a moment apart."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, matrix, image.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def veil_and_solid(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame and plate (working linear, noisy, plate shifted 0.4 px) with a flat pink veil of
    alpha 0.3 and an opaque textured disc over a textured plate; the veil and disc masks."""
    plate = textured_plate(seed)
    frame = plate.copy()
    veil = np.zeros((SIZE, SIZE), bool)
    veil[VEIL] = True
    frame[veil] = VEIL_ALPHA * np.float32([0.9, 0.5, 0.6]) + (1 - VEIL_ALPHA) * plate[veil]
    solid = disc(SIZE, SOLID_CENTRE, SOLID_RADIUS)
    frame[solid] = (np.float32([0.3, 0.5, 0.9]) * (0.5 + 0.5 * textured_plate(seed + 1)))[solid]
    return noisy(frame, seed + 2), noisy(shifted(plate, 0.3, 0.25), seed + 3), veil, solid


def transmission_of(frame: np.ndarray, plate: np.ndarray) -> np.ndarray:
    as_tensor = lambda image: torch.from_numpy(image).permute(2, 0, 1)[None]
    return plate_transmission(as_tensor(frame), as_tensor(plate), torch.ones((1, 1, *frame.shape[:2])))[0, 0].numpy()


def interior(mask: np.ndarray, margin: int = 20) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0


def test_the_plate_seen_through_a_veil_is_measured_as_its_transmission():
    frame, plate, veil, solid = veil_and_solid(seed=200)

    transmission = transmission_of(frame, plate)

    background = ~cv2.dilate((veil | solid).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert abs(np.median(transmission[interior(veil)]) - (1 - VEIL_ALPHA)) < 0.12
    assert np.median(transmission[background]) > 0.85
    assert np.percentile(transmission[interior(solid)], 95) < 0.1
    assert transmission.shape == (SIZE, SIZE) and transmission.min() >= 0.0 and transmission.max() <= 1.0


def test_a_plain_plate_has_no_detail_to_show_through():
    plate = np.full((SIZE, SIZE, 3), 0.25, np.float32)
    frame = plate.copy()
    frame[disc(SIZE, (128, 128), 50)] = 0.6

    assert transmission_of(noisy(frame, 210), noisy(plate, 211)).max() == 0.0


def test_the_transmission_does_not_depend_on_exposure():
    frame, plate, _, _ = veil_and_solid(seed=220)

    np.testing.assert_allclose(transmission_of(frame * 8.0, plate * 8.0), transmission_of(frame, plate), atol=1e-4)


def test_the_automatic_prior_hints_a_veil_as_a_veil_and_a_solid_as_a_solid():
    frame, plate, veil, solid = veil_and_solid(seed=230)

    prior = soft_segmentation(encode_for_network(frame), encode_for_network(plate))

    assert np.median(prior[interior(veil)]) < 0.5
    assert prior[interior(solid, margin=25)].min() > 0.9


def test_a_shaded_solid_before_a_softly_patterned_plate_keeps_its_whole_hint():
    # The figure's shading and the plate's waves are of nearly one scale: over such faint plate
    # detail a windowed regression can follow the subject's own pattern by chance.
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    plate = np.stack([0.2 * (0.6 + 0.5 * (0.5 + 0.5 * np.sin(xx / 9.0 + c) * np.cos(yy / 13.0 - 0.7 * c)))
                      for c in range(3)], axis=-1).astype(np.float32)
    solid = disc(SIZE, (128, 128), 80)
    frame = plate.copy()
    shade = (0.75 + 0.25 * np.sin(xx / 6.0) * np.cos(yy / 9.0))[..., None]
    frame[solid] = (np.float32([0.35, 0.5, 0.7]) * shade)[solid]

    prior = soft_segmentation(encode_for_network(noisy(frame, 240)), encode_for_network(noisy(plate, 241)))

    assert prior[interior(solid, margin=25)].min() > 0.9


def test_the_hint_over_the_plate_seen_around_a_solid_is_lowered():
    frame, plate, veil, solid = veil_and_solid(seed=250)
    frame_enc, plate_enc = encode_for_network(frame), encode_for_network(plate)

    prior = soft_segmentation(frame_enc, plate_enc)

    # The paper's blob grows past the subject; where the frame shows the plate there, the hint drops.
    blob = rough_blob(subject_mask(as_nchw(frame_enc), as_nchw(plate_enc)).float()[None, None])[0, 0].numpy()
    grown = lambda mask, size: cv2.dilate(mask.astype(np.uint8), np.ones((size, size), np.uint8)) > 0
    ring = grown(solid, 13) & ~grown(solid, 5) & ~grown(veil, 31)
    assert prior[ring].mean() < 0.6 * blob[ring].mean()
