# Nightjar production image: Airflow 3 + Java for Spark + Nightjar from the lock file,
# with the pinned delta-spark and hadoop-aws jars fetched at build time (nothing at run time).
# Pin the digest in production: FROM apache/airflow:3.3.2-python3.11@sha256:<digest>
FROM apache/airflow:3.3.2-python3.11

# The image reference (ideally its digest) is recorded in every MLflow run as lineage.
ARG NIGHTJAR_RUNTIME_IMAGE=nightjar:unset

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

RUN mkdir -p /opt/nightjar/jars && chown -R airflow:0 /opt/nightjar
USER airflow
WORKDIR /opt/airflow
COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml README.md /opt/nightjar/src/
RUN pip install --no-cache-dir -r /opt/nightjar/src/requirements.txt -c /opt/nightjar/src/constraints.txt
COPY --chown=airflow:0 include /opt/nightjar/src/include
RUN pip install --no-cache-dir --no-deps /opt/nightjar/src \
    # the embedded stack (lakeFS stand-in, local Airflow, demo) is for laptops and CI only
    && python -c "import nightjar, pathlib, shutil; shutil.rmtree(pathlib.Path(nightjar.__file__).parent / 'embedded')" \
    # Jars Spark needs in production (delta-spark; hadoop-aws and the AWS SDK for s3a): the
    # versions and SHA-256 pinned in nightjar.io.spark_jars, the same `make install` fetches.
    && NIGHTJAR_SPARK_JARS=/opt/nightjar/jars nightjar spark fetch-jars
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 jobs /opt/airflow/jobs

ENV NIGHTJAR_RUNTIME_IMAGE=${NIGHTJAR_RUNTIME_IMAGE} \
    NIGHTJAR_SPARK_JARS=/opt/nightjar/jars \
    MLFLOW_DISABLE_TELEMETRY=true \
    OMP_WAIT_POLICY=PASSIVE \
    PYSPARK_PYTHON=python

HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=5 \
    CMD python -c "import nightjar, pyspark, deltalake" || exit 1
