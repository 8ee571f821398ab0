"""The tasks ``--task`` can name: one table, so no module spells a task as a bare string."""

from __future__ import annotations

from enum import StrEnum


class TaskName(StrEnum):
    IDENTITY = "identity"  # the tiling path with no model: the pipeline's test double
    DENOISE = "denoise"
    UNWATERMARK = "unwatermark"
    SUPERRES = "superres"
    COMPRESS = "compress"  # image -> .aec with the learned codec
    DECOMPRESS = "decompress"  # .aec -> PNG with the codec its header names
    ANOMALY = "anomaly"  # score against a model of normal images; heatmap PNG out
    SEGMENT = "segment"  # where a mask model finds a watermark; mask PNG out
    INPAINT = "inpaint"  # fill the holes (transparency, or what the segmenter masks)
    EMBED = "embed"  # one vector per image (an encoder); embeddings.parquet, no image out


#: What ``segment`` writes for each image and ``inpaint`` reads beside it (white = mark/hole).
MASK_EXTENSION = ".mask.png"
#: Tasks whose inputs may have a sibling object beside them in SOURCE (inpaint: the hole as
#: ``<stem>.mask.png``): fetched with each input, and never an input themselves.
SIBLING_SUFFIXES = {TaskName.INPAINT: MASK_EXTENSION}

#: Image-to-image tasks served by one tiled ONNX model each (``RestoreTask``).
RESTORATION_TASKS = (TaskName.DENOISE, TaskName.UNWATERMARK, TaskName.SUPERRES)
#: The learned codec's two directions; their models are one zoo entry with two parts.
CODEC_TASKS = (TaskName.COMPRESS, TaskName.DECOMPRESS)
