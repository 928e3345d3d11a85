"""Paper Figure 5 (``fsanet heatmaps``): structure-map heatmaps over a face.

    python demo/structure_heatmaps.py --image face.jpg --output out/figure5.png
    python demo/structure_heatmaps.py                        # the built-in astronaut photo
"""

from fsanet.cli import exit_with, run_command

if __name__ == "__main__":
    exit_with(run_command("heatmaps", prog="demo/structure_heatmaps.py"))
