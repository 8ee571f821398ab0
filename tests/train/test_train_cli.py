"""`aepipe train` from an S3 prefix, resumed, then `aepipe export` into a zoo the runtime reads."""

import json

import boto3
import numpy as np
import pytest
from imagefactory import save
from tiny_runs import random_images

from aepipe.cli import TRAINING_COMMANDS, main
from aepipe.runtime.model.card import ModelCard

pytestmark = [pytest.mark.train, pytest.mark.integration, pytest.mark.slow]


def test_train_resume_and_export_from_s3(s3_env, s3_bucket, tmp_path, capsys):
    client = boto3.client("s3")
    rng = np.random.default_rng(0)
    for i in range(3):
        image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        client.put_object(Bucket=s3_bucket, Key=f"photos/{i}.png", Body=save(image))
    run = tmp_path / "run"
    common = [
        "--model",
        "sr-x2-srnet",
        "--task",
        "superres-x2",
        "--data",
        f"s3://{s3_bucket}/photos",
    ]
    common += ["--out", str(run), "--batch", "2", "--patch", "16", "--holdout", "1"]
    common += ["--threads", "1", "--val-every", "2"]
    assert main(["train", *common, "--steps", "2"]) == 0
    assert main(["train", *common, "--steps", "4"]) == 0
    assert "resumed" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4]

    zoo = tmp_path / "zoo"
    args = ["export", str(run / "last.pt"), "--name", "sr-test", "--task", "superres"]
    assert main([*args, "--zoo", str(zoo), "--weights", str(tmp_path / "weights")]) == 0
    entry = json.loads((zoo / "manifest.json").read_text())["models"][0]
    card = ModelCard.from_dict(entry["card"])
    assert (card.name, card.task, card.scale, card.architecture) == (
        "sr-test",
        "superres",
        2,
        "sr-x2-srnet",
    )
    assert entry["parts"]["model"]["parity_max_abs_diff"] < 1e-4
    assert (tmp_path / "weights" / "sr-test.pt").exists()


def test_an_embedding_model_at_another_size_trains_exports_and_embeds(tmp_path, capsys):
    photos = random_images(tmp_path / "photos", 40, 56, seed=1)
    run = tmp_path / "run"
    model_args = json.dumps({"widths": [8], "code_channels": 2})
    train = ["train", "--model", "ae-undercomplete", "--model-args", model_args, "--task", "embed"]
    train += ["--data", str(photos), "--out", str(run), "--batch", "2", "--patch", "16"]
    assert main([*train, "--holdout", "1", "--threads", "1", "--steps", "2"]) == 0
    zoo = tmp_path / "zoo"
    export = ["export", str(run / "last.pt"), "--name", "embed-test", "--task", "embed"]
    assert main([*export, "--zoo", str(zoo), "--weights", str(tmp_path / "weights")]) == 0
    entry = json.loads((zoo / "manifest.json").read_text())["models"][0]
    card = ModelCard.from_dict(entry["card"])
    assert card.thumbnail == 16 and set(entry["parts"]) == {"model", "encoder", "decoder"}
    assert "--model-args" in card.training_command  # the card says how to train it again

    from aepipe.images import decode
    from aepipe.runtime.options import TaskOptions
    from aepipe.runtime.tasks.build import build_task

    task = build_task(TaskOptions(task="embed", model=str(zoo / "embed-test.encoder.onnx")))
    image = np.random.default_rng(1).integers(0, 256, (30, 50, 3), np.uint8)
    fields = task.apply(decode(save(image), "x")).fields
    assert fields["embedding_dim"] == 2 * 8 * 8 and fields["reconstruction_psnr"] > 0


@pytest.mark.parametrize("command", sorted(TRAINING_COMMANDS))
def test_training_commands_print_their_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"aepipe {command}" in capsys.readouterr().out
