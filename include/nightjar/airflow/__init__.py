"""The Airflow adapters: assets, task defaults, the step glue, extra links and
notifications.
"""
