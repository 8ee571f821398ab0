"""16-bit colour images (48/64-bit PNG and TIFF) through OpenCV, which Pillow cannot hold.

Pillow has no 16-bit RGB mode: it reads such files as 8-bit, silently. Photo archives are full
of them, and bit depth is data, so their pixels are decoded and encoded by OpenCV's codecs
(``IMREAD_UNCHANGED`` keeps uint16 and the alpha plane); Pillow still parses the header, so
orientation, the ICC profile and EXIF come from the same place as for every other image. PNG
outputs get their ICC profile back as an ``iCCP`` chunk; TIFF outputs carry none.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

#: EXIF orientation -> the numpy operations that make the image upright (Pillow's transposes).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """``array`` (H x W x C) turned as EXIF ``orientation`` says, like Pillow's transposes."""
    return _UPRIGHT.get(orientation, lambda a: a)(array)


def decode_deep(data: bytes, orientation: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(H x W x 3 uint16 RGB, H x W uint16 alpha or None), made upright."""
    import cv2  # imported here: only 16-bit colour files need it

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.ndim != 3:
        raise ValueError("OpenCV could not decode it as 16-bit colour")
    array = upright(array, orientation)
    rgb = np.ascontiguousarray(array[..., 2::-1])
    alpha = np.ascontiguousarray(array[..., 3]) if array.shape[2] == 4 else None
    return rgb, alpha


def encode_deep(
    pixels: np.ndarray, alpha: np.ndarray | None, fmt: str, icc_profile: bytes | None
) -> bytes:
    """PNG or TIFF bytes of uint16 RGB (+ alpha); the ICC profile goes into a PNG's iCCP."""
    import cv2

    planes = pixels[..., ::-1] if alpha is None else np.dstack([pixels[..., ::-1], alpha])
    ok, encoded = cv2.imencode(".png" if fmt == "PNG" else ".tif", np.ascontiguousarray(planes))
    if not ok:
        raise ValueError(f"OpenCV could not encode 16-bit colour as {fmt}")
    data = encoded.tobytes()
    return _with_iccp(data, icc_profile) if fmt == "PNG" and icc_profile else data


def _with_iccp(png: bytes, profile: bytes) -> bytes:
    """``png`` with an iCCP chunk (the profile, zlib-compressed) right after IHDR."""
    body = b"icc\x00\x00" + zlib.compress(profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]
