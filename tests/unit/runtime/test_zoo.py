"""The zoo: one entry per model (parts for multi-file models), sha256 verification, cards."""

import json
import shutil

import numpy as np
import pytest

from aepipe.errors import ModelError
from aepipe.runtime.model import zoo
from aepipe.runtime.model.card import WHOLE_MODEL, ModelCard
from aepipe.runtime.model.zoo import file_sha256, find_model, load_manifest, load_model


def test_every_shipped_part_matches_its_manifest_entry():
    entries = load_manifest()
    assert entries, "the zoo ships at least one model"
    for entry in entries:
        for name, part in entry.parts.items():
            assert file_sha256(part.path) == part.sha256
            model, sha = load_model(entry.card.name, entry.card.task, part=name)
            assert sha == part.sha256
            assert model.card.name == entry.card.name
            if name == WHOLE_MODEL:
                assert model.card == entry.card, "card inside the ONNX differs from the manifest"


def test_one_name_per_model_and_task_networks_ship_under_their_own_name():
    entries = load_manifest()
    names = [e.card.name for e in entries]
    assert len(names) == len(set(names))
    task_networks = [e for e in entries if not e.card.architecture.startswith("ae-")]
    # a variant of a network (other --model-args, e.g. the codec trained for MS-SSIM, or an
    # int8 copy) has a name of its own; the card's command says how it was made
    variants = [
        e
        for e in task_networks
        if "--model-args" in e.card.training_command or e.card.quantized_from
    ]
    assert all(e.card.name == e.card.architecture for e in task_networks if e not in variants)
    assert all(e.card.name.startswith(e.card.architecture.rsplit("-", 1)[0]) for e in variants)


def test_each_task_and_scale_has_at_most_one_default():
    defaults = [(e.card.task, e.card.scale) for e in load_manifest() if e.default]
    assert len(defaults) == len(set(defaults))


def test_superres_default_is_chosen_by_scale():
    assert find_model(None, "superres", 2).label != find_model(None, "superres", 4).label


def test_default_model_for_task_runs_on_cpu():
    model, _ = load_model(None, "denoise")
    assert model.providers[-1] == "CPUExecutionProvider"
    x = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
    y = model.run(x, noise_level=np.full((1, 1, 1, 1), 0.1, np.float32))
    assert y.shape == x.shape and np.isfinite(y).all()


def test_damaged_model_is_refused_before_a_session_exists(tmp_path, monkeypatch):
    entry = next(e for e in load_manifest() if e.default and WHOLE_MODEL in e.parts)
    copy = tmp_path / "zoo"
    shutil.copytree(zoo.ZOO_DIR, copy)
    damaged = copy / entry.parts[WHOLE_MODEL].file
    damaged.write_bytes(damaged.read_bytes() + b"\0")
    monkeypatch.setattr(zoo, "ZOO_DIR", copy)
    monkeypatch.setattr(zoo, "MANIFEST", copy / "manifest.json")
    with pytest.raises(ModelError, match="does not match the manifest"):
        load_model(entry.card.name, entry.card.task)


def test_user_model_by_path_reads_its_card(tmp_path):
    entry = next(e for e in load_manifest() if e.default and WHOLE_MODEL in e.parts)
    own = tmp_path / "mine.onnx"
    shutil.copy(entry.parts[WHOLE_MODEL].path, own)
    model, sha = load_model(str(own), entry.card.task)
    assert sha == entry.parts[WHOLE_MODEL].sha256 and model.card.name == entry.card.name


def test_model_of_another_task_is_refused():
    entry = next(e for e in load_manifest() if e.default and WHOLE_MODEL in e.parts)
    with pytest.raises(ModelError, match="not 'unwatermark'"):
        load_model(entry.card.name, "unwatermark")


def test_a_part_is_refused_where_another_is_expected():
    codec = next(e for e in load_manifest() if "encoder" in e.parts)
    with pytest.raises(ModelError, match="no 'model' part"):
        load_model(codec.card.name, codec.card.task)
    encoder = str(codec.parts["encoder"].path)
    with pytest.raises(ModelError, match="is the 'encoder' part, not 'decoder'"):
        load_model(encoder, codec.card.task, part="decoder")


def test_unknown_model_and_missing_default_are_clear_errors():
    with pytest.raises(ModelError, match="not a registered name"):
        find_model("no-such-model", "denoise")
    with pytest.raises(ModelError, match="no shipped model for task 'anomaly'"):
        find_model(None, "anomaly")


def test_card_round_trips_through_json_and_ignores_unknown_keys():
    card = ModelCard(name="m", task="denoise", scale=2, quality={"Set5 PSNR": 30.5})
    data = {**json.loads(card.to_json()), "future_field": 1}
    assert ModelCard.from_dict(data) == card
