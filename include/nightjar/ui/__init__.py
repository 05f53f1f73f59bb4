"""The Nightjar page in Airflow's UI."""
