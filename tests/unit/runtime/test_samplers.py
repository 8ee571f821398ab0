"""Samplers of generative models: each image from its own seed pair, a VAE's Gaussian
latents, a VQ-VAE's code maps from its prior or from code frequencies."""

import numpy as np
import pytest
from modelfactory import counting_code_model, gaussian_decoder

from aepipe.errors import ModelError
from aepipe.runtime.generation.samplers import CodeSampler, generators, load_sampler
from aepipe.runtime.model.card import ModelCard

CARD = ModelCard(
    name="tiny-gen", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4, 4)
)
CODES = ModelCard(name="tiny-gen", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4))


def test_an_image_depends_on_its_seed_pair_only(tmp_path):
    sampler = load_sampler(str(gaussian_decoder(tmp_path / "vae.decoder.onnx", CARD)))
    batch = sampler.draw(generators(7, [0, 1, 2]))
    assert batch.shape == (3, 16, 16, 3) and batch.dtype == np.uint8
    alone = sampler.draw(generators(7, [2]))
    assert np.array_equal(alone[0], batch[2])  # whatever batch it was drawn in
    assert not np.array_equal(sampler.draw(generators(8, [2]))[0], batch[2])
    assert not np.array_equal(batch[0], batch[1])
    assert np.array_equal(batch[0][:4, :4], np.broadcast_to(batch[0][0, 0], (4, 4, 3)))


def test_the_prior_draws_code_maps_position_by_position(tmp_path):
    sampler = load_sampler(str(counting_code_model(tmp_path / "vq", CODES)))
    assert isinstance(sampler, CodeSampler) and "+" in sampler.sha256  # decoder and prior
    [image] = sampler.draw(generators(0, [0]))
    codes = np.rint(image[::4, ::4, 0] / 255 * 3).astype(int)  # 4 x 4 map, raster order
    assert codes.reshape(-1).tolist() == [i % 4 for i in range(16)]


def test_without_the_prior_codes_come_independently_from_their_frequencies(tmp_path):
    sampler = load_sampler(str(counting_code_model(tmp_path / "vq", CODES)), prior="frequencies")
    images = sampler.draw(generators(0, range(50)))
    codes = np.rint(images[:, ::4, ::4, 0] / 255 * 3).astype(int).reshape(50, -1)
    counting = [i % 4 for i in range(16)]
    assert not any(row.tolist() == counting for row in codes)
    assert np.bincount(codes.reshape(-1), minlength=4).min() > 150  # 800 draws, 1/4 each


def test_a_code_decoder_without_its_prior_is_refused_by_name(tmp_path):
    decoder = counting_code_model(tmp_path / "lonely", CODES)
    (tmp_path / "lonely.prior.onnx").unlink()
    with pytest.raises(ModelError, match=r"tiny-gen .*no prior"):
        load_sampler(str(decoder))


def test_a_decoder_without_a_code_shape_is_refused(tmp_path):
    card = ModelCard(name="sizeless", task="generate", pad_multiple=4)
    sampler = load_sampler(str(gaussian_decoder(tmp_path / "x.decoder.onnx", card)))
    with pytest.raises(ModelError, match=r"sizeless.*code shape"):
        sampler.draw(generators(0, [0]))
