"""The photographic validation set: held-out sources only, deterministic, every class, benchmark-readable."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from bgmatte.cli import main
from bgmatte.data.exr import read_exr
from bgmatte.data.photo_catalogue import (CATALOGUE, VALIDATION_HDRIS, VALIDATION_PACKAGES, images_in_split,
                                          installed_path)
from bgmatte.data.photo_validation import (CLASSES, CLOSEUP_MIN_COVERAGE, PhotoRecipe, _Jpeg,
                                           generate_photo_validation, validation_files)
from bgmatte.data.validation import load_validation
from bgmatte.errors import InputError
from bgmatte.eval.benchmark import format_table, load_shots, run_benchmark

# Every class once as a still (two of them tune), one full-resolution still, one short sequence.
TINY = PhotoRecipe(seed=2000, size=64, stills=len(CLASSES), full_stills=1, full_width=128, full_height=72,
                   sequences=1, sequence_frames=3, tune_stills=2, tune_sequences=0, sources="hdri")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photo") / "set"
    generate_photo_validation(folder, TINY)
    return folder


def _pixels(folder: Path) -> dict[str, np.ndarray]:
    channels = {"frame": ("R", "G", "B"), "clean": ("R", "G", "B"), "alpha": ("Y",)}
    return {str(p.relative_to(folder)): read_exr(p, channels[p.name.split(".")[0]]) for p in sorted(folder.rglob("*.exr"))}


def test_the_catalogue_records_the_split_and_never_mixes() -> None:
    validation = images_in_split("validation")
    training = images_in_split("training")
    assert len(validation) + len(training) == len(CATALOGUE)
    assert {i.package for i in validation} == set(VALIDATION_PACKAGES) | {"bpy"}
    assert sorted(i.name for i in validation if i.package == "bpy") == sorted(VALIDATION_HDRIS)
    assert not any(i.in_training for i in validation)
    assert all(i.split == "training" for i in CATALOGUE if i.in_training)
    hdris = [i for i in CATALOGUE if i.kind.startswith("hdri")]
    assert sum(i.split == "validation" for i in hdris) == 3 and len(hdris) == 8
    assert all(i.split == "training" for i in CATALOGUE
               if i.package in ("mate-backgrounds", "plasma-workspace-wallpapers", "lxqt-themes"))


def test_the_same_recipe_writes_the_same_set(tiny_set: Path, tmp_path: Path) -> None:
    generate_photo_validation(tmp_path / "again", TINY)
    a, b = _pixels(tiny_set), _pixels(tmp_path / "again")
    assert sorted(a) == sorted(b) and len(a) == (len(CLASSES) + 1) * 3 + 1 + 3 * 2
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    first, second = (json.loads((f / "index.json").read_text())["shots"] for f in (tiny_set, tmp_path / "again"))
    assert first == second


def test_only_validation_split_files_are_used_and_each_is_recorded(tiny_set: Path) -> None:
    text = (tiny_set / "index.json").read_text()
    index = json.loads(text)
    for image in images_in_split("training"):
        assert image.path not in text and Path(image.path).name not in text, image.path
    held_out = {i.path for i in images_in_split("validation")}
    records = [r for s in index["shots"] for r in [s["sources"]["plate"], *s["sources"]["textures"]]]
    assert records and all(r["file"] in held_out and r["split"] == "validation" for r in records)
    for record in records:
        assert {"installed", "package", "version", "licence", "attribution", "sha256", "crop"} <= set(record)
        assert record["licence"].startswith("CC0") and record["sha_matches_catalogue"]
    assert {r["file"] for r in index["sources"]} == {r["file"] for r in records}


def test_each_class_appears_and_close_ups_cover_half_the_frame(tiny_set: Path) -> None:
    shots = load_validation(tiny_set)
    assert [s.shot_class for s in shots if s.name.startswith("still")] == list(CLASSES)
    assert {s.group for s in shots if s.split == "test"} >= set(CLASSES[2:])
    closeups = [s for s in shots if s.shot_class == "closeup"]
    assert closeups
    for shot in closeups:
        middle = shot.frames[len(shot.frames) // 2]
        alpha = read_exr(tiny_set / shot.alpha.replace("####", f"{middle:04d}"), ("Y",))[..., 0]
        assert float(np.mean(alpha > 0.5)) >= CLOSEUP_MIN_COVERAGE
        assert shot.params["coverage"] == pytest.approx(float(np.mean(alpha > 0.5)), abs=1e-3)
    for shot in shots:
        alpha = read_exr(tiny_set / shot.alpha.replace("####", f"{shot.frames[0]:04d}"), ("Y",))[..., 0]
        assert ((alpha > 0.02) & (alpha < 0.98)).any(), shot.name  # true fractional alpha
    sheet = next(s for s in shots if s.shot_class == "sheet")
    alpha = read_exr(tiny_set / sheet.alpha.replace("####", "1001"), ("Y",))[..., 0]
    inside = alpha[alpha > 0.02]
    assert 0.1 <= float(np.median(inside)) <= 0.6


def test_layout_is_what_the_benchmark_reads(tiny_set: Path) -> None:
    shots = load_validation(tiny_set)
    assert [(s.split, len(s.frames)) for s in shots] == ([("tune", 1)] * 2 + [("test", 1)] * (len(CLASSES) - 2)
                                                         + [("test", 1), ("test", 3)])
    full = next(s for s in shots if s.name.startswith("full"))
    test = load_shots(tiny_set, "test")
    by_name = {s.shot.name: s for s in test}
    assert by_name[full.name].frames[0].shape == (72, 128, 3) and by_name[full.name].plate.shape == (72, 128, 3)
    assert all(s.frames[0].shape == (64, 64, 3) for s in test if s.shot.name != full.name)
    for shot in shots:
        assert (tiny_set / shot.frame).parent.parent.name == shot.split
        assert 0.2 <= float(np.hypot(*shot.params["plate_shift_px"])) <= 0.7 + 1e-9
        assert 85 <= shot.params["jpeg_quality"] <= 95
        drift = np.array(shot.params["plate_exposure_drift"])
        assert np.all(np.abs(drift) <= 0.05) and np.all(np.abs(drift) >= 0.0) and np.ptp(drift) > 0


def test_benchmark_reports_every_class_and_size(tiny_set: Path, tmp_path: Path) -> None:
    result = run_benchmark(tiny_set, model="tiny", methods=("bgmatte", "difference_key", "closed_form"),
                           sheet=tmp_path / "sheet.png")
    assert (tmp_path / "sheet.png").is_file() and (tmp_path / "sheet_128x72.png").is_file()
    assert set(result["methods"]["closed_form"]["seconds_per_frame_per_size"]) == {"64x64", "128x72"}
    test_classes = {s.group for s in load_validation(tiny_set) if s.split == "test"}
    assert set(result["classes"]) == test_classes
    assert set(result["sizes"]) == {"64x64", "128x72"}
    for method in ("bgmatte", "difference_key", "closed_form"):
        assert set(result["methods"][method]["per_class"]) == test_classes
        for scores in result["methods"][method]["per_class"].values():
            assert np.isfinite(scores["unknown"]["grad"]) and np.isfinite(scores["whole"]["sad"])
    assert set(result["ratios_per_class"]) == test_classes
    table = format_table(result)
    assert "class (shots)" in table and "size (shots)" in table
    for name in test_classes:
        assert any(line.startswith(f"{name} (") for line in table.splitlines()), name
    json.dumps(result)


def test_missing_debian_package_is_one_error_line_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    with pytest.raises(InputError) as caught:
        validation_files("all", deb_root=tmp_path / "empty-root")
    assert "apt-get install --no-install-recommends lomiri-wallpapers-16.04 lomiri-wallpapers-20.04" in str(caught.value)
    out = tmp_path / "set"
    assert main(["data", "--validation", "--photographic", "--out", str(out), "--size", "64",
                 "--photo-root", str(tmp_path / "empty-root")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bgmatte: error: lomiri-wallpapers-16.04, lomiri-wallpapers-20.04: "
                                               "not installed")
    assert "apt-get install --no-install-recommends lomiri-wallpapers-16.04 lomiri-wallpapers-20.04" in err[0]
    assert not out.exists()


def test_debian_photos_under_a_root_are_plates_and_textures(tmp_path: Path) -> None:
    # Stand-ins for the lomiri JPEGs (the real ones need apt-get): real files that cv2 decodes.
    rng = np.random.default_rng(0)
    for image in images_in_split("validation"):
        if image.manager != "deb":
            continue
        path = installed_path(image, tmp_path / "root")
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = cv2.GaussianBlur(rng.integers(0, 256, (90, 160, 3)).astype(np.uint8), (0, 0), 2)
        assert cv2.imwrite(str(path), pixels)
    recipe = PhotoRecipe(size=64, stills=3, full_stills=1, full_width=128, full_height=72, sequences=0,
                         tune_stills=1, tune_sequences=0, sources="all")
    index = json.loads(generate_photo_validation(tmp_path / "set", recipe, deb_root=tmp_path / "root").read_text())
    packages = {r["package"] for s in index["shots"] for r in [s["sources"]["plate"], *s["sources"]["textures"]]}
    assert packages & set(VALIDATION_PACKAGES)
    assert all(r["sha_matches_catalogue"] is False for r in index["sources"] if r["manager"] == "deb")
    assert main(["data", "--photographic", "--out", str(tmp_path / "x")]) == 2


def test_jpeg_round_trip_softens_but_keeps_highlights_and_negatives() -> None:
    rng = np.random.default_rng(1)
    image = cv2.GaussianBlur(rng.uniform(0.0, 0.8, (64, 64, 3)).astype(np.float32), (0, 0), 1.5)
    image[10, 10] = 12.0
    image[20, 20] = -0.01
    out, white = _Jpeg()(image, 90)
    assert white >= 1.0
    assert out[10, 10].min() > 5.0 and out[20, 20].min() < 0.0
    error = np.abs(out - image)[30:, 30:]
    assert 1e-4 < float(error.mean()) < 0.02


def test_closed_form_solves_a_large_unknown_region_downsampled(tmp_path: Path) -> None:
    from bgmatte.eval import peers

    rng = np.random.default_rng(3)
    plate = cv2.GaussianBlur(rng.uniform(0.1, 0.5, (96, 128, 3)).astype(np.float32), (0, 0), 2)
    alpha = np.zeros((96, 128), np.float32)
    cv2.circle(alpha, (64, 48), 30, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 6)
    frame = alpha[..., None] * np.float32([0.9, 0.6, 0.3]) + (1 - alpha[..., None]) * plate
    full, factor = peers.closed_form_bounded(frame, plate, 0.04, 0.3)
    assert factor == 1 and np.array_equal(full, peers.closed_form(frame, plate, 0.04, 0.3))
    reduced, factor = peers.closed_form_bounded(frame, plate, 0.04, 0.3, max_unknown=500)
    assert factor >= 2 and reduced.shape == alpha.shape
    trimap = peers.difference_trimap(frame, plate, 0.04, 0.3)
    assert np.all(reduced[trimap == 0] == 0) and np.all(reduced[trimap == 1] == 1)
    assert float(np.abs(reduced - full).mean()) < 0.02  # close to the full-resolution solve
