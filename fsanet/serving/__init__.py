"""Head pose as a web service (``fsanet serve``): an ASGI app (``fsanet.serving.app``) whose pose
requests from all clients share micro-batches of the pose network (``fsanet.serving.batching``),
with uploads checked before they are decoded (``fsanet.serving.uploads``) and Prometheus metrics
(``fsanet.serving.metrics``); the live webcam page ships in ``static/``."""
