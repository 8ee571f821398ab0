"""compress then decompress through the process_images flow, and the same files through the CLI.

The learned codec must give the same ``.aec`` bytes and the same decoded PNG whichever way it
is called, rows must carry the rate–distortion fields, and bad inputs must become error rows.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from imagefactory import save
from PIL import Image

from aepipe.cli import main
from aepipe.images import decode
from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.codec.container import pack, unpack
from aepipe.runtime.codec.learned import load_codec
from flows.process_images import process_images

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def photo(seed: int, height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / 40
    base = np.stack([np.sin(x + seed), np.cos(y), np.sin(x + y)], axis=2)
    return np.clip(128 + 90 * base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(save(photo(0, 96, 128)))
    rgba = np.dstack([photo(1, 48, 64), np.full((48, 64), 180, np.uint8)])
    (folder / "b.png").write_bytes(save(Image.fromarray(rgba)))
    (folder / "c.jpg").write_bytes(save(photo(2, 40, 56)[..., 0], "JPEG"))
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder


def rows_of(summary) -> list[dict]:
    with open(f"{summary['report']}/rows.jsonl") as handle:
        return [json.loads(line) for line in handle]


def test_compress_then_decompress_via_flow_matches_cli(prefect_harness, source, tmp_path, capsys):
    coded, decoded = tmp_path / "aec", tmp_path / "png"
    summary = process_images(str(source), str(coded), "compress", rate=2)
    assert summary["counts"] == {"ok": 3, "error": 1, "skipped": 0, "planned": 0}
    rows = {r["key"]: r for r in rows_of(summary)}
    assert "broken.png" in rows["broken.png"]["error"]
    for key in ("a.png", "b.png", "c.jpg"):
        row = rows[key]
        assert row["output_key"].endswith(".aec") and row["bpp"] > 0
        assert 0 < row["ms_ssim"] <= 1 and row["psnr"] > 15
        assert "webp_psnr_at_bpp" in row and "jpeg_psnr_at_bpp" in row

    again = process_images(str(source), str(coded), "compress", rate=2)
    assert again["counts"] == {"ok": 0, "error": 1, "skipped": 3, "planned": 0}

    summary = process_images(str(coded), str(decoded), "decompress")
    assert summary["counts"] == {"ok": 3, "error": 0, "skipped": 0, "planned": 0}
    restored = decode((decoded / "b.png").read_bytes(), "b.png")
    assert restored.alpha is not None and np.all(restored.alpha == 180)
    assert decode((decoded / "c.png").read_bytes(), "c.png").pixels.shape == (40, 56, 1)

    cli_aec, cli_png = tmp_path / "cli.aec", tmp_path / "cli.png"
    assert main(["compress", str(source / "a.png"), str(cli_aec), "--rate", "2"]) == 0
    assert cli_aec.read_bytes() == (coded / "a.aec").read_bytes()
    assert main(["decompress", str(cli_aec), str(cli_png)]) == 0
    assert cli_png.read_bytes() == (decoded / "a.png").read_bytes()
    printed = capsys.readouterr().out.strip().splitlines()
    assert json.loads(printed[0])["bpp"] == rows["a.png"]["bpp"]


def test_a_psnr_target_gives_each_image_the_smallest_file_that_reaches_it(
    prefect_harness, source, tmp_path, capsys
):
    """--target-psnr through the flow: each row's rate is the lowest whose decoded file reaches
    the target (the rate below it does not), or the highest with target_met false; the
    one-file CLI picks the same rate and writes the same bytes."""
    out = tmp_path / "aec"
    summary = process_images(
        str(source), str(out), "compress", target_psnr=31.0, anchors=False, glob="?.png"
    )
    assert summary["counts"]["ok"] == 2
    for row in rows_of(summary):
        assert row["target_psnr"] == 31.0
        if row["target_met"]:
            assert row["psnr"] >= 31.0
        else:
            assert row["rate"] == 4
        if row["rate"] > 0:  # the rate below would not have been enough
            image = decode((source / row["key"]).read_bytes(), row["key"])
            codec = load_codec(None)
            lower = codec.decompress(codec.compress(image, row["rate"] - 1))
            assert reconstruction_error(image.pixels, lower.pixels)[1] < 31.0
    a_row = next(r for r in rows_of(summary) if r["key"] == "a.png")
    cli_aec = tmp_path / "cli.aec"
    args = ["compress", str(source / "a.png"), str(cli_aec), "--target-psnr", "31"]
    assert main([*args, "--no-anchors"]) == 0
    assert cli_aec.read_bytes() == (out / "a.aec").read_bytes()
    assert json.loads(capsys.readouterr().out.strip().splitlines()[0])["rate"] == a_row["rate"]


def test_decompress_of_a_non_aec_file_is_an_error_row(prefect_harness, source, tmp_path):
    summary = process_images(str(source), str(tmp_path / "out"), "decompress", glob="a.png")
    (row,) = rows_of(summary)
    assert row["status"] == "error" and "a.png" in row["error"] and ".aec" in row["error"]


def forgeries(valid: bytes) -> dict[str, bytes]:
    """Damaged and forged ``.aec`` files, each a different lie; the forged ones have a valid
    CRC, so only the decoder's own checks stand between them and a wrong PNG."""
    header, streams = unpack(valid)
    flipped = bytearray(valid)
    flipped[len(flipped) // 2] ^= 0x10
    return {
        "truncated.aec": valid[: len(valid) * 2 // 3],
        "bit-flipped.aec": bytes(flipped),
        "other-model.aec": pack(replace(header, model_sha256="0" * 16), streams),
        "huge-canvas.aec": pack(replace(header, width=2**20, height=2**11), streams),
        "wrong-latent.aec": pack(replace(header, latent_shape=(1, 1, 1)), streams),
        "no-streams.aec": pack(header, []),
        "renamed-jpeg.aec": save(photo(3, 16, 16), "JPEG"),
    }


def test_damaged_or_forged_aec_gives_error_rows_and_writes_no_png(
    prefect_harness, source, tmp_path
):
    coded, decoded = tmp_path / "aec", tmp_path / "png"
    process_images(str(source), str(coded), "compress", rate=2, glob="a.png")
    for name, data in forgeries((coded / "a.aec").read_bytes()).items():
        (coded / name).write_bytes(data)
    summary = process_images(str(coded), str(decoded), "decompress")
    rows = {r["key"]: r for r in rows_of(summary)}
    assert rows.pop("a.aec")["status"] == "ok"
    for key, row in rows.items():
        assert row["status"] == "error" and key in row["error"], row
    assert sorted(p.name for p in decoded.glob("*.png")) == ["a.png"]


def test_a_failed_upload_is_an_error_row(prefect_harness, source, tmp_path):
    """A DEST that refuses one output (a folder where the file should go) fails that row only."""
    dest = tmp_path / "out"
    (dest / "a.png").mkdir(parents=True)
    summary = process_images(str(source), str(dest), "identity")
    rows = {r["key"]: r for r in rows_of(summary)}
    assert rows["a.png"]["status"] == "error" and "a.png" in rows["a.png"]["error"]
    assert rows["b.png"]["status"] == "ok" and rows["c.jpg"]["status"] == "ok"
