"""The package as a user installs it: a wheel built from this tree must carry every data file the
code finds by name (presets, profiles, BOHB spaces) and the kernel source, or an installed copy
fails with 'unknown preset'."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from bohb_das.datafiles import SPACES_DIR

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_every_data_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(ROOT)], check=True, timeout=120)
    (wheel,) = tmp_path.glob("bohb_das-*.whl")
    packaged = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"bohb_das/spaces/{p.relative_to(SPACES_DIR).as_posix()}" for p in SPACES_DIR.rglob("*.yaml")}
    assert {"bohb_das/spaces/presets/H1.yaml", "bohb_das/spaces/profiles/paper.yaml",
            "bohb_das/spaces/das.yaml"} <= shipped
    assert shipped - packaged == set()
    assert "bohb_das/kernels/fused_net.cpp" in packaged
    code = {f"{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "bohb_das").rglob("*.py")}
    assert code - packaged == set()  # every code package is listed in setup.cfg
