"""Layer 5: where models come from. The registry and fetch of the authors' checkpoints, their .h5
loader, their frozen graphs, and the one model-spec resolver.
"""
