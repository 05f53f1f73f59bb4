"""Create the lakeFS repository and protect main, through the lakefs SDK (compose init)."""

from nightjar.core.settings import load_settings
from nightjar.ingest.landing import protect_main
from nightjar.io import snapshots
from nightjar.io.lakefs_client import make_client


def main() -> None:
    settings = load_settings()
    client = make_client(settings)
    namespace = settings.lakefs_storage_namespace or "s3://lakefs/nightjar"
    snapshots.ensure_repository(client, settings.lakefs_repository, namespace)
    protect_main(client, settings.lakefs_repository)
    print(f"lakeFS repository {settings.lakefs_repository} ready; main is protected")


if __name__ == "__main__":
    main()
