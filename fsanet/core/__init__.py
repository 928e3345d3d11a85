"""Layer 1, used by all: the angle convention, protocols, image decoding, output locations and the one
atomic write, worker pools, the quiet start. Imports nothing of fsanet but ``fsanet.errors``.
"""
