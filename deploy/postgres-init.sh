#!/bin/bash
# One Postgres server, one database and role per service; passwords from the environment.
set -euo pipefail
for service in airflow mlflow lakefs marquez; do
  var="$(echo "${service}" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username postgres <<SQL
CREATE ROLE ${service} LOGIN PASSWORD '${!var}';
CREATE DATABASE ${service} OWNER ${service};
SQL
done
