"""``aepipe eval --task embed``: models against PCA of the same code size, on reconstruction
and on finding augmented copies."""

import numpy as np
import pytest
from imagefactory import save
from modelfactory import block_mean_embedder, photo_like

from aepipe.runtime.model.card import ModelCard
from aepipe.tools.evaluation import embed
from aepipe.tools.evaluation.embed import EmbedEvalConfig, augmented_copy, run_embed_eval, views


def folder(path, count: int, seed: int):
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        (path / f"i{i:02d}.png").write_bytes(save(photo_like(rng, 64 + 4 * i, 96)))
    return path


def test_linear_codes_lose_to_pca_of_their_size_and_every_figure_is_measured(tmp_path, monkeypatch):
    monkeypatch.setattr(embed, "FIT_THUMBNAILS", 300)

    def card(name: str) -> ModelCard:
        return ModelCard(name=name, task="embed", thumbnail=16)  # small: a quick PCA

    fine = block_mean_embedder(tmp_path / "fine", card("fine"), block=4)
    coarse = block_mean_embedder(tmp_path / "coarse", card("coarse"), block=8)
    config = EmbedEvalConfig(
        folder(tmp_path / "test", 6, 1), [str(fine), str(coarse)], folder(tmp_path / "fit", 8, 2),
        views=3,
    )  # fmt: skip
    report = run_embed_eval(config)
    assert [(r.model, r.code_size) for r in report.rows] == [("fine", 48), ("coarse", 12)]
    assert report.images == 6 and report.thumbnails == 6 * 4 and report.side == 16
    for row in report.rows:
        assert row.model_psnr is not None
        # block means are one linear code of that size; PCA is the best linear code for
        # thumbnails like these, so it keeps at least as much (a little slack: held-out images)
        assert row.pca_psnr > row.model_psnr - 0.5
        assert 0 <= row.model_recall <= 1 and 0 <= row.pca_recall <= 1
    assert report.rows[0].model_psnr > report.rows[1].model_psnr  # a larger code keeps more
    assert 0 <= report.pixel_recall <= 1
    table = report.markdown()
    assert "| fine |" in table and "| coarse |" in table and "recall@1" in table


def test_views_and_copies_are_what_the_protocol_says():
    rng = np.random.default_rng(0)
    image = photo_like(rng, 120, 200)
    thumbnails = views(image, 32, 5, rng)
    assert len(thumbnails) == 5 and all(t.shape == (32, 32, 3) for t in thumbnails)
    assert all(t.dtype == np.float32 and t.min() >= 0 and t.max() <= 1 for t in thumbnails)
    copy = augmented_copy(image, rng)
    assert copy.dtype == np.uint8 and copy.shape[2] == 3
    assert 0.75 * 120 - 1 <= copy.shape[0] <= 0.95 * 120 + 1
    assert not np.array_equal(copy, image[: copy.shape[0], : copy.shape[1]])
    small = photo_like(rng, 20, 24)  # smaller than a thumbnail: whole-image crops
    assert all(t.shape == (32, 32, 3) for t in views(small, 32, 2, rng))


@pytest.mark.parametrize("rows", [1, 3])
def test_recall_finds_each_query_s_own_row(rows):
    database = np.eye(4, dtype=np.float32)
    queries = database[:rows] + 0.1
    assert embed._recall(database, queries) == 1.0
    assert embed._recall(database, queries[::-1].copy()) < 1.0 or rows == 1
