"""The wheel holds one import root, ``mesosweep``, with its data files, and nothing else."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_has_one_top_level_package_and_its_data(tmp_path):
    # Built from the tracked files alone (a copy), so nothing of this checkout's state leaks in.
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    src = tmp_path / "src"
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("mesosweep-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"mesosweep"}
    for data in ("mesosweep/stages/params/dried.toml", "mesosweep/sweeps/quick.toml",
                 "mesosweep/ensemble/cost_model.toml",
                 "mesosweep/live/static/index.html",
                 "mesosweep/report/templates/report.html", "mesosweep/stages/runner.py",
                 "mesosweep/analysis/tortuosity.py", "mesosweep/ensemble/runner.py",
                 "mesosweep/cluster/slurm.py"):
        assert data in names, data
    assert not [n for n in names if n.startswith(("bench/", "tests/", "mesosweep/bench"))]
