"""The inference path must import and run without torch: GPU workers carry onnxruntime only."""

import subprocess
import sys
import textwrap

RUNTIME_MODULES = [
    "aepipe.bench",
    "aepipe.codec",
    "aepipe.codec.anchors",
    "aepipe.codec.model",
    "aepipe.evaluation",
    "aepipe.evaluation.rd",
    "aepipe.cli",
    "aepipe.demo",
    "aepipe.images",
    "aepipe.pipeline",
    "aepipe.pipeline.run",
    "aepipe.reports",
    "aepipe.runtime.registry",
    "aepipe.runtime.session",
    "aepipe.runtime.tiling",
    "aepipe.storage",
    "aepipe.storage.s3",
    "aepipe.tasks",
    "aepipe.tasks.codec",
    "flows.process_images",
]

SCRIPT = textwrap.dedent(
    """
    import importlib, io, sys
    import importlib.abc

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith(("torch.", "torchvision")):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)")

    sys.meta_path.insert(0, NoTorch())
    for name in sys.argv[1:]:
        importlib.import_module(name)

    import numpy as np
    from PIL import Image
    from aepipe.images import decode
    from aepipe.tasks import build_task

    buffer = io.BytesIO()
    Image.fromarray(np.full((24, 24, 3), 120, np.uint8)).save(buffer, format="PNG")
    image = decode(buffer.getvalue(), "x.png")
    assert build_task("denoise", noise_level=10.0).apply(image).pixels.shape == (24, 24, 3)
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    print("ok")
    """
)


def test_runtime_imports_and_denoises_with_torch_unimportable():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *RUNTIME_MODULES],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
