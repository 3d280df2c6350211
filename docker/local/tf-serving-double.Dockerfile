# The TF Serving TEST DOUBLE as a container (CI: `make compose-e2e`), where the
# tensorflow/serving image cannot be pulled. NOT TF Serving: tests/tf_serving_double.py behind
# tests/tf_serving_double_server.py, started as `tensorflow_model_server` with the flags
# docker-compose.yml passes (REST only; models.config read at start and every poll interval).
# Any image with Python 3 + TensorFlow will do as the base; CI uses the trainer image.
#   docker build -f docker/local/tf-serving-double.Dockerfile --build-arg BASE_IMAGE=ml-trainer:latest .
ARG BASE_IMAGE=tensorflow/tensorflow:2.16.2
FROM ${BASE_IMAGE}
USER root
COPY tests/tf_serving_double.py tests/tf_serving_double_server.py /opt/tf-serving-double/
RUN printf '#!/bin/sh\nexec python3 /opt/tf-serving-double/tf_serving_double_server.py "$@"\n' \
      > /usr/local/bin/tensorflow_model_server && \
    chmod 0755 /usr/local/bin/tensorflow_model_server && \
    python3 -c "import tensorflow" && \
    tensorflow_model_server --help >/dev/null
USER nobody
EXPOSE 8501
ENTRYPOINT ["tensorflow_model_server"]
