"""Thin Airflow layer over the plain-Python `ml` package.

Operators translate an Airflow context into an `ml` CLI argv and run it (in-process, or as a
subprocess / container for training); XCom carries the small result dict. Importing this package
is cheap: TensorFlow & co. are imported by `ml` at execute time only.
"""
