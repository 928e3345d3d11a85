"""Layer 2: the network. The variant table, the registered layers, FSA-Net / SSR-Net-MD / fusions,
the inference form (BatchNorm folded) and weight health checks.
"""
