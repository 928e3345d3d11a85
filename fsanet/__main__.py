"""``python -m fsanet [INPUT ...]``: the head-pose demo (see ``fsanet.demo``).

Without arguments it runs on scikit-image's public-domain ``astronaut`` photo, so it shows a real
result with no files of your own.
"""

import sys

from fsanet.demo import main

if __name__ == "__main__":
    sys.exit(main())
