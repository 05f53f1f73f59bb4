# Nightjar production image: Airflow 3 + Java for Spark + Nightjar from the lock file,
# with the delta-spark and hadoop-aws jars fetched at build time (nothing at run time).
# Pin the digest in production: FROM apache/airflow:3.3.2-python3.11@sha256:<digest>
FROM apache/airflow:3.3.2-python3.11

ARG DELTA_VERSION=4.4.1
ARG HADOOP_AWS_VERSION=3.5.0
ARG AWS_SDK_BUNDLE_VERSION=2.35.4
ARG MAVEN=https://repo1.maven.org/maven2
# The image reference (ideally its digest) is recorded in every MLflow run as lineage.
ARG NIGHTJAR_RUNTIME_IMAGE=nightjar:unset

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless curl \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64

# Jars Spark needs in production: Delta Lake SQL readers/writers and s3a. hadoop-aws matches
# the hadoop-client 3.5.0 jars inside pyspark 4.2.0, and the AWS SDK its pom names (2.35.4).
RUN mkdir -p /opt/nightjar/jars \
    && cd /opt/nightjar/jars \
    && for jar in \
        "io/delta/delta-spark_2.13/${DELTA_VERSION}/delta-spark_2.13-${DELTA_VERSION}.jar" \
        "io/delta/delta-storage/${DELTA_VERSION}/delta-storage-${DELTA_VERSION}.jar" \
        "org/apache/hadoop/hadoop-aws/${HADOOP_AWS_VERSION}/hadoop-aws-${HADOOP_AWS_VERSION}.jar" \
        "software/amazon/awssdk/bundle/${AWS_SDK_BUNDLE_VERSION}/bundle-${AWS_SDK_BUNDLE_VERSION}.jar"; \
       do \
         name="$(basename "$jar")"; \
         curl -fsSL -o "$name" "${MAVEN}/${jar}" \
         && curl -fsSL -o "$name.sha1" "${MAVEN}/${jar}.sha1" \
         && echo "$(cat "$name.sha1")  $name" | sha1sum -c - \
         && rm "$name.sha1" || exit 1; \
       done \
    && chown -R airflow:0 /opt/nightjar

USER airflow
WORKDIR /opt/airflow
COPY --chown=airflow:0 requirements.txt constraints.txt pyproject.toml README.md /opt/nightjar/src/
RUN pip install --no-cache-dir -r /opt/nightjar/src/requirements.txt -c /opt/nightjar/src/constraints.txt
COPY --chown=airflow:0 include /opt/nightjar/src/include
RUN pip install --no-cache-dir --no-deps /opt/nightjar/src \
    # the embedded stack (lakeFS stand-in, local Airflow, demo) is for laptops and CI only
    && python -c "import nightjar, pathlib, shutil; shutil.rmtree(pathlib.Path(nightjar.__file__).parent / 'embedded')"
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
