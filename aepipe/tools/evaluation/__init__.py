"""``aepipe eval``: quality and speed of a model against classical baselines, same images.

Numpy, OpenCV, bm3d and scikit-image only: no torch, so it runs wherever the runtime runs.
Restoration protocols are in :mod:`.protocol` (``EvalConfig``), the run in :mod:`.restoration`
(``run_eval``), the learned codec's curves in :mod:`.compression`. This package imports none of
them: every CLI call builds ``eval``'s flags from ``EvalConfig`` alone.
"""
