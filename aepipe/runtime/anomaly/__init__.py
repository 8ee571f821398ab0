"""Anomaly detection at run time: the score definition, its calibration, the heatmap."""
