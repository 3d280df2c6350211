"""Serving side: TF Serving's versioned model base path, push, rollback, status, REST client."""
