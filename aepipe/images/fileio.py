"""Decode image bytes to native-dtype arrays, and encode restored arrays back.

decode is a short pipeline: sniff -> open (lazy) -> size guard -> first frame -> load ->
EXIF orientation -> mode normalisation -> array. Everything encode needs to give the output
the input's format, bit depth, colour profile and metadata is kept in ImageInfo.

Pillow is used without touching its global state: ``Image.MAX_IMAGE_PIXELS`` and
``ImageFile.LOAD_TRUNCATED_IMAGES`` are read by Pillow but never set here. Truncation
detection relies on the latter keeping its default (False); PNG is CRC-checked on top.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from aepipe.errors import CorruptImageError, ImageError, ImageTooLargeError, UnsupportedImageError
from aepipe.images.deep import decode_deep, encode_deep
from aepipe.images.pixels import as_dtype, dtype_name
from aepipe.images.sniff import READABLE_FORMATS, describe_prefix, sniff_format

#: Pillow's own hard limit (2 x the default ``Image.MAX_IMAGE_PIXELS``, ~179 MP, about
#: 13 400 x 13 400): beyond it Pillow refuses to open the file itself, so a bigger default
#: would only change which error is raised. A 179 MP RGB image is ~0.5 GB as uint8.
DEFAULT_MAX_PIXELS = 178_956_970

#: Formats whose 16-bit colour files are read and written through OpenCV (see ``deep``).
DEEP_FORMATS = ("PNG", "TIFF")

#: Formats encode writes. Palette and legacy formats (GIF, BMP) would destroy restored pixels.
WRITABLE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")

_ALIASES = {"JPG": "JPEG", "MPO": "JPEG", "TIF": "TIFF"}
_EXTENSIONS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "GIF": ".gif",
    "BMP": ".bmp",
}
_ORIENTATION_TAG = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_HEADER = b"Exif\x00\x00"
_NATIVE_MODES = frozenset({"L", "RGB", "I;16", "I;16L", "I;16B", "I;16N", "F"})
# What Pillow raises on bad data, besides its own classes: it does not wrap these. Its TIFF
# parser raises KeyError (a required tag missing) and TypeError ("Missing dimensions") on
# damaged headers; the decoder fuzz test found both.
_PILLOW_DATA_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
)


class EncodeWarning(UserWarning):
    """encode had to lose information: bit depth or alpha the output format cannot hold."""


@dataclass(frozen=True)
class ImageInfo:
    """What decode saw, so encode can restore format, depth, profile and metadata."""

    format: str
    mode: str
    width: int
    height: int
    dtype: str
    channels: int
    has_alpha: bool
    icc_profile: bytes | None
    exif: bytes | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class DecodedImage:
    """Pixels (H x W x C, native dtype, C-contiguous), optional alpha (H x W), and info."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    info: ImageInfo


@dataclass(frozen=True)
class _Planes:
    """Colour plane image (L, I;16*, F or RGB) and alpha plane (L), after normalisation."""

    colour: Image.Image
    alpha: Image.Image | None
    icc_profile: bytes | None
    note: str | None = None


