#!/usr/bin/env bash
# The whole test suite: installs what the tests need, starts a real SeaweedFS S3
# server on loopback (and PostgreSQL if it is not running), runs pytest, and stops
# what it started. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
PY=.venv/bin/python

if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "test: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi

state=$(mktemp -d -t hukou-test-XXXXXX)
cleanup() {
  "$PY" scripts/seaweedfs.py stop --pidfile "$state/weed.pid" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT INT TERM
export HUKOU_TEST_S3_ACCESS_KEY=hukoutest
HUKOU_TEST_S3_SECRET_KEY=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')
export HUKOU_TEST_S3_SECRET_KEY
HUKOU_TEST_S3_ENDPOINT=$("$PY" scripts/seaweedfs.py start --dir "$state/weed" --pidfile "$state/weed.pid" \
  --access-key="$HUKOU_TEST_S3_ACCESS_KEY" --secret-key="$HUKOU_TEST_S3_SECRET_KEY")  # "=": a key may begin with "-"
export HUKOU_TEST_S3_ENDPOINT
echo "test: SeaweedFS S3 at $HUKOU_TEST_S3_ENDPOINT"

set +e
"$PY" -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
exit $status
