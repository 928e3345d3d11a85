"""Layer 4: video and photos in, annotated media and data out. Media I/O, the frame pipeline
(detect, track, crop, predict, smooth, draw), tracking, smoothing, per-frame records, drawing.

``fsanet.video`` was a module in 1.1; its names still resolve here, with a ``DeprecationWarning``.
"""

from fsanet._moved import forward_old_names

__getattr__ = forward_old_names(__name__, {
    **dict.fromkeys(("VIDEO_SUFFIXES", "default_image", "write_image", "Source", "prefetched",
                     "VideoOutput", "display_available"), "fsanet.video.media"),
    "InputError": "fsanet.errors",
})