def decode(data: bytes, key: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> DecodedImage:
    """Decode ``data`` (format sniffed from content; ``key`` only names it in errors)."""
    fmt = sniff_format(data)
    if fmt is None:
        supported = ", ".join(READABLE_FORMATS)
        raise UnsupportedImageError(key, f"not a {supported} image ({describe_prefix(data)})")
    with _pillow_errors(key, fmt), Image.open(io.BytesIO(data), formats=[fmt]) as im:
        _check_size(im.size, max_pixels, key)
        if fmt == "PNG":
            _verify_png(data)
        deep = fmt in DEEP_FORMATS and _sixteen_bit_colour(im)
        orientation = _orientation(im)
        decoded = _decode_opened(im, fmt, key)
    return _decoded_deep(data, decoded, orientation, key) if deep else decoded


def header_pixels(data: bytes) -> int | None:
    """Width x height from the image's header alone (nothing decoded); None when ``data`` is
    not an image this module reads or its header does not parse (``decode`` will say why)."""
    fmt = sniff_format(data)
    if fmt is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as im:
                width, height = im.size
    except Exception:  # any header Pillow refuses: decode reports it, typed, with the key
        return None
    return width * height


@contextmanager
def _pillow_errors(key: str, fmt: str) -> Iterator[None]:
    """Map Pillow's exceptions to aepipe's; our own size limit decides, so its warning is muted.

    ``catch_warnings`` swaps the process-wide filter list; concurrent decodes in threads can at
    worst leave Pillow's DecompressionBombWarning muted, which this module supersedes anyway.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageTooLargeError(key, f"{e} (Pillow's Image.MAX_IMAGE_PIXELS limit)") from e
    except Image.UnidentifiedImageError as e:
        raise CorruptImageError(key, f"looks like {fmt} but its header cannot be parsed") from e
    except (*_PILLOW_DATA_ERRORS, zlib.error) as e:
        raise CorruptImageError(key, f"corrupt or truncated {fmt}: {e}") from e


def _verify_png(data: bytes) -> None:
    """Check every chunk's CRC: Pillow skips IDAT CRCs when loading, so flipped bits pass."""
    with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
        im.verify()


def _check_size(size: tuple[int, int], max_pixels: int, key: str) -> None:
    """Refuse from the header alone, before any pixel memory is allocated."""
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            key, f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
        )


def _decode_opened(im: ImageFile.ImageFile, fmt: str, key: str) -> DecodedImage:
    """Everything after the size guard; ``im`` is open, header parsed, pixels not loaded."""
    notes = [_frame_note(im)]
    im.load()
    upright, exif, exif_note = _upright(im)
    planes = _split_planes(upright, im.info.get("icc_profile") or None, key)
    pixels = _to_array(planes.colour)
    alpha = None if planes.alpha is None else np.array(planes.alpha)
    info = ImageInfo(
        format=fmt,
        mode=im.mode,
        width=upright.width,
        height=upright.height,
        dtype=dtype_name(pixels.dtype),
        channels=pixels.shape[2],
        has_alpha=alpha is not None,
        icc_profile=planes.icc_profile,
        exif=exif,
        warnings=tuple(n for n in (*notes, exif_note, planes.note) if n),
    )
    return DecodedImage(pixels=pixels, alpha=alpha, info=info)


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(_ORIENTATION_TAG, 1))
    except (*_PILLOW_DATA_ERRORS, KeyError):
        return 1


def _decoded_deep(data: bytes, pillow: DecodedImage, orientation: int, key: str) -> DecodedImage:
    """The same image with OpenCV's 16-bit pixels in place of Pillow's 8-bit reading."""
    try:
        pixels, alpha = decode_deep(data, orientation)
    except ValueError as e:
        raise CorruptImageError(key, f"16-bit colour {pillow.info.format}: {e}") from e
    if pixels.shape[:2] != pillow.pixels.shape[:2]:
        raise CorruptImageError(key, "OpenCV and Pillow disagree on the image's size")
    info = replace(pillow.info, dtype="uint16", has_alpha=alpha is not None)
    return DecodedImage(pixels, alpha, info)


def _frame_note(im: ImageFile.ImageFile) -> str | None:
    """Only the first frame/page is restored; say so when there are more."""
    n_frames = getattr(im, "n_frames", 1)
    if n_frames <= 1:
        return None
    kind = {"TIFF": "multi-page", "MPO": "multi-picture"}.get(im.format or "", "animated")
    return f"{kind} {im.format}: used frame 1 of {n_frames}"


def _sixteen_bit_colour(im: ImageFile.ImageFile) -> bool:
    """48/64-bit colour, which Pillow would read as 8-bit RGB(A), silently (seen in the
    tiles' raw modes before loading)."""
    if im.mode not in ("RGB", "RGBA"):
        return False
    for tile in im.tile:
        rawmode = tile.args if isinstance(tile.args, str) else (tile.args or ("",))[0]
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _upright(im: Image.Image) -> tuple[Image.Image, bytes | None, str | None]:
    """Apply EXIF orientation; return the image, EXIF with Orientation=1, and a note."""
    raw = im.info.get("exif") or None
    try:
        orientation = im.getexif().get(_ORIENTATION_TAG, 1)
        exif = None if raw is None else _exif_upright(raw)
    except (*_PILLOW_DATA_ERRORS, KeyError) as e:
        return im, None, f"unreadable EXIF dropped ({e})"
    method = _TRANSPOSE.get(orientation)
    return (im if method is None else im.transpose(method)), exif, None


