"""The ``nightjar`` command, by audience: ``stack`` (operators: demo, stack, airflow, run),
``data`` (data engineers: the lakeFS workflow), ``model`` (ML engineers: registry,
features, gate) and ``query`` (analysts)."""

from __future__ import annotations

import logging
import os

import click


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "urllib3", "alembic", "botocore", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class NightjarGroup(click.Group):
    """Every failure of every command as one clear line (exit 1; usage errors exit 2, as
    click has them), never a traceback; ``-v`` also logs the traceback."""

    def invoke(self, ctx: click.Context):
        """Run the command; print what went wrong in one line (``cli.errors``)."""
        from nightjar.cli.errors import one_line

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            logging.getLogger("nightjar.cli").debug("the command failed", exc_info=True)
            raise click.ClickException(one_line(exc)) from None


@click.group(cls=NightjarGroup)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Nightjar: batch scoring and scheduled retraining on Airflow, lakeFS, MLflow and Delta.

    Settings come from NIGHTJAR_* environment variables (see .env.example); with none set,
    everything runs on the embedded stack under ./.nightjar.
    """
    _configure_logging(verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Small artifacts (a model file, a JSON): progress bars would only clutter the output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _register_commands() -> None:
    from nightjar.cli import data, lineage, model, query, stack

    for command in (
        stack.demo,
        stack.run_dag,
        stack.stack,
        stack.spark,
        stack.airflow,
        query.query,
        lineage.explain,
        model.model,
        model.features,
        model.gate,
        data.data,
    ):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
