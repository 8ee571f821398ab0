"""The pictures of ``report.html``: a bounded number of thumbnails read back from storage.

    most anomalous        input and heatmap of the highest ``anomaly_score`` rows
    out of domain         inputs the trust check flagged (``out_of_domain``)
    largest marks         input and output (a mask, or the cleaned image) of the largest
                          ``mask_area`` rows of segment, unwatermark and inpaint runs
    most / least changed  input and output of the lowest / highest PSNR (output vs input)
    embedding map         an embed run's vectors on their principal plane, with thumbnails

At most ``per_gallery`` items each, whatever the run's size; an image that cannot be read
back (deleted meanwhile, an ``.aec`` stream) is shown without that thumbnail.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from aepipe.errors import AepipeError
from aepipe.images import as_dtype, as_rgb, decode
from aepipe.runtime.reports.html import Gallery, GalleryItem, Thumbnail
from aepipe.runtime.reports.plots import principal_plane, projection_png, spread_points
from aepipe.runtime.reports.rows import ReportRow, RowStatus
from aepipe.runtime.reports.vectors import VectorSample
from aepipe.storage import Storage

THUMBNAIL_SIDE = 192
PROJECTION_SIDE = 48  # thumbnails drawn on the embedding map
SHEET_CELL = 96  # side of one image on a contact sheet
PER_GALLERY = 8
THUMBNAIL_THREADS = 4


def thumbnail_png(data: bytes, key: str, side: int = THUMBNAIL_SIDE) -> bytes:
    """An 8-bit RGB PNG of at most ``side`` px a side of the image in ``data``.

    Lossless (a report about restoration must not add artefacts of its own) but fast: zlib
    level 1 is about 15 % larger than ``optimize=True`` and a third of its time, which was
    most of a 24-image run's report (2.8 of 5.0 s)."""
    buffer = io.BytesIO()
    _thumbnail(data, key, side).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _thumbnail(data: bytes, key: str, side: int) -> Image.Image:
    image = decode(data, key)
    picture = Image.fromarray(as_rgb(as_dtype(image.pixels, "uint8")))
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    return picture


def contact_sheet(keys: Sequence[str], storage: Storage, columns: int = 8) -> bytes | None:
    """The images ``keys`` (small ones: generated thumbnails) on one grid PNG, each shown at
    ``SHEET_CELL`` px (nearest-neighbour, so their pixels stay visible); None without any."""
    cells = []
    for key in keys:
        try:
            cells.append(
                _thumbnail(storage.read(key), key, SHEET_CELL).resize(
                    (SHEET_CELL, SHEET_CELL), Image.Resampling.NEAREST
                )
            )
        except AepipeError:
            continue
    if not cells:
        return None
    rows = math.ceil(len(cells) / columns)
    sheet = Image.new(
        "RGB", (min(len(cells), columns) * (SHEET_CELL + 2), rows * (SHEET_CELL + 2)), "white"
    )
    for i, cell in enumerate(cells):
        sheet.paste(cell, ((i % columns) * (SHEET_CELL + 2), (i // columns) * (SHEET_CELL + 2)))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def embedding_map(sample: VectorSample, source: Storage) -> bytes:
    """The run's vectors on their principal plane, with thumbnails of images spread over it
    (read back from SOURCE; one that cannot be read is a dot like the others)."""
    points = principal_plane(sample.vectors)
    pictures = {}
    for index in spread_points(points):
        key = sample.keys[index]
        try:
            pictures[index] = np.asarray(_thumbnail(source.read(key), key, PROJECTION_SIDE))
        except AepipeError:
            continue
    return projection_png(points, sample.total, pictures)


def build_galleries(
    rows: Sequence[ReportRow], source: Storage, dest: Storage, per_gallery: int = PER_GALLERY
) -> list[Gallery]:
    done = [r for r in rows if r.status is RowStatus.OK]
    galleries = []
    # Each item reads one or two objects and makes thumbnails of them: threads overlap the
    # reads, and Pillow's decoders and encoders release the GIL (a 24-image run's galleries:
    # 1.4 s one after the other).
    with ThreadPoolExecutor(THUMBNAIL_THREADS, thread_name_prefix="aepipe-gallery") as pool:

        def items(
            chosen: Sequence[ReportRow], output: str, caption: Callable[[ReportRow], str]
        ) -> list[GalleryItem]:
            return list(pool.map(lambda r: _item(r, source, dest, output, caption), chosen))

        scored = [r for r in done if _number(r, "anomaly_score") is not None]
        if scored:
            top = sorted(scored, key=lambda r: -(_number(r, "anomaly_score") or 0))[:per_gallery]
            galleries.append(Gallery("Most anomalous", items(top, "heatmap", _anomaly)))
        masked = [r for r in done if _number(r, "mask_area")]
        if masked:
            top = sorted(masked, key=lambda r: -(_number(r, "mask_area") or 0))[:per_gallery]
            galleries.append(
                Gallery("Largest detected marks and holes", items(top, "output", _mask))
            )
        flagged = [r for r in done if r.extra.get("out_of_domain") is True][:per_gallery]
        if flagged:
            title = "Inputs outside the models' training domain"
            galleries.append(Gallery(title, items(flagged, "output", _domain)))
        changed = [r for r in done if r.psnr is not None and "anomaly_score" not in r.extra]
        if changed:
            by_psnr = sorted(changed, key=lambda r: r.psnr if r.psnr is not None else math.inf)
            least = [r for r in reversed(by_psnr) if r not in by_psnr[:per_gallery]][:per_gallery]
            for title, chosen in (
                ("Most changed by the model (lowest PSNR output vs input)", by_psnr[:per_gallery]),
                ("Least changed", least),
            ):
                galleries.append(Gallery(title, items(chosen, "output", _psnr)))
    return galleries


def _number(row: ReportRow, name: str) -> float | None:
    value = row.to_dict().get(name)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _anomaly(row: ReportRow) -> str:
    flag = "anomalous" if row.extra.get("anomalous") else "normal"
    return f"anomaly_score {row.extra.get('anomaly_score')} ({flag})"


def _mask(row: ReportRow) -> str:
    return f"mask_area {row.extra.get('mask_area', 0):.2%}"


def _domain(row: ReportRow) -> str:
    return f"domain_score {row.extra.get('domain_score')}"


def _psnr(row: ReportRow) -> str:
    return "identical" if row.psnr == math.inf else f"PSNR output vs input {row.psnr:.2f} dB"


def _item(
    row: ReportRow,
    source: Storage,
    dest: Storage,
    output_label: str,
    caption: Callable[[ReportRow], str],
) -> GalleryItem:
    thumbnails = [_read(source, row.key, "input")]
    if row.output_key:
        thumbnails.append(_read(dest, row.output_key, output_label))
    return GalleryItem(row.key, caption(row), [t for t in thumbnails if t is not None])


def _read(storage: Storage, key: str, label: str) -> Thumbnail | None:
    try:
        return Thumbnail(label, thumbnail_png(storage.read(key), key))
    except AepipeError:
        return None
