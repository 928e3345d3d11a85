"""Head pose demo on a webcam, a video, an image or a folder of images: ``fsanet demo``.

    python demo/head_pose.py --input 0                                  # webcam 0, window if a display exists
    python demo/head_pose.py --input clip.mp4 --output out/clip_pose.mp4 --every 5
    python demo/head_pose.py --input photos/ --output out/ --detector dlib
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("demo", prog="demo/head_pose.py"))
