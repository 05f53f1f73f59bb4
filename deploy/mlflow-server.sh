#!/bin/bash
# MLflow tracking server with basic auth; the admin password comes from the environment.
# The defaults are the compose stack's; the scheduler tests run this same script against a
# PostgreSQL on 127.0.0.1 with local artifacts.
set -euo pipefail
db_host=${MLFLOW_DB_HOST:-postgres:5432}
backend="postgresql+psycopg2://mlflow:${MLFLOW_DB_PASSWORD}@${db_host}/mlflow"
umask 077
cat > "${MLFLOW_AUTH_CONFIG_PATH}" <<INI
[mlflow]
default_permission = READ
database_uri = ${backend}
admin_username = admin
admin_password = ${MLFLOW_ADMIN_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# Each request's password is checked with a hash that costs tens of milliseconds by design;
# a task makes dozens of requests, and the server spent a third of a core on it. A checked
# login is kept for 60 s (a changed or revoked password takes up to that long to apply).
auth_cache_ttl_seconds = 60
INI
# Nightjar uses none of the server's jobs (GenAI judges, trace rollups): no job runner.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
exec mlflow server --app-name basic-auth \
  --host "${MLFLOW_HOST:-0.0.0.0}" --port "${MLFLOW_PORT:-5000}" --workers 1 \
  --backend-store-uri "${backend}" \
  --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION:-s3://mlflow/}"
