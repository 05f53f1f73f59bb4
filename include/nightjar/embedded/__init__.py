"""The embedded stack only (not for production images): the lakeFS stand-in, the stack
supervisor, the local Airflow, the demo and its data.
"""
