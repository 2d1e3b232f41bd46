#!/usr/bin/env bash
# Dump the xinqiao PostgreSQL database to $BACKUP_DIR (custom format, compressed), keep the
# newest $KEEP dumps. The encrypted columns stay encrypted in the dump: keep XINQIAO_DATA_KEYS
# somewhere else (a password manager, a sealed envelope), or the dump cannot be read.
#   XINQIAO_DATABASE_URL=postgresql+asyncpg://user:pass@host/db BACKUP_DIR=/var/backups/xinqiao \
#     deploy/backup.sh
set -euo pipefail
umask 077  # dumps hold names, chat-account links and tiers: owner-only, also when run by hand
: "${XINQIAO_DATABASE_URL:?set XINQIAO_DATABASE_URL}"
dir=${BACKUP_DIR:-/var/backups/xinqiao}
keep=${KEEP:-14}
url=${XINQIAO_DATABASE_URL/postgresql+asyncpg:/postgresql:}
mkdir -p -m 0700 "$dir"
out="$dir/xinqiao-$(date -u +%Y%m%dT%H%M%SZ).dump"
pg_dump --format=custom --no-owner --no-privileges --file="$out.partial" "$url"
mv "$out.partial" "$out"  # a crash mid-dump never leaves a file that looks complete
ls -1t "$dir"/xinqiao-*.dump | tail -n +"$((keep + 1))" | xargs -r rm --
echo "$out"
