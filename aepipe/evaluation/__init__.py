"""``aepipe eval``: restoration quality (PSNR/SSIM) and speed against classical baselines.

Numpy, OpenCV, bm3d and scikit-image only: no torch, so it runs wherever the runtime runs.
"""

from aepipe.evaluation.run import EvalConfig, EvalError, EvalReport, Method, run_eval

__all__ = ["EvalConfig", "EvalError", "EvalReport", "Method", "run_eval"]
