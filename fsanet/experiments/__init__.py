"""Layer 6: the paper's experiments. Typed configs (training and evaluation presets), training,
evaluation, metrics, baselines, landmark pose, plots, structure maps.
"""
