"""The pipeline steps the DAGs wire together, free of Airflow so they test on their own.

One module per DAG, and in it one function per task, named as the task is:
``retrain``, ``score``, ``monitor`` and ``watch``; ``snapshot`` holds the two steps every
data-reading DAG shares. Each step takes a ``RunInfo`` and the typed results of the tasks
before it (``contracts``), returns its own typed result, and is safe to retry: inputs
are pinned (lakeFS commit, model version), outputs replace exactly what the step owns (a
Delta partition, an alias if it is not already set).

This ``__init__`` stays empty so that the links can import ``contracts`` at DAG parse
time without the steps' libraries.
"""
