"""process_chunk on local folders: rows for every key, errors isolated, resume by provenance."""

import hashlib
import threading
import time

import numpy as np
from imagefactory import save

from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import chunk as chunk_module
from aepipe.runtime.pipeline import chunked, output_key, process_chunk
from aepipe.runtime.pipeline.chunk import (
    SOURCE_KEY_METADATA,
    SOURCE_VERSION_METADATA,
    output_metadata,
    predicted_output_key,
    source_versions,
)
from aepipe.runtime.reports import RowStatus
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import open_storage

IDENTITY = build_task(TaskOptions(task="identity", tile=32, overlap=8))


def make_source(folder) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {
        "a.png": save(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)),
        "sub/b.jpg": save(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), "JPEG"),
        "sub/c.gif": save(rng.integers(0, 255, (9, 9), dtype=np.uint8), "GIF"),
        "broken.png": save(np.zeros((8, 8), np.uint8))[:40],
        "notes.png": b"not an image at all",
    }
    for key, data in files.items():
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(data)
    return files


def digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run(src, dst, **settings):
    source, dest = open_storage(str(src)), open_storage(str(dst))
    keys = list(source.list())
    return process_chunk(keys, source, dest, IDENTITY, ChunkOptions(**settings))


def test_every_key_gets_a_row_and_bad_images_do_not_stop_the_batch(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    before = digest(src)
    rows = {r.key: r for r in run(src, dst)}
    assert {k: r.status for k, r in rows.items()} == {
        "a.png": RowStatus.OK,
        "broken.png": RowStatus.ERROR,
        "notes.png": RowStatus.ERROR,
        "sub/b.jpg": RowStatus.OK,
        "sub/c.gif": RowStatus.OK,
    }
    assert "broken.png" in rows["broken.png"].error and "notes.png" in rows["notes.png"].error
    assert rows["sub/c.gif"].output_key == "sub/c.png"  # GIF is written as PNG
    assert (dst / "a.png").exists() and (dst / "sub/b.jpg").exists()
    assert rows["a.png"].psnr == float("inf") and rows["a.png"].bytes_out > 0
    assert digest(src) == before, "inputs must never be modified"


def test_second_run_skips_done_images_and_overwrite_redoes_them(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    run(src, dst)
    second = {r.key: r.status for r in run(src, dst)}
    assert second["a.png"] is RowStatus.SKIPPED and second["sub/c.gif"] is RowStatus.SKIPPED
    assert second["broken.png"] is RowStatus.ERROR  # never succeeded, so tried again
    third = {r.key: r.status for r in run(src, dst, overwrite=True)}
    assert third["a.png"] is RowStatus.OK


def test_a_finished_output_is_skipped_only_with_all_its_provenance(tmp_path):
    """Each provenance field alone decides: an output that differs in just one is redone."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    dest = open_storage(str(dst))
    expected = output_metadata(
        IDENTITY.provenance, "a.png", source_versions("a.png", open_storage(str(src)), IDENTITY)
    )
    assert set(expected) == {
        "aepipe-model-sha256",
        "aepipe-params",
        SOURCE_KEY_METADATA,
        SOURCE_VERSION_METADATA,
    }
    dest.write("a.png", b"done", expected)
    assert {r.key: r.status for r in run(src, dst)}["a.png"] is RowStatus.SKIPPED
    for field in expected:
        dest.write("a.png", b"stale", {**expected, field: "other"})
        rows = {r.key: r.status for r in run(src, dst)}
        assert rows["a.png"] is RowStatus.OK, field
        assert (dst / "a.png").read_bytes() != b"stale", field


def test_a_replaced_input_is_redone_not_skipped(tmp_path):
    """Same key, new content: the output of the old image must not stand for the new one."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    run(src, dst)
    replacement = np.full((20, 30, 3), 7, np.uint8)
    (src / "a.png").write_bytes(save(replacement))
    rows = {r.key: r.status for r in run(src, dst)}
    assert rows["a.png"] is RowStatus.OK and rows["sub/b.jpg"] is RowStatus.SKIPPED
    assert (dst / "a.png").read_bytes() == (src / "a.png").read_bytes()  # identity: the new one


def test_dry_run_reads_and_writes_nothing(tmp_path):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    rows = run(src, dst, dry_run=True)
    assert {r.status for r in rows} == {RowStatus.PLANNED}
    assert not dst.exists() or not any(dst.iterdir())


def test_output_keys_and_chunking():
    assert output_key("dir/photo.jpeg", ".jpg") == "dir/photo.jpg"
    assert predicted_output_key("x/scan.TIF", IDENTITY, ChunkOptions()) == "x/scan.tif"
    assert predicted_output_key("x/anim.gif", IDENTITY, ChunkOptions()) == "x/anim.png"
    assert predicted_output_key("noext", IDENTITY, ChunkOptions()) is None
    assert list(chunked(iter(range(7)), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_max_pixels_turns_bigger_images_into_error_rows(tmp_path):
    """--max-pixels (the decompression-bomb guard) reaches the decoder through the options."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_source(src)
    rows = {r.key: r for r in run(src, dst, max_pixels=500)}  # a.png is 30 x 20 = 600 pixels
    assert rows["a.png"].status is RowStatus.ERROR
    assert "600 pixels exceeds the limit of 500" in rows["a.png"].error
    assert rows["sub/b.jpg"].status is RowStatus.OK and not (dst / "a.png").exists()


class Recording:
    """The identity task, noting which thread decodes and encodes each key, and how many
    outputs exist that are not encoded yet (the pixels a run holds beside the model)."""

    def __init__(self, fail_encoding: str = "") -> None:
        self.threads: dict[tuple[str, str], str] = {}
        self.key_of: dict[int, str] = {}  # id of a decoded image or an output -> its key
        self.fail_encoding = fail_encoding
        self.waiting = self.most_waiting = 0
        self.lock = threading.Lock()

    def __getattr__(self, name: str):
        return getattr(IDENTITY, name)

    def read(self, data, key, max_pixels, sibling=None):
        self.threads["read", key] = threading.current_thread().name
        image = IDENTITY.read(data, key, max_pixels, sibling)
        self.key_of[id(image)] = key
        return image

    def apply(self, image):
        result = IDENTITY.apply(image)
        self.key_of[id(result)] = self.key_of[id(image)]
        with self.lock:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        return result

    def write(self, output, info, options):
        key = self.key_of[id(output)]
        self.threads["write", key] = threading.current_thread().name
        time.sleep(0.01)  # encoding slower than the model: outputs queue up
        with self.lock:
            self.waiting -= 1
        if key == self.fail_encoding:
            raise OSError("disk full while encoding")
        return IDENTITY.write(output, info, options)


def small_pngs(folder, count: int) -> list[str]:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        (folder / f"{i:02d}.png").write_bytes(save(rng.integers(0, 255, (24, 24, 3), np.uint8)))
    return sorted(p.name for p in folder.iterdir())


def test_small_images_are_decoded_and_encoded_beside_the_model(tmp_path):
    keys = small_pngs(tmp_path / "in", 12)
    task = Recording()
    source, dest = open_storage(str(tmp_path / "in")), open_storage(str(tmp_path / "out"))
    rows = process_chunk(keys, source, dest, task, ChunkOptions(io_threads=2, read_ahead=4))
    assert [r.status for r in rows] == [RowStatus.OK] * 12
    assert all(name.startswith("aepipe-io") for name in task.threads.values())
    assert task.most_waiting <= 2 + 1  # io_threads outputs queued, plus the one just made
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == keys


def test_large_images_stay_on_the_model_thread(tmp_path, monkeypatch):
    monkeypatch.setattr(chunk_module, "PARALLEL_CODEC_PIXELS", 100)  # 24 x 24 is "large"
    keys = small_pngs(tmp_path / "in", 3)
    task = Recording()
    source, dest = open_storage(str(tmp_path / "in")), open_storage(str(tmp_path / "out"))
    rows = process_chunk(keys, source, dest, task, ChunkOptions())
    assert [r.status for r in rows] == [RowStatus.OK] * 3
    assert set(task.threads.values()) == {threading.current_thread().name}


def test_an_encoding_failure_on_an_io_thread_is_that_image_s_error_row(tmp_path):
    keys = small_pngs(tmp_path / "in", 4)
    task = Recording(fail_encoding="01.png")
    source, dest = open_storage(str(tmp_path / "in")), open_storage(str(tmp_path / "out"))
    rows = {r.key: r for r in process_chunk(keys, source, dest, task, ChunkOptions())}
    assert rows["01.png"].status is RowStatus.ERROR and "disk full" in rows["01.png"].error
    assert not rows["01.png"].output_key and not (tmp_path / "out" / "01.png").exists()
    assert all(rows[k].status is RowStatus.OK for k in keys if k != "01.png")
