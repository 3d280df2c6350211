# Logins for `make airflow`:  source scripts/airflow_env.sh && source scripts/airflow_login.sh
#
# The UI and the ML view (/ml-artifacts/) need a login: the simple auth manager with one user,
# `admin` (role admin), instead of scripts/airflow_env.sh's everyone-is-admin default (which
# scripts/demo.sh and the tests keep). The password is ML_AIRFLOW_ADMIN_PASSWORD when set
# (written to the passwords file), else the one Airflow generates on first start into
# $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
ML_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}"
if [[ -n "${ML_AIRFLOW_ADMIN_PASSWORD:-}" ]]; then
  (umask 077 && python3 -c 'import json, sys; print(json.dumps({"admin": sys.argv[1]}))' \
    "$ML_AIRFLOW_ADMIN_PASSWORD" >"$ML_PASSWORDS_FILE")
  echo "Airflow UI: $AIRFLOW__API__BASE_URL  login: admin / \$ML_AIRFLOW_ADMIN_PASSWORD"
elif [[ -s "$ML_PASSWORDS_FILE" ]]; then
  echo "Airflow UI: $AIRFLOW__API__BASE_URL  login: admin, password in $ML_PASSWORDS_FILE"
else
  echo "Airflow UI: $AIRFLOW__API__BASE_URL  login: admin, password generated on first start into" \
    "$ML_PASSWORDS_FILE (also printed below)"
fi
echo "ML view: $AIRFLOW__API__BASE_URL/ml-artifacts/ (or the ML entry of the UI); Ctrl-C stops Airflow"
