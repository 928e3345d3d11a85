"""Head pose demo on a webcam, a video, an image or a folder of images.

    python demo/head_pose.py --input 0                                  # webcam 0, window if a display exists
    python demo/head_pose.py --input clip.mp4 --output out/clip_pose.mp4 --every 5
    python demo/head_pose.py --input photos/ --output out/ --detector dlib

Same program as ``python -m fsanet``; see ``fsanet.demo`` for what happens per frame.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fsanet.demo import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="demo/head_pose.py"))
