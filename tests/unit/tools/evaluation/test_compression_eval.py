"""``aepipe eval --task compress`` on two small photos: curves, BD-rate (PSNR and MS-SSIM)
and BD-PSNR."""

from pathlib import Path

import numpy as np
import pytest
from imagefactory import save

from aepipe.tools.evaluation.compression import CompressEvalConfig, run_compress_eval
from aepipe.tools.evaluation.rd import bd_psnr, bd_rate, ms_ssim_db


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([x * 2, y * 2, (x + y)], axis=2) % 256
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def pairs(curve, ms_ssim: bool = False) -> list[tuple[float, float]]:
    return [(p.bpp, ms_ssim_db(p.ms_ssim) if ms_ssim else p.psnr) for p in curve]


def test_compress_eval_reports_both_bjontegaard_deltas(tmp_path: Path) -> None:
    for seed in range(2):
        (tmp_path / f"{seed}.png").write_bytes(save(photo(seed)))
    config = CompressEvalConfig(tmp_path, anchors=("jpeg",), plot=tmp_path / "rd.png")
    report = run_compress_eval(config, log=lambda _: None)
    data = report.to_dict()
    assert set(data["bd_rate_psnr_percent"]) == set(data["bd_psnr_db"]) == {"jpeg"}
    rate, psnr = data["bd_rate_psnr_percent"]["jpeg"], data["bd_psnr_db"]["jpeg"]
    assert rate is not None and psnr is not None  # these curves overlap in rate and PSNR
    curves = report.curves()  # the deltas are those of the mean curves (signs: test_rd.py)
    ours, jpeg = curves[report.codec["name"]], curves["jpeg"]
    assert rate == pytest.approx(bd_rate(pairs(jpeg), pairs(ours)))
    assert psnr == pytest.approx(bd_psnr(pairs(jpeg), pairs(ours)))
    by_ms_ssim = data["bd_rate_ms_ssim_percent"]["jpeg"]
    assert by_ms_ssim == pytest.approx(bd_rate(pairs(jpeg, True), pairs(ours, True)))
    assert "BD-rate and BD-PSNR" in report.markdown()
    assert "at equal MS-SSIM" in report.markdown()
    assert (tmp_path / "rd.png").stat().st_size > 0
