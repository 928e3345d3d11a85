"""Head pose over archives on Ray Data: ``fsanet batch`` (``fsanet.batch.job``)."""
