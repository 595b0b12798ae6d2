#!/bin/sh
# Runs once, when the Postgres volume is first initialised (issue 14): the broker's two roles.
# broker_owner runs the migrations and owns every table and function; broker_app is what the broker
# connects as, with only the grants the migrations give it. Neither is a superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="$BROKER_DB_OWNER_PASSWORD" -v app_pw="$BROKER_DB_APP_PASSWORD" <<'SQL'
CREATE ROLE broker_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE broker_app LOGIN PASSWORD :'app_pw';
CREATE DATABASE broker OWNER broker_owner;
SQL