def _exif_upright(raw: bytes) -> bytes:
    """EXIF bytes (with the APP1 header) whose Orientation, if any, says 1.

    Untouched bytes are passed through: re-serialising can drop maker notes.
    """
    data = raw if raw.startswith(_EXIF_HEADER) else _EXIF_HEADER + raw
    exif = Image.Exif()
    exif.load(data)
    if exif.get(_ORIENTATION_TAG, 1) == 1:
        return data
    exif[_ORIENTATION_TAG] = 1
    return exif.tobytes()


def _split_planes(im: Image.Image, icc: bytes | None, key: str) -> _Planes:
    """Reduce Pillow's many modes to gray/RGB (native depth) plus an optional alpha plane."""
    if im.mode in _NATIVE_MODES:
        return _Planes(im, None, icc)
    if im.mode == "1":
        return _Planes(im.convert("L"), None, icc)
    if im.mode in ("LA", "RGBA"):
        return _with_alpha(im, icc)
    if im.mode == "CMYK":
        # The naive conversion; an embedded CMYK profile no longer describes the result.
        note = "CMYK converted to RGB" + (" (CMYK ICC profile dropped)" if icc else "")
        return _Planes(im.convert("RGB"), None, None, note)
    if im.mode == "I":
        raise UnsupportedImageError(key, "32-bit or signed integer samples are not supported")
    return _converted(im, icc, key)


def _with_alpha(im: Image.Image, icc: bytes | None, note: str | None = None) -> _Planes:
    """Split LA/RGBA into the colour plane(s) and the alpha plane."""
    bands = im.split()
    colour = bands[0] if im.mode == "LA" else Image.merge("RGB", bands[:3])
    return _Planes(colour, bands[-1], icc, note)


def _converted(im: Image.Image, icc: bytes | None, key: str) -> _Planes:
    """Palette and other modes -> RGB, or RGBA when they carry transparency."""
    has_alpha = im.has_transparency_data or (
        im.mode == "P" and im.palette is not None and im.palette.mode == "RGBA"
    )
    try:
        rgb = im.convert("RGBA" if has_alpha else "RGB")
    except ValueError as e:
        raise UnsupportedImageError(key, f"mode {im.mode} cannot be converted to RGB") from e
    note = None if im.mode in ("P", "PA", "RGBa", "RGBX") else f"{im.mode} converted to RGB"
    return _with_alpha(rgb, icc, note) if has_alpha else _Planes(rgb, None, icc, note)


def _to_array(im: Image.Image) -> np.ndarray:
    """H x W x C array in native byte order (I;16B is big-endian), writable and C-contiguous."""
    arr = np.asarray(im)
    arr = arr.astype(arr.dtype.newbyteorder("="))
    return np.ascontiguousarray(arr[..., np.newaxis] if arr.ndim == 2 else arr)


def encode(
    pixels: np.ndarray,
    info: ImageInfo,
    *,
    alpha: np.ndarray | None = None,
    format: str | None = None,
    jpeg_quality: int = 95,
) -> bytes:
    """Encode ``pixels`` (any H x W, ``info.dtype``) in ``output_format(info, format)``.

    Bit depth and alpha the output format cannot hold are reduced with an EncodeWarning
    (e.g. 16-bit gray as JPEG -> 8-bit). The ICC profile is always carried; EXIF is carried
    except to TIFF, where Pillow would merge it into the image's own tags.
    """
    _check_encode_input(pixels, alpha, info)
    fmt = output_format(info, format)
    if fmt in DEEP_FORMATS and pixels.dtype == np.uint16 and pixels.shape[2] == 3:
        if info.exif:
            warnings.warn("16-bit colour output: EXIF not carried", EncodeWarning, stacklevel=2)
        return encode_deep(pixels, alpha, fmt, info.icc_profile)
    pixels, alpha, notes = _storable(pixels, alpha, fmt)
    for note in notes:
        warnings.warn(note, EncodeWarning, stacklevel=2)
    out = io.BytesIO()
    _to_pillow(pixels, alpha).save(out, fmt, **_save_options(fmt, info, jpeg_quality))
    return out.getvalue()


