"""The one I/O layer: the only code that touches lakeFS, Delta, MLflow, Spark or DuckDB;
each client is built from Settings.
"""
