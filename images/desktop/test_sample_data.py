"""The sample data a new user finds in ~/examples/data (make-sample-data.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np

HERE = Path(__file__).resolve().parent


def make(tmp_path: Path) -> Path:
    subprocess.run([sys.executable, str(HERE / "make-sample-data.py"), str(tmp_path)], check=True)
    return tmp_path / "brain.nii.gz"


def test_brain_is_a_nifti_volume_viewers_show_upright(tmp_path: Path) -> None:
    img = nibabel.load(make(tmp_path))
    assert isinstance(img, nibabel.Nifti1Image)
    assert img.shape == (96, 112, 80)
    assert img.header.get_data_dtype() == np.int16
    assert img.header.get_zooms() == (2.0, 2.0, 2.0)
    # RAS+, with the origin in the middle: viewers open it upright and centred.
    assert nibabel.aff2axcodes(img.affine) == ("R", "A", "S")
    centre = img.affine @ np.array([(n - 1) / 2 for n in img.shape] + [1])
    assert np.allclose(centre[:3], 0)
    data = np.asarray(img.dataobj)
    # Every tissue is there: background, skull, CSF, ventricles, grey and
    # white matter, scalp.
    assert set(np.unique(data)) == {0, 120, 250, 300, 600, 700, 900}
    # The brain is mostly white matter inside, grey matter at the surface.
    cx, cy, cz = (n // 2 for n in img.shape)
    assert data[cx + 20, cy, cz] == 900
    assert data[cx, cy, 0] == 0


def test_the_same_bytes_every_time(tmp_path: Path) -> None:
    # Image layers stay cached when the build makes the same file again.
    a = make(tmp_path / "a").read_bytes()
    b = make(tmp_path / "b").read_bytes()
    assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()
