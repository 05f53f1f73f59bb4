#!/bin/bash
# Migrate Airflow's database, write the admin password file, add Nightjar's connections and
# each dataset's pools (its tasks' pool, and its loop guard's: monitoring runs decide in turn).
set -euo pipefail
airflow db migrate
umask 077
printf '{"admin": "%s"}\n' "${AIRFLOW_ADMIN_PASSWORD}" > /opt/airflow/secrets/passwords.json
airflow connections delete lakefs_default >/dev/null 2>&1 || true
airflow connections add lakefs_default --conn-type http --conn-host lakefs --conn-port 8000 \
  --conn-login "${NIGHTJAR_LAKEFS_ACCESS_KEY_ID}" --conn-password "${NIGHTJAR_LAKEFS_SECRET_ACCESS_KEY}"
airflow connections delete mlflow_default >/dev/null 2>&1 || true
airflow connections add mlflow_default --conn-type http --conn-host mlflow --conn-port 5000 \
  --conn-login admin --conn-password "${MLFLOW_TRACKING_PASSWORD}"
nightjar datasets --pools | sh
