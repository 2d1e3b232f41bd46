#!/usr/bin/env bash
# Restore a dump made by backup.sh into an EMPTY database, then check the schema is current.
#   XINQIAO_DATABASE_URL=postgresql+asyncpg://user:pass@host/newdb XINQIAO_DATA_KEYS=... \
#     deploy/restore.sh /var/backups/xinqiao/xinqiao-20270101T024000Z.dump
set -euo pipefail
dump=${1:?usage: restore.sh DUMP}
: "${XINQIAO_DATABASE_URL:?set XINQIAO_DATABASE_URL to the (empty) target database}"
url=${XINQIAO_DATABASE_URL/postgresql+asyncpg:/postgresql:}
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
# Brings a dump from an older release up to this release's schema; a no-op otherwise.
"${XINQIAO:-xinqiao}" db upgrade
echo "restored $dump"
