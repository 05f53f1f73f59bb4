import pytest

from nightjar.embedded import demo_data

# Small but real: enough rows for a model that passes the demo gate.
E2E_SPEC = demo_data.DemoSpec(
    rows_per_day=800, customers=6000, drift_from=demo_data.dt.date(2026, 3, 3)
)
E2E_NIGHTS = 3
# The scores table's Delta version right after the demo, before other tests write to it.
DEMO_SCORES_VERSION: dict[str, int] = {}


@pytest.fixture(scope="session")
def demo_world(settings, config, embedded_stack, airflow_db):
    """The demo loop, run once per session through dag.test() on the embedded stack."""
    from nightjar.embedded.demo import InProcessRunner, run_demo
    from nightjar.io import delta_tables

    run_demo(
        settings, config, runner=InProcessRunner(config.name), nights=E2E_NIGHTS, spec=E2E_SPEC
    )
    scores = delta_tables.open_table(settings.table_uri(config.table_name("scores")))
    DEMO_SCORES_VERSION["version"] = scores.version()
    return settings
