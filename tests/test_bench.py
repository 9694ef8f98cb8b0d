"""`bgmatte bench`: each configuration runs in its own process and reports s/frame, stages and peak RSS."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bgmatte.cli import main
from bgmatte.data.synthetic_shot import ShotRecipe, make_shot
from conftest import TEST_MODEL


@pytest.mark.parametrize("mode", ["floor", "diffkey", "bgmatte"])
def test_worker_reports_seconds_per_frame_stages_and_peak_memory(tmp_path, mode):
    make_shot(tmp_path / "shot", ShotRecipe(width=64, height=48, count=2, strands=4))
    done = subprocess.run([sys.executable, "-m", "bgmatte.bench.worker", mode, str(tmp_path / "shot"),
                           str(tmp_path / "out"), "1001-1002", "--model", TEST_MODEL],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["seconds_per_frame"] > 0 and result["peak_rss_mb"] > 10
    assert all(v >= 0 for v in result["stages"].values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.1001.exr", "m.1002.exr"]


def test_bench_refuses_an_unknown_size(capsys):
    assert main(["bench", "--sizes", "8k"]) == 1
    assert "bgmatte: error: --sizes: unknown size '8k'" in capsys.readouterr().err
