"""The README's examples run as written (against a copy of the bundled sample shot)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def test_the_python_api_example_runs_on_the_sample_shot(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "samples" / "shot", tmp_path / "samples" / "shot")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert blocks, "the README shows the Python API"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "[1001, 1002, 1003] [] 0" in out and "(288, 512) (288, 512, 3)" in out
    assert sorted(p.name for p in (tmp_path / "out" / "api").iterdir()) == [
        "matte.1001.exr", "matte.1002.exr", "matte.1003.exr"]
