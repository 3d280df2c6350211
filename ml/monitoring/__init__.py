"""The live model, watched (docs/concepts/live-model.md).

`prediction_log` (TF Serving PredictionLog files per span), `serve` (the embedded writer),
`ground_truth` (late labels and the join), `estimate` (CBPE before labels), `reference` (the
model's eval split: calibration and alarm bands), `realized` (TFMA over the joined rows) and
`monitor` (one span: all of it, one verdict). Plain Python: no Airflow, no results store (the
`monitor` command records).
"""
