"""Layer 4: datasets. The authors' npz format, 300W-LP / AFLW2000 ("type1") and BIWI preparation,
splits, augmentation, synthetic heads, calibration crops.

``fsanet.data`` was a module in 1.1; its names still resolve here, with a ``DeprecationWarning``.
"""

from fsanet._moved import forward_old_names

__getattr__ = forward_old_names(__name__, {
    **dict.fromkeys(("load_pose_npz", "within_range", "filter_angle_range", "load_pose_sets",
                     "load_sample_names", "write_pose_npz"), "fsanet.data.npz"),
    **dict.fromkeys(("SPLITS_300W_LP", "pair_type1_files", "read_type1_labels", "prepare_type1_sample"),
                    "fsanet.data.type1"),
    **dict.fromkeys(("DatasetError", "SampleError"), "fsanet.errors"),
})
