"""``aepipe eval --task compress`` on two small photos: curves, BD-rate (PSNR and MS-SSIM)
and BD-PSNR."""

from pathlib import Path

import numpy as np
from imagefactory import save

from aepipe.tools.evaluation.compression import CompressEvalConfig, run_compress_eval


def photo(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([x * 2, y * 2, (x + y)], axis=2) % 256
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def test_compress_eval_reports_both_bjontegaard_deltas(tmp_path: Path) -> None:
    for seed in range(2):
        (tmp_path / f"{seed}.png").write_bytes(save(photo(seed)))
    config = CompressEvalConfig(tmp_path, anchors=("jpeg",), plot=tmp_path / "rd.png")
    report = run_compress_eval(config, log=lambda _: None)
    data = report.to_dict()
    assert set(data["bd_rate_psnr_percent"]) == set(data["bd_psnr_db"]) == {"jpeg"}
    rate, psnr = data["bd_rate_psnr_percent"]["jpeg"], data["bd_psnr_db"]["jpeg"]
    assert rate is not None and psnr is not None  # these curves overlap in rate and PSNR
    assert (rate < 0) == (psnr > 0)  # fewer bits at equal PSNR <=> more dB at equal bits
    assert "BD-rate and BD-PSNR" in report.markdown()
    assert "at equal MS-SSIM" in report.markdown()
    assert set(data["bd_rate_ms_ssim_percent"]) == {"jpeg"}
    assert (tmp_path / "rd.png").stat().st_size > 0
