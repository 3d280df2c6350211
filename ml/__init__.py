"""Plain-Python core of the continuous-training pipeline (never imports Airflow).

TFT 1.16 and TFMA 0.47 are Keras-2 only: select tf_keras before TensorFlow is ever imported.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
