"""Nightjar: batch scoring and scheduled retraining on Airflow, lakeFS, Spark, MLflow and Delta."""

__version__ = "0.1.0"
