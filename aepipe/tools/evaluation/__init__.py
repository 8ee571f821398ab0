"""``aepipe eval``: quality and speed of a model against classical baselines, same images.

Numpy, OpenCV, bm3d and scikit-image only: no torch, so it runs wherever the runtime runs.
Restoration protocols are in :mod:`.protocol`, the learned codec's curves in :mod:`.compression`.
"""

from aepipe.tools.evaluation.methods import Method
from aepipe.tools.evaluation.protocol import EvalConfig, EvalError
from aepipe.tools.evaluation.report import EvalReport
from aepipe.tools.evaluation.restoration import run_eval

__all__ = ["EvalConfig", "EvalError", "EvalReport", "Method", "run_eval"]
