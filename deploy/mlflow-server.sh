#!/bin/bash
# MLflow tracking server with basic auth; the admin password comes from the environment.
set -euo pipefail
cat > "${MLFLOW_AUTH_CONFIG_PATH}" <<INI
[mlflow]
default_permission = READ
database_uri = postgresql://mlflow:${MLFLOW_DB_PASSWORD}@postgres:5432/mlflow
admin_username = admin
admin_password = ${MLFLOW_ADMIN_PASSWORD}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI
exec mlflow server --app-name basic-auth --host 0.0.0.0 --port 5000 \
  --backend-store-uri "postgresql://mlflow:${MLFLOW_DB_PASSWORD}@postgres:5432/mlflow" \
  --artifacts-destination s3://mlflow/
