"""The data side: landing, ingestion, validation (Great Expectations, TFDV)."""
