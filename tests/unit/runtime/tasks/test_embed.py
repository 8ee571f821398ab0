"""``--task embed``: one vector per image from an encoder, its reconstruction error from the
decoder beside it, nothing written per image."""

import numpy as np
import pytest
from imagefactory import save
from modelfactory import block_mean_embedder, photo_like

from aepipe.errors import ModelError
from aepipe.images import decode
from aepipe.images.resample import square_thumbnail
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import process_chunk
from aepipe.runtime.reports.rows import VECTOR_FIELD
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import open_storage

CARD = ModelCard(name="block-mean", task="embed", thumbnail=32)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> str:
    return str(block_mean_embedder(tmp_path_factory.mktemp("embed") / "blocks", CARD))


def test_the_vector_is_the_encoders_code_of_the_whole_image_as_a_thumbnail(encoder):
    pixels = photo_like(np.random.default_rng(0), 90, 160)
    output = build_task(TaskOptions(task="embed", model=encoder)).apply(decode(save(pixels), "p"))
    thumbnail = square_thumbnail(pixels, 32)
    expected = thumbnail.reshape(4, 8, 4, 8, 3).mean(axis=(1, 3)).transpose(2, 0, 1).reshape(-1)
    vector = output.fields[VECTOR_FIELD]
    assert vector.shape == (48,) and output.fields["embedding_dim"] == 48
    np.testing.assert_allclose(vector, expected, atol=1e-6)
    # the decoder repeats each block's mean: the error is the thumbnail's variance in blocks
    blocks = np.repeat(np.repeat(expected.reshape(3, 4, 4), 8, 1), 8, 2).transpose(1, 2, 0)
    mse = float(np.mean((thumbnail - blocks) ** 2))
    assert output.fields["reconstruction_mse"] == pytest.approx(mse, rel=1e-4)
    assert output.fields["reconstruction_psnr"] == pytest.approx(10 * np.log10(1 / mse), rel=1e-4)
    assert output.compare_to_input is False


def test_gray_16_bit_and_rgba_images_embed_like_their_8_bit_rgb_selves(encoder):
    task = build_task(TaskOptions(task="embed", model=encoder))
    gray = photo_like(np.random.default_rng(1), 64, 64)[..., 0]
    rgb = np.dstack([gray] * 3)
    as_rgb = task.apply(decode(save(rgb), "rgb")).fields[VECTOR_FIELD]
    alpha = np.full((64, 64), 200, np.uint8)
    for variant in (gray, gray.astype(np.uint16) * 257, np.dstack([rgb, alpha])):
        vector = task.apply(decode(save(variant), "v")).fields[VECTOR_FIELD]
        np.testing.assert_allclose(vector, as_rgb, atol=1e-6)


def test_without_a_decoder_beside_the_encoder_rows_have_no_reconstruction_error(tmp_path):
    path = block_mean_embedder(tmp_path / "lonely", CARD)
    (tmp_path / "lonely.decoder.onnx").unlink()
    fields = (
        build_task(TaskOptions(task="embed", model=str(path)))
        .apply(decode(save(photo_like(np.random.default_rng(2))), "p"))
        .fields
    )
    assert fields[VECTOR_FIELD].size == 48 and "reconstruction_psnr" not in fields


def test_a_model_without_a_thumbnail_size_is_refused_by_name(tmp_path):
    path = block_mean_embedder(tmp_path / "sizeless", ModelCard(name="sizeless", task="embed"))
    with pytest.raises(ModelError, match=r"sizeless.*thumbnail"):
        build_task(TaskOptions(task="embed", model=str(path)))


def test_a_chunk_writes_nothing_per_image_and_keeps_going_after_a_bad_one(encoder, tmp_path):
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    (source / "a.png").write_bytes(save(photo_like(np.random.default_rng(3))))
    (source / "bad.png").write_bytes(b"not an image")
    task = build_task(TaskOptions(task="embed", model=encoder))
    rows = process_chunk(
        ["a.png", "bad.png"], open_storage(str(source)), open_storage(str(dest)), task,
        ChunkOptions(),
    )  # fmt: skip
    assert [r.status for r in rows] == ["ok", "error"] and "bad.png" in rows[1].error
    assert rows[0].extra[VECTOR_FIELD].size == 48 and rows[0].output_key == ""
    assert not dest.exists() or not any(dest.rglob("*"))
