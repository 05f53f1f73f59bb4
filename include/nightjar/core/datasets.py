"""The datasets one Nightjar serves: a folder of dataset configs, one YAML file each.

``NIGHTJAR_DATASETS_DIR`` names the folder (default: the packaged configs, the demo's
credit data); ``NIGHTJAR_DATASET_CONFIG`` names one file instead, a folder of one, as
single-dataset homes have it. Every file is loaded on its own: a file that fails to load
is reported with its path and the field, and the others load as if it were not there.
Two files may not claim one dataset name, one registered model (the datasets share one
MLflow), nor one lakeFS table path of one repository.

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
        """The dataset ``name``, or with no name the only one; ConfigError otherwise: the
        reason a config did not load when none did, else the datasets there are."""
        if name is None and len(self.configs) == 1:
            return next(iter(self.configs.values()))
        if name is not None and name in self.configs:
            return self.configs[name]
        if not self.configs and len(self.errors) == 1:
            raise ConfigError(next(iter(self.errors.values())))
        if not self.configs:
            broken = ", ".join(path.name for path in self.errors) or "none found"
            raise ConfigError(f"no dataset config loads ({broken}): `nightjar datasets` says why")
        known = ", ".join(sorted(self.configs))
        broken = "".join(f"; {path.name} does not load" for path in self.errors)
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


def _read(paths: list[Path]) -> dict[Path, object]:
    """Each file's YAML content, or the ConfigError that reading it raised."""
    import yaml

    from nightjar.core.dataset_config import read_yaml

    contents: dict[Path, object] = {}
    for path in paths:
        if not path.is_file():
            contents[path] = ConfigError(f"dataset config not found: {path}")
            continue
        try:
            contents[path] = read_yaml(path)
        except (OSError, yaml.YAMLError) as exc:
            contents[path] = ConfigError(f"dataset config {path} is not valid YAML: {exc}")
    return contents


def _gate_policies(contents: dict[Path, object]) -> set[Path]:
    """The gate policy files the configs name: a policy may sit beside its config in the
    folder, and is not a dataset."""
    return {
        (path.parent / raw["gate_policy"]).resolve()
        for path, raw in contents.items()
        if isinstance(raw, dict) and isinstance(raw.get("gate_policy"), str)
    }


def load_datasets(settings: Settings, *, functions: bool = True) -> Datasets:
    """Every dataset config, each loaded on its own (``functions``: check the Spark
    functions expressions call, which imports PySpark). A YAML file a config names as
    its gate policy is that config's policy, not a dataset."""
    loaded = Datasets()
    paths_of: dict[tuple[str, str], str] = {}
    contents = _read(config_files(settings))
    policies = _gate_policies(contents)
    for path, raw in contents.items():
        if path.resolve() in policies:
            continue
        try:
            if isinstance(raw, ConfigError):
                raise raw
            config = load_dataset_config(path, functions=functions, raw=raw)
        except ConfigError as exc:
            loaded.errors[path] = str(exc)
            continue
        if config.name in loaded.configs:
            loaded.errors[path] = (
                f"invalid dataset config {path}:\n  - name: dataset {config.name!r} is "
                f"already {loaded.files[config.name]}'s"
            )
            continue
        model_owner = next(
            (
                name
                for name, other in loaded.configs.items()
                if other.model.name == config.model.name
            ),
            None,
        )
        if model_owner is not None:
            loaded.errors[path] = (
                f"invalid dataset config {path}:\n  - model.name: {config.model.name!r} is "
                f"dataset {model_owner!r}'s registered model already; the datasets share one "
                "MLflow, so give this one its own"
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
                f"invalid dataset config {path}:\n  - sources: {table!r} in lakeFS "
                f"repository {repository!r} is dataset {owner!r}'s already; give this "
                "dataset other paths or its own lakefs_repository"
            )
            continue
        for source in config.sources.values():
            paths_of[(repository, source.path)] = config.name
        loaded.configs[config.name] = config
        loaded.files[config.name] = path
    return loaded


def dataset_config(settings: Settings, name: str | None = None) -> DatasetConfig:
    """The config of dataset ``name``, else of ``settings.dataset`` (``--dataset``,
    ``NIGHTJAR_DATASET``), else of the only one."""
    return load_datasets(settings).one(name or settings.dataset)


def selected_dataset(settings: Settings) -> str | None:
    """The dataset ``settings`` select (``NIGHTJAR_DATASET``), else the only one served,
    else None; never raises (a config that does not load is then not a choice)."""
    if settings.dataset:
        return settings.dataset
    try:
        names = list(load_datasets(settings, functions=False).configs)
    except ConfigError:
        return None
    return names[0] if len(names) == 1 else None


def settings_for(settings: Settings, config: DatasetConfig) -> Settings:
    """``settings`` as ``config``'s dataset's steps and commands use them: the dataset
    selected, and its own lakeFS repository when it has one."""
    update: dict[str, object] = {"dataset": config.name}
    if config.lakefs_repository:
        update["lakefs_repository"] = config.lakefs_repository
    return settings.model_copy(update=update)
