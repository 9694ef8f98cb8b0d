"""Specification of the training data: procedural elements and plates, banks on disk, `bgmatte data`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgmatte.cli import main
from bgmatte.data.bank import open_bank, read_element, read_plate
from bgmatte.data.elements import KINDS, OPT_IN_KINDS, generate_element
from bgmatte.data.generate import generate_bank
from bgmatte.data.plates import PHOTO_SOURCES, generate_plate, load_photo
from bgmatte.errors import InputError


@pytest.mark.parametrize("kind", KINDS + OPT_IN_KINDS)
def test_every_element_kind_has_true_fractional_alpha_and_finite_straight_colour(kind: str) -> None:
    rng = np.random.default_rng(7)
    element = generate_element(rng, 128, kind)
    assert element.kind == kind
    assert element.alpha.shape == (128, 128) and element.colour.shape == (128, 128, 3)
    assert element.alpha.min() >= 0.0 and element.alpha.max() <= 1.0
    assert np.any((element.alpha > 0.02) & (element.alpha < 0.98)), "no fractional coverage"
    assert np.isfinite(element.colour).all() and element.colour.min() >= 0.0
    assert np.all(element.colour[element.alpha == 0] == 0), "colour where there is no coverage"


def test_films_are_large_sheets_seen_through_almost_everywhere() -> None:
    """A film covers most of its canvas with coverage well short of opaque on most samples."""
    films = [generate_element(np.random.default_rng([5, i]), 160, "film") for i in range(16)]
    covered = [float((f.alpha > 0.02).mean()) for f in films]
    inside = [float(np.median(f.alpha[f.alpha > 0.02])) for f in films]
    assert min(covered) > 0.3 and np.median(covered) > 0.6
    assert np.median(inside) < 0.5 and min(inside) < 0.15, "films should be mostly see-through"
    assert max(inside) > 0.3, "some films should be dense"


def test_a_default_bank_never_draws_an_opt_in_kind(tmp_path: Path) -> None:
    generate_bank(tmp_path, 4, elements=12, plates=0, photos=False, element_size=48)
    kinds = {entry.kind for entry in open_bank(tmp_path).elements}
    assert kinds and not kinds & set(OPT_IN_KINDS)


def test_premultiplied_element_is_colour_times_alpha() -> None:
    element = generate_element(np.random.default_rng(3), 96, "hair")
    rgba = element.premultiplied()
    np.testing.assert_allclose(rgba[..., :3], element.colour * element.alpha[..., None], rtol=1e-6)
    np.testing.assert_array_equal(rgba[..., 3], element.alpha)


def test_procedural_plates_are_linear_and_some_exceed_one() -> None:
    plates = [generate_plate(np.random.default_rng(seed), 96)[0] for seed in range(12)]
    assert all(plate.shape == (96, 96, 3) and np.isfinite(plate).all() and plate.min() >= 0 for plate in plates)
    assert any(plate.max() > 1.0 for plate in plates), "no highlights above 1 in 12 plates"


def test_wheel_photos_load_as_linear_acescg_with_a_licence_each() -> None:
    for source in PHOTO_SOURCES:
        assert source.licence
    photo = load_photo(PHOTO_SOURCES[0])
    assert photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.float32
    # sRGB-encoded mid grey (0.5) is ~0.21 linear: a linearised photo has a low mean.
    assert 0.0 <= photo.mean() < 0.4


def _bank_files(root: Path) -> dict[str, np.ndarray]:
    bank = open_bank(root)
    files = {entry.id: read_element(entry.path) for entry in bank.elements}
    files.update({entry.id: read_plate(entry.path) for entry in bank.plates})
    return files


def test_same_seed_gives_identical_banks_and_different_seeds_differ(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_bank(tmp_path / name, seed, elements=3, plates=2, photos=False, element_size=64, plate_size=64)
    first, second, other = (_bank_files(tmp_path / name) for name in "abc")
    index_a = json.loads((tmp_path / "a" / "index.json").read_text())
    index_b = json.loads((tmp_path / "b" / "index.json").read_text())
    assert index_a == index_b
    assert first.keys() == second.keys()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    first_pixels = [first[key] for key in sorted(first)]
    other_pixels = [other[key] for key in sorted(other)]
    assert any(a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(first_pixels, other_pixels))


def test_bank_index_records_licence_and_provenance_of_every_file(tmp_path: Path) -> None:
    generate_bank(tmp_path, 1, elements=2, plates=1, photos=True, element_size=64, plate_size=64)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["colorspace"] == "ACEScg" and index["alpha"] == "premultiplied"
    entries = index["elements"] + index["plates"]
    assert len(index["plates"]) == 1 + len(PHOTO_SOURCES)
    assert all(entry["licence"] and entry["provenance"] for entry in entries)
    photos = [entry for entry in index["plates"] if entry["kind"] == "photo"]
    assert all("scikit" in entry["provenance"]["package"] for entry in photos)


def test_bank_with_another_colourspace_is_refused(tmp_path: Path) -> None:
    generate_bank(tmp_path, 1, elements=1, plates=1, photos=False, element_size=64, plate_size=64)
    index = json.loads((tmp_path / "index.json").read_text())
    index["colorspace"] = "Linear Rec.709 (sRGB)"
    (tmp_path / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="colorspace"):
        open_bank(tmp_path)


def test_bank_naming_a_missing_file_is_refused(tmp_path: Path) -> None:
    generate_bank(tmp_path, 1, elements=2, plates=1, photos=False, element_size=64, plate_size=64)
    next((tmp_path / "elements").iterdir()).unlink()
    with pytest.raises(InputError, match="missing"):
        open_bank(tmp_path)


def test_data_command_writes_a_bank_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bank"
    code = main(["data", "--out", str(out), "--seed", "3", "--elements", "2", "--plates", "1",
                 "--element-size", "64", "--plate-size", "64", "--no-photos"])
    assert code == 0
    bank = open_bank(out)
    assert len(bank.elements) == 2 and len(bank.plates) == 1
    assert bank.recipe["seed"] == 3 and "bgmatte data" in bank.recipe["command"]
    assert "bgmatte data: 3/3" in capsys.readouterr().err


def test_data_command_draws_the_kinds_asked_for_and_records_the_bank_weight(tmp_path: Path) -> None:
    out = tmp_path / "films"
    assert main(["data", "--out", str(out), "--seed", "5", "--kinds", "film,hair", "--weight", "0.3",
                 "--elements", "3", "--plates", "0", "--element-size", "48", "--no-photos"]) == 0
    bank = open_bank(out)
    assert [entry.kind for entry in bank.elements] == ["film", "hair", "film"]
    assert bank.weight == 0.3 and bank.recipe["kinds"] == ["film", "hair"]
    assert "--kinds film,hair --weight 0.3" in bank.recipe["command"]


def test_data_command_refuses_an_unknown_kind_naming_the_option(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bank"
    assert main(["data", "--out", str(out), "--kinds", "film,lava"]) == 2
    assert "bgmatte: error: --kinds: unknown kind(s) lava" in capsys.readouterr().err
    assert not out.exists()


def test_data_command_refuses_a_negative_count_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bank"
    assert main(["data", "--out", str(out), "--elements", "-1"]) == 2
    assert "bgmatte: error: --elements: must be 0 or more" in capsys.readouterr().err
    assert not out.exists()


def test_catalogue_photos_in_a_bank_come_from_the_training_split_only(tmp_path: Path, monkeypatch) -> None:
    from bgmatte.data import generate, photo_catalogue

    hdris = photo_catalogue.installed_files("training", "this test", hdri_only=True)  # always installed (bpy)
    assert len(hdris) == 5
    assert not {image.name for image, _ in hdris} & set(photo_catalogue.VALIDATION_HDRIS)
    monkeypatch.setattr(generate, "installed_files", lambda split, purpose: hdris if split == "training" else [])

    generate_bank(tmp_path, seed=1, elements=1, plates=1, photos=False, element_size=64, plate_size=64,
                  catalogue=True)

    bank = open_bank(tmp_path)
    catalogued = [plate for plate in bank.plates if plate.id.startswith("catalogue_")]
    assert len(catalogued) == 5 and all(plate.kind == "photo" for plate in catalogued)
    index = json.loads((tmp_path / "index.json").read_text())
    records = [p for p in index["plates"] if p["id"].startswith("catalogue_")]
    assert all(r["licence"].startswith("CC0") and max(r["width"], r["height"]) <= generate.CATALOGUE_PLATE_SIZE
               for r in records)
    assert np.isfinite(read_plate(catalogued[0].path)).all()


def test_a_missing_catalogue_package_is_one_line_naming_the_install_command(tmp_path: Path) -> None:
    from bgmatte.data import photo_catalogue

    with pytest.raises(InputError, match="apt-get install --no-install-recommends") as raised:
        photo_catalogue.installed_files("training", "a bank", deb_root=tmp_path / "empty-root")
    assert "\n" not in raised.value.problem
