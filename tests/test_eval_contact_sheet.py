"""The contact sheet's colour: the bundled config's sRGB view, or the plain sRGB curve without it."""
from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from bgmatte.eval.contact_sheet import srgb_oetf, to_display, write_contact_sheet


def test_srgb_curve_has_the_iec_61966_2_1_values():
    linear = np.array([0.0, 0.0031308, 0.18, 1.0, 4.0, -1.0])
    assert srgb_oetf(linear) == pytest.approx([0.0, 0.04045, 0.46135, 1.0, 1.0, 0.0], abs=2e-5)


def test_the_sheet_view_maps_acescg_mid_grey_to_the_srgb_code_value():
    # ACEScg 0.18 is neutral, so the un-tone-mapped sRGB view gives the sRGB encoding of 0.18
    assert to_display(np.full((1, 1, 3), 0.18, np.float32))[0, 0] == pytest.approx([0.46135] * 3, abs=2e-3)


def test_the_sheet_view_converts_primaries_rather_than_only_encoding():
    acescg_red = np.array([[[0.5, 0.0, 0.0]]], np.float32)
    shown = to_display(acescg_red)[0, 0]
    assert shown[0] > srgb_oetf(np.float32(0.5))  # AP1 red is more saturated than Rec.709 red: clips higher
    assert shown[1] == pytest.approx(0.0, abs=1e-6) and shown[2] == pytest.approx(0.0, abs=1e-6)


def test_a_view_the_config_lacks_falls_back_to_the_plain_srgb_curve(caplog):
    linear = np.array([[[0.18, 0.5, 2.0]]], np.float32)
    shown = to_display(linear, colour_view=("No Such Display", "No Such View"))
    assert shown == pytest.approx(srgb_oetf(linear))
    assert "plain sRGB curve" in caplog.text


def test_rows_of_different_sizes_are_refused(tmp_path):
    small = (np.zeros((8, 8, 3)), np.zeros((8, 8)), np.zeros((8, 8, 3)))
    wide = (np.zeros((8, 9, 3)), np.zeros((8, 9)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="one size"):
        write_contact_sheet(tmp_path / "sheet.png", [small, wide])
    assert not (tmp_path / "sheet.png").exists()


def test_write_contact_sheet_returns_the_size_it_wrote(tmp_path):
    alpha = np.zeros((16, 20), np.float32)
    alpha[4:12, 5:15] = 1.0
    row = (np.full((16, 20, 3), 0.18, np.float32), alpha, alpha[..., None] * np.float32([0.8, 0.2, 0.1]))
    size = write_contact_sheet(tmp_path / "sheet.png", [row, row])
    spec = oiio.ImageInput.open(str(tmp_path / "sheet.png")).spec()
    assert size == (spec.width, spec.height) == (3 * 20 + 4 * 4, 2 * 16 + 3 * 4)
