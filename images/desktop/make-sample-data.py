#!/usr/bin/env python3
"""Writes the sample data a new user finds in ~/examples/data.

    make-sample-data.py DIR

brain.nii.gz: a small synthetic head (a NIfTI-1 volume, 96 x 112 x 80
voxels of 2 mm, int16): scalp, skull, grey and white matter, ventricles,
in the RAS+ orientation MNI space uses, so viewers show it upright. It is
made here from ellipsoids, so the project ships no scan of a person and
needs no download. Only the standard library: the desktop image runs this
with Debian's python3 at build time, and hack/desktop-env.sh on the host.
"""

import gzip
import math
import os
import struct
import sys

DIM = (96, 112, 80)  # x (left→right), y (posterior→anterior), z (inferior→superior)
VOXEL_MM = 2.0


def tissue(x: float, y: float, z: float) -> int:
    """The intensity at a point in mm from the centre of the head (T1-like contrast)."""

    def inside(a: float, b: float, c: float, cx: float = 0, cy: float = 0, cz: float = 0) -> bool:
        return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1

    if not inside(78, 98, 70):
        return 0
    if not inside(72, 92, 64):
        return 700  # scalp
    if not inside(68, 88, 60):
        return 120  # skull: dark on T1
    if not inside(64, 84, 56):
        return 300  # CSF around the brain
    for side in (-1, 1):  # lateral ventricles
        if inside(7, 28, 11, cx=side * 11, cy=2, cz=8):
            return 250
    # A folded cortex: grey matter where a wavy shell lies near the surface.
    r = math.sqrt((x / 64) ** 2 + (y / 84) ** 2 + (z / 56) ** 2)
    fold = 0.06 * math.sin(x / 5.0) * math.sin(y / 6.0) * math.cos(z / 5.0)
    if r + fold > 0.82:
        return 600  # grey matter
    return 900  # white matter


def nifti1(data: bytes, dim: tuple[int, int, int], voxel_mm: float) -> bytes:
    """A NIfTI-1 single file (.nii): the 348-byte header, 4 bytes of extension flag, the voxels."""
    nx, ny, nz = dim
    hdr = bytearray(348)
    struct.pack_into("<i", hdr, 0, 348)  # sizeof_hdr
    struct.pack_into("<8h", hdr, 40, 3, nx, ny, nz, 1, 1, 1, 1)  # dim
    struct.pack_into("<h", hdr, 70, 4)  # datatype: DT_SIGNED_SHORT
    struct.pack_into("<h", hdr, 72, 16)  # bitpix
    struct.pack_into(
        "<8f", hdr, 76, 1.0, voxel_mm, voxel_mm, voxel_mm, 0, 0, 0, 0
    )  # pixdim (qfac 1)
    struct.pack_into("<f", hdr, 108, 352.0)  # vox_offset
    struct.pack_into("<f", hdr, 112, 1.0)  # scl_slope
    struct.pack_into("<B", hdr, 123, 2 | 8)  # xyzt_units: mm, s
    struct.pack_into("<2f", hdr, 124, 1000.0, 0.0)  # cal_max, cal_min: the display window
    hdr[148 : 148 + 80] = b"kubedesk sample: synthetic head".ljust(80, b"\0")  # descrip
    struct.pack_into("<2h", hdr, 252, 1, 1)  # qform_code, sform_code: scanner, aligned
    # The origin in the middle of the volume; axes are RAS.
    ox, oy, oz = (-(n - 1) / 2 * voxel_mm for n in dim)
    struct.pack_into("<6f", hdr, 256, 0, 0, 0, ox, oy, oz)  # quatern_b..d (identity), qoffset
    struct.pack_into("<4f", hdr, 280, voxel_mm, 0, 0, ox)  # srow_x
    struct.pack_into("<4f", hdr, 296, 0, voxel_mm, 0, oy)  # srow_y
    struct.pack_into("<4f", hdr, 312, 0, 0, voxel_mm, oz)  # srow_z
    hdr[344:348] = b"n+1\0"  # magic: header and data in one file
    return bytes(hdr) + b"\0\0\0\0" + data


def brain() -> bytes:
    nx, ny, nz = DIM
    out = bytearray()
    # NIfTI's voxel order: x fastest, then y, then z.
    for k in range(nz):
        z = (k - (nz - 1) / 2) * VOXEL_MM
        for j in range(ny):
            y = (j - (ny - 1) / 2) * VOXEL_MM
            out += struct.pack(
                f"<{nx}h", *(tissue((i - (nx - 1) / 2) * VOXEL_MM, y, z) for i in range(nx))
            )
    return nifti1(bytes(out), DIM, VOXEL_MM)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: make-sample-data.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    path = os.path.join(sys.argv[1], "brain.nii.gz")
    # mtime=0: the same bytes on every build, so image layers stay cached.
    with open(path + ".tmp", "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as gz:
        gz.write(brain())
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
