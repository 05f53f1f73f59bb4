"""Static checks of the production files (no Docker engine here to run them)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_compose_declares_the_production_stack():
    expected = {
        "postgres",
        "minio",
        "minio-init",
        "lakefs",
        "mlflow",
        "airflow-init",
        "nightjar-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "spark-master",
        "spark-worker",
        "marquez",
        "marquez-web",
    }
    assert expected <= set(SERVICES)
    for name, service in SERVICES.items():
        if not name.endswith("-init"):
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_every_port_binds_to_loopback():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} publicly"


def test_no_literal_secrets_in_compose():
    pattern = re.compile(r"(PASSWORD|SECRET|FERNET|ACCESS_KEY)", re.I)
    for name, service in SERVICES.items():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if pattern.search(key) and not key.endswith(("_FILE", "_PATH")) and value is not None:
                assert "${" in str(value), f"{name}.{key} is a literal secret"


def test_every_image_is_pinned():
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if image.startswith("${NIGHTJAR_IMAGE"):
            continue  # built from this repository's Dockerfile
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned {image}"


def test_dockerfile_rules():
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert re.match(r"apache/airflow:3\.\d+\.\d+", base), base
    assert "HEALTHCHECK" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] != "root", "the image must end as a non-root user"
    assert "rm -rf /var/lib/apt/lists" in text
    assert all("--no-cache-dir" in line for line in text.splitlines() if "pip install" in line)
    assert not re.search(r"^ADD\s+https?://", text, re.M)
    # Jars come from the one pinned, SHA-256-checked step (nightjar.io.spark_jars).
    assert "nightjar spark fetch-jars" in text and "curl" not in text


def _env_reads() -> set[str]:
    names = set()
    settings = (ROOT / "include" / "nightjar" / "core" / "settings.py").read_text()
    for field in re.findall(r"^    ([a-z_]+): .*=", settings, re.M):
        names.add(f"NIGHTJAR_{field.upper()}")
    for folder in ("include", "dags", "jobs", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(
                r"environ(?:\.get)?\(\s*\"([A-Z0-9_]+)\"|environ\[\"([A-Z0-9_]+)\"\]|getenv\(\"([A-Z0-9_]+)\"",
                path.read_text(),
            ):
                names.update(n for n in name if n)
    return names


def test_every_environment_variable_is_documented():
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    internal = {"USER", "HOME", "PATH", "AIRFLOW_HOME", "JAVA_HOME", "PYSPARK_DRIVER_PYTHON",
                "XDG_CACHE_HOME", "PYTHONPATH", "PYTEST_XDIST_WORKER"}  # fmt: skip
    missing = sorted(_env_reads() - documented - internal)
    assert not missing, f"undocumented environment variables: {missing}"


_SECRET_PATTERNS = {
    "AWS access key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH )?PRIVATE KEY-----"),
    "password literal": re.compile(r"(?i)password\s*[=:]\s*['\"][^'\"$<{]{6,}['\"]"),
    "bearer token": re.compile(r"(?i)bearer\s+[a-z0-9._-]{20,}"),
}


def test_repository_holds_no_secrets():
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    findings = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".parquet"} or name == ".env.example":
            continue
        text = path.read_text(errors="ignore")
        for label, pattern in _SECRET_PATTERNS.items():
            if name.startswith("tests/deploy/"):
                continue  # the patterns themselves
            findings += [f"{name}: {label}" for _ in pattern.finditer(text)]
    assert not findings, findings


_COMPOSE = shutil.which("docker-compose")


def _compose_config(env_file: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`docker-compose config -q`: validates the file without a Docker engine."""
    return subprocess.run(
        [
            _COMPOSE,
            "--env-file",
            str(env_file),
            "-f",
            str(ROOT / "docker-compose.yaml"),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


@pytest.mark.skipif(not _COMPOSE, reason="Debian's docker-compose is not installed")
def test_compose_file_validates_with_the_example_environment(tmp_path):
    result = _compose_config(ROOT / ".env.example", tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not _COMPOSE, reason="Debian's docker-compose is not installed")
def test_compose_refuses_to_start_without_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose_config(empty, tmp_path)
    assert result.returncode != 0 and "in .env" in result.stderr
