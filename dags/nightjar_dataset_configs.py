"""The dataset configs' health, as Airflow shows it: this DAG file fails to import, naming
each config file that does not load and its field, while every other dataset's DAGs
parse and run (the stage files skip a config that does not load). It defines no DAG.
"""

from __future__ import annotations

from nightjar.airflow.dataset_dags import config_problems

if problems := config_problems():
    raise ImportError("dataset configs that do not load:\n" + "\n".join(problems))
