"""Layer 3: running a model fast. Export (models only), runners and backends, the conversion cache,
the predictor.
"""
