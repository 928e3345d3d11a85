"""Layer 6: one call per job for Python programs (``fsanet.estimate``, ``fsanet.analyze``,
``fsanet.draw``, ``fsanet.to_dataframe``): the demo's detector, crop rule and pose network behind a
function that takes an image or a video and gives records, no files."""