def _check_encode_input(pixels: np.ndarray, alpha: np.ndarray | None, info: ImageInfo) -> None:
    """Fail loudly on a shape/dtype mix-up instead of writing a wrong image."""
    if pixels.dtype != np.dtype(info.dtype):
        raise ValueError(f"pixels are {pixels.dtype}, expected info.dtype {info.dtype}")
    if pixels.ndim != 3 or pixels.shape[2] != info.channels:
        raise ValueError(f"pixels shape {pixels.shape} is not H x W x {info.channels}")
    if alpha is not None and (alpha.shape != pixels.shape[:2] or alpha.dtype != pixels.dtype):
        raise ValueError(
            f"alpha {alpha.shape} {alpha.dtype} must be {pixels.shape[:2]} {pixels.dtype}"
        )


def _storable(
    pixels: np.ndarray, alpha: np.ndarray | None, fmt: str
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Reduce depth/alpha to what Pillow can write in ``fmt``; return notes on what was lost."""
    notes = []
    if alpha is not None and fmt == "JPEG":
        notes.append("JPEG has no alpha channel: alpha dropped")
        alpha = None
    source = dtype_name(pixels.dtype)
    target = _storable_dtype(source, pixels.shape[2] == 1 and alpha is None, fmt)
    if target != source:
        notes.append(f"{fmt} output cannot hold these {source} samples: written as {target}")
        pixels = as_dtype(pixels, target)
        alpha = None if alpha is None else as_dtype(alpha, target)
    return pixels, alpha, notes


def _storable_dtype(dtype: str, single_plane: bool, fmt: str) -> str:
    """Pillow writes 16-bit and float only as a single gray plane: I;16 (PNG, TIFF), F (TIFF)."""
    if dtype == "uint8" or not single_plane:
        return "uint8"
    if fmt == "TIFF":
        return dtype
    return "uint16" if fmt == "PNG" else "uint8"


def _to_pillow(pixels: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    """L / LA / RGB / RGBA / I;16 / F image from planes Pillow can hold (see _storable)."""
    planes = pixels if alpha is None else np.concatenate([pixels, alpha[..., None]], axis=2)
    if planes.shape[2] == 1:
        planes = planes[..., 0]
    return Image.fromarray(np.ascontiguousarray(planes))


def _save_options(fmt: str, info: ImageInfo, jpeg_quality: int) -> dict[str, Any]:
    """Per-format save options.

    JPEG uses 4:4:4 chroma: restored colour detail is the point of the pipeline. WEBP is
    always written lossy at ``jpeg_quality`` (Pillow does not report whether the input was
    lossless); ``exact`` keeps colour under transparent pixels. TIFF is deflate-compressed.
    """
    options: dict[str, Any] = {}
    if info.icc_profile:
        options["icc_profile"] = info.icc_profile
    if info.exif and fmt != "TIFF":
        options["exif"] = info.exif
    if fmt == "JPEG":
        options.update(quality=jpeg_quality, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=jpeg_quality, exact=True)
    elif fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    return options


def _canonical(fmt: str) -> str:
    """Pillow's spelling of a format name; accepts jpg/tif and treats MPO as the JPEG it is."""
    upper = fmt.upper()
    return _ALIASES.get(upper, upper)


def output_format(info: ImageInfo, requested: str | None = None) -> str:
    """The format encode writes: ``requested`` if given, else the input's, else PNG."""
    return written_format(info.format, requested)


def written_format(input_format: str, requested: str | None = None) -> str:
    """``output_format`` from the input's format name alone (known before decoding)."""
    if requested is not None:
        fmt = _canonical(requested)
        if fmt not in WRITABLE_FORMATS:
            raise ValueError(f"cannot write {requested!r}; writable: {', '.join(WRITABLE_FORMATS)}")
        return fmt
    fmt = _canonical(input_format)
    return fmt if fmt in WRITABLE_FORMATS else "PNG"


def extension_for(format: str) -> str:
    """File extension for a Pillow format name: "JPEG" -> ".jpg", "TIFF" -> ".tif"."""
    try:
        return _EXTENSIONS[_canonical(format)]
    except KeyError:
        raise ValueError(f"no extension known for format {format!r}") from None
