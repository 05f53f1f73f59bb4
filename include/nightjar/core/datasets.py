"""The datasets one Nightjar serves: a folder of dataset configs, one YAML file each.

``NIGHTJAR_DATASETS_DIR`` names the folder (default: the packaged configs, the demo's
credit data); ``NIGHTJAR_DATASET_CONFIG`` names one file instead, a folder of one, as
single-dataset homes have it. Every file is loaded on its own: a file that fails to load
is reported with its path and the field, and the others load as if it were not there.
Two files may not claim one dataset name, nor one lakeFS table path of one repository.

Airflow's DAG files read this at parse time, so it reads local files only and imports
nothing heavier than pydantic and sqlglot (``load_dataset_config(functions=False)``
skips the check that imports PySpark).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nightjar.core.dataset_config import DatasetConfig, load_dataset_config
from nightjar.core.errors import ConfigError
from nightjar.core.settings import Settings


@dataclass(frozen=True)
class Datasets:
    """The datasets that loaded, by name, and each file that did not, with why."""

    configs: dict[str, DatasetConfig] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # each dataset's config file
    errors: dict[Path, str] = field(default_factory=dict)

    def one(self, name: str | None) -> DatasetConfig:
        """The dataset ``name``, or with no name the only one; ConfigError, listing the
        datasets (and naming a file that failed to load), otherwise."""
        if name is None and len(self.configs) == 1:
            return next(iter(self.configs.values()))
        if name is not None and name in self.configs:
            return self.configs[name]
        known = ", ".join(sorted(self.configs)) or "none"
        broken = "".join(f"; {path.name} did not load: {error}" for path, error in self.errors.items())
        if name is None:
            raise ConfigError(
                f"{len(self.configs)} datasets ({known}): pass --dataset NAME (or set "
                f"NIGHTJAR_DATASET){broken}"
            )
        raise ConfigError(f"no dataset {name!r} (datasets: {known}){broken}")


def config_files(settings: Settings) -> list[Path]:
    """The dataset config files: NIGHTJAR_DATASET_CONFIG's one, else the folder's."""
    if settings.dataset_config is not None:
        return [settings.dataset_config]
    folder = settings.datasets_dir
    if not folder.is_dir():
        raise ConfigError(f"NIGHTJAR_DATASETS_DIR={folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_datasets(settings: Settings, *, functions: bool = True) -> Datasets:
    """Every dataset config, each loaded on its own (``functions``: check the Spark
    functions expressions call, which imports PySpark)."""
    loaded = Datasets()
    paths_of: dict[tuple[str, str], str] = {}
    for path in config_files(settings):
        try:
            config = load_dataset_config(path, functions=functions)
        except ConfigError as exc:
            loaded.errors[path] = str(exc)
            continue
        if config.name in loaded.configs:
            loaded.errors[path] = (
                f"dataset {config.name!r} is already {loaded.files[config.name].name}'s name"
            )
            continue
        repository = config.lakefs_repository or settings.lakefs_repository
        shared = [
            (source.path, paths_of[(repository, source.path)])
            for source in config.sources.values()
            if (repository, source.path) in paths_of
        ]
        if shared:
            table, owner = shared[0]
            loaded.errors[path] = (
                f"sources: {table!r} in lakeFS repository {repository!r} is dataset "
                f"{owner!r}'s already; give this dataset other paths or its own "
                "lakefs_repository"
            )
            continue
        for source in config.sources.values():
            paths_of[(repository, source.path)] = config.name
        loaded.configs[config.name] = config
        loaded.files[config.name] = path
    return loaded


def dataset_config(settings: Settings, name: str | None = None) -> DatasetConfig:
    """The config of dataset ``name`` (None: the only one)."""
    return load_datasets(settings).one(name)
