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

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``--dataset NAME`` anywhere on the line (``nightjar model describe --dataset
        bikes``) is the root option, as if it came first."""
        if ctx.parent is None:
            args = _dataset_first(args)
        return super().parse_args(ctx, args)

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


def _dataset_first(args: list[str]) -> list[str]:
    """``args`` with a ``--dataset NAME`` (or ``--dataset=NAME``) after the command moved
    to the front; what follows a ``--`` is left alone."""
    end = args.index("--") if "--" in args else len(args)
    head, tail = args[:end], args[end:]
    moved: list[str] = []
    rest: list[str] = []
    words = iter(head)
    for word in words:
        if word == "--dataset":
            moved += [word, next(words, "")]
        elif word.startswith("--dataset="):
            moved.append(word)
        else:
            rest.append(word)
    return [*moved, *rest, *tail]


def _dataset_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from nightjar.core.errors import InvalidNameError
    from nightjar.core.names import validate_identifier

    try:
        return value if value is None else validate_identifier(value, what="dataset name")
    except InvalidNameError as error:
        raise click.BadParameter(str(error)) from None


@click.group(cls=NightjarGroup)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option(
    "--dataset",
    metavar="NAME",
    callback=_dataset_name,
    help="The dataset a command acts on (default: NIGHTJAR_DATASET, else the only one); "
    "`nightjar datasets` lists them.",
)
def main(verbose: bool, dataset: str | None) -> None:
    """Nightjar: batch scoring and scheduled retraining on Airflow, lakeFS, MLflow and Delta.

    Settings come from NIGHTJAR_* environment variables (see .env.example); with none set,
    everything runs on the embedded stack under ./.nightjar.
    """
    _configure_logging(verbose)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    # Small artifacts (a model file, a JSON): progress bars would only clutter the output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _register_commands() -> None:
    from nightjar.cli import data, datasets, lineage, model, query, stack

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
        datasets.datasets,
    ):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
