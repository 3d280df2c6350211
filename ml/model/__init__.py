"""The model side: TFT transform, training/export, TFMA evaluation, infra validation.

Modules here may import TensorFlow & co. at top level; `ml/commands/*` import them lazily.
`trainer.py` (and what it imports) must stay free of TFDV/TFMA/Great Expectations/Airflow:
it runs as a container command in an image that only has TensorFlow, tf-keras and TFT.
"""
