"""`bgmatte benchmark`: bgmatte and its peers on a held-out set, and the shipped model's pinned quality."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from bgmatte.api import Matter
from bgmatte.data.validation import ValidationRecipe, generate_validation
from bgmatte.eval import metrics
from bgmatte.eval.benchmark import METHODS, load_shots
from bgmatte.eval.benchmark_command import run
from bgmatte.eval.contact_sheet import GAP

# The shipped weights (bgmatte/weights/default.pt) on PINNED_RECIPE's three stills, measured with
# Matter("default", device="cpu"). RE-MEASURE AND UPDATE these numbers whenever the weights change
# (print them with the loop in test_shipped_model_keeps_its_measured_validation_quality): the test
# fails when the model is worse than pinned beyond the margin, and also when it is better, so that
# the pinned (and published) numbers are always the shipped model's.
# Re-pinned for the same weights when the pipeline around them changed (mode-seeking gain match,
# plate-noise segmentation prior, exposure normalisation, clip black by evidence): these three
# stills got worse (SAD 1.669 -> 2.039) while the whole 18-frame validation set got better
# (`bgmatte benchmark`, seed 1000, 384 px: SAD 3.867 -> 3.564, Grad 4.416 -> 4.126).
PINNED = {"sad": 1.207, "mse": 5.166}  # detail step 25553, see-through prior (before it: 1.718, 11.962; step 8127: 1.707, 6.948)
PINNED_MARGIN = {"relative": 1.15, "absolute": {"sad": 0.1, "mse": 1.0}}
PINNED_RECIPE = ValidationRecipe(seed=1000, size=256, stills=3, sequences=0, tune_stills=0)


def test_benchmark_prints_one_row_per_method_tuned_on_the_tune_split(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "val"
    generate_validation(folder, ValidationRecipe(seed=1001, size=64, stills=2, sequences=0, tune_stills=1))
    args = argparse.Namespace(folder=folder, model="tiny", methods=",".join(METHODS), json=tmp_path / "r.json",
                              sheet=tmp_path / "sheet.png")
    assert run(args) == 0
    table = capsys.readouterr().out
    rows = {line.split()[0]: line for line in table.splitlines()[2:2 + len(METHODS)]}
    assert sorted(rows) == sorted(METHODS)
    assert "bgmatte / best peer, sad whole:" in table and "bgmatte / best peer, grad unknown:" in table
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["test_shots"] == ["still_001_fur"] and result["tune_shots"] == ["still_000_hair"]
    per_shot_row = next(line for line in table.splitlines() if line.startswith("still_001_fur"))
    for method in METHODS:
        scores = result["methods"][method]
        assert scores["frames"] == 1 and scores["seconds_per_frame"] > 0
        assert all(np.isfinite(v) for v in scores["mean"]["whole"].values())
        assert scores["per_shot"]["still_001_fur"] == scores["mean"]  # one shot of one frame
        assert f"{scores['mean']['whole']['sad']:.2f} /" in per_shot_row
    sheet = oiio.ImageInput.open(str(tmp_path / "sheet.png"))
    assert sheet.spec().nchannels == 3 and sheet.spec().height == 64 + 2 * GAP  # one row: the test shot
    sheet.close()
    assert len(result["methods"]["blender_difference_key"]["params"]) == 2
    best = min(result["methods"][m]["mean"]["whole"]["sad"] for m in METHODS[1:])
    assert np.isclose(result["ratios"]["sad_whole"], result["methods"]["bgmatte"]["mean"]["whole"]["sad"] / best)


def test_shipped_model_keeps_its_measured_validation_quality(tmp_path: Path) -> None:
    generate_validation(tmp_path, PINNED_RECIPE)
    matter = Matter("default", device="cpu")
    sads, mses = [], []
    for shot in load_shots(tmp_path, "test"):
        alpha = matter.matte_frame(shot.frames[0], shot.plate).alpha
        sads.append(metrics.sad(alpha, shot.alphas[0]))
        mses.append(metrics.mse(alpha, shot.alphas[0]))
    measured = {"sad": float(np.mean(sads)), "mse": float(np.mean(mses))}
    for name, pinned in PINNED.items():
        upper = pinned * PINNED_MARGIN["relative"] + PINNED_MARGIN["absolute"][name]
        lower = pinned / PINNED_MARGIN["relative"] - PINNED_MARGIN["absolute"][name]
        assert measured[name] <= upper, f"{name} {measured[name]:.3f} above {upper:.3f} (pinned {pinned})"
        assert measured[name] >= lower, f"{name} {measured[name]:.3f} below {lower:.3f}: re-pin {PINNED}"


def test_benchmark_refuses_a_folder_that_is_not_a_validation_set(tmp_path: Path, capsys) -> None:
    from bgmatte.cli import main

    assert main(["benchmark", str(tmp_path), "--methods", "difference_key"]) == 2
    assert capsys.readouterr().err.strip() == (f"bgmatte: error: {tmp_path}: no index.json: not a validation set "
                                               "(make one with bgmatte data --validation)")
    generate_validation(tmp_path, ValidationRecipe(size=64, stills=1, sequences=0))
    assert main(["benchmark", str(tmp_path), "--methods", "difference_key,magic"]) == 2
    assert "bgmatte: error: --methods: unknown method(s) magic" in capsys.readouterr().err
    assert main(["benchmark", str(tmp_path), "--sheet", str(tmp_path / "sheet.jpg")]) == 2
    assert capsys.readouterr().err.strip() == f"bgmatte: error: {tmp_path / 'sheet.jpg'}: the contact sheet must be a .png file"
