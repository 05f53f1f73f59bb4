"""The JVM artifacts Nightjar's Spark path needs, pinned, fetched once and reused offline.

delta-spark (Delta's reader and writer for Spark) and hadoop-aws with the AWS SDK (the
``s3a://`` file system) are not inside the pyspark wheel. Their versions follow the jars
that are: pyspark 4.2.0 ships Scala 2.13 and hadoop-client 3.5.0, so delta-spark is
``delta-spark_4.2_2.13`` 4.4.0 (the Python ``delta-spark`` package pinned beside it) and
hadoop-aws is 3.5.0, with the SDK bundle, analytics accelerator and OpenSSL binding its pom
names. Each is fetched from Maven Central into ``<cache>/jars`` with its SHA-256 checked
(the pins below were checked against Maven Central's own checksums when they were made),
written atomically, and never fetched again: later runs work offline.

``make install``, ``.ci/run`` (through it) and the Dockerfile run ``nightjar stack
fetch-jars``; a Spark session picks the jars up from ``Settings.spark_jars_path``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

from nightjar.core.errors import SparkUnavailableError
from nightjar.core.settings import Settings

log = logging.getLogger(__name__)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
DOWNLOAD_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Artifact:
    """One jar on Maven Central, pinned by version and content."""

    group: str
    name: str
    version: str
    sha256: str

    @property
    def file_name(self) -> str:
        """The jar's file name, as Maven names it."""
        return f"{self.name}-{self.version}.jar"

    def url(self, repository: str) -> str:
        """Where the jar lives in a Maven repository laid out like Maven Central."""
        group_path = self.group.replace(".", "/")
        return f"{repository.rstrip('/')}/{group_path}/{self.name}/{self.version}/{self.file_name}"


DELTA = (
    Artifact(
        "io.delta",
        "delta-spark_4.2_2.13",
        "4.4.0",
        "27d4fd8b1f879535c573ed1c718177d6a27f24d3e626ba02e216369725721ead",
    ),
    Artifact(
        "io.delta",
        "delta-storage",
        "4.4.0",
        "c46735481fa8e326b0957be02b4420cbcab4b325bb08009b7f2045a95133f1cc",
    ),
)
S3A = (
    Artifact(
        "org.apache.hadoop",
        "hadoop-aws",
        "3.5.0",
        "66bd9eefb938b1a1657487324b63c13df2d8b17164a1dd24e0ef37b905bc5baa",
    ),
    Artifact(  # 686 MB: the SDK hadoop-aws 3.5.0 is built against
        "software.amazon.awssdk",
        "bundle",
        "2.35.4",
        "db4b55f24ad1b4e70f17eb1717a4de76a8dadc5a27d764be7c44ff67b2c1c677",
    ),
    Artifact(
        "software.amazon.s3.analyticsaccelerator",
        "analyticsaccelerator-s3",
        "1.3.1",
        "4959a9747cbb479c73c3ffbcd479bee5b014f8b2880994585a8693fb9d24675e",
    ),
    Artifact(
        "org.wildfly.openssl",
        "wildfly-openssl",
        "2.2.5.Final",
        "71fb7932f99a727edb23c5a2cb8c6855ac7196fad41aa0669b3998e277165154",
    ),
)
PINNED = DELTA + S3A


def jar_paths(settings: Settings, artifacts: tuple[Artifact, ...] = PINNED) -> list[Path]:
    """Where ``artifacts`` are (or will be) in the jar folder."""
    return [settings.spark_jars_path / artifact.file_name for artifact in artifacts]


def missing(settings: Settings, artifacts: tuple[Artifact, ...] = PINNED) -> list[Artifact]:
    """Those of ``artifacts`` not yet in the jar folder."""
    return [a for a in artifacts if not (settings.spark_jars_path / a.file_name).is_file()]


def fetch_jars(settings: Settings, *, repository: str | None = None, progress=None) -> list[Path]:
    """Fetch every pinned jar not yet in the jar folder, checking each one's SHA-256;
    return all their paths. ``progress(artifact, action)`` hears about each jar."""
    repository = repository or os.environ.get("NIGHTJAR_MAVEN_REPOSITORY") or MAVEN_CENTRAL
    folder = settings.spark_jars_path
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for artifact in PINNED:
        target = folder / artifact.file_name
        paths.append(target)
        if target.is_file():
            if progress:
                progress(artifact, "cached")
            continue
        if progress:
            progress(artifact, "fetching")
        _download(artifact, repository, target)
    return paths


def _download(artifact: Artifact, repository: str, target: Path) -> None:
    """Stream one jar into a temporary file beside ``target``; check it; rename it into place."""
    url = artifact.url(repository)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with (
            httpx.stream("GET", url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
            partial.open("wb") as out,
        ):
            if response.status_code != 200:
                raise SparkUnavailableError(
                    f"{repository} has no {artifact.group}:{artifact.name}:{artifact.version} "
                    f"(HTTP {response.status_code} for {url})"
                )
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise SparkUnavailableError(
            f"cannot reach the Maven repository {repository} for {artifact.file_name} "
            f"({type(error).__name__}: {error}); set NIGHTJAR_MAVEN_REPOSITORY to a mirror, "
            "or copy the jars into NIGHTJAR_SPARK_JARS"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != artifact.sha256:
        partial.unlink(missing_ok=True)
        raise SparkUnavailableError(
            f"{artifact.file_name} from {url} has SHA-256 {digest.hexdigest()}, "
            f"not the pinned {artifact.sha256}: refusing it"
        )
    partial.replace(target)  # atomic: the folder holds whole, checked jars only
