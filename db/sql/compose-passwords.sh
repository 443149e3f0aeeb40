#!/bin/sh
# Container init hook (postgres image, /docker-entrypoint-initdb.d/, after bootstrap.sql):
# gives the service roles the passwords from DB_PASSWORD_GENESIS / DB_PASSWORD_PERMESI.
# Values go through psql variables (:'var' quotes them), never into the SQL text.
# The entrypoint may source this file instead of running it: no `set -u`/`exit` here.
if [ -z "${DB_PASSWORD_GENESIS:-}" ] || [ -z "${DB_PASSWORD_PERMESI:-}" ]; then
  echo "compose-passwords.sh: DB_PASSWORD_GENESIS and DB_PASSWORD_PERMESI must be set" >&2
  false
else
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v genesis_pw="$DB_PASSWORD_GENESIS" -v permesi_pw="$DB_PASSWORD_PERMESI" <<'SQL'
ALTER ROLE genesis PASSWORD :'genesis_pw';
ALTER ROLE permesi PASSWORD :'permesi_pw';
SQL
fi
