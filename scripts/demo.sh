#!/usr/bin/env bash
# Installs everything, then runs the whole pipeline on the sample batch that ships
# with the repo, on the embedded defaults (SQLite and a local archive folder under
# HUKOU_HOME, default ~/.local/share/hukou). Safe to repeat.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HUKOU=.venv/bin/hukou
$HUKOU init
$HUKOU registry import samples/register-demo.csv
set +e
$HUKOU ingest samples/box-demo
status=$?
set -e
echo
echo "One page as a clerk sees it:"
first=$($HUKOU export --batch box-demo | .venv/bin/python -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[0])["page_id"])')
$HUKOU show "$first"
home=$(.venv/bin/python -c 'from pipeline.settings import load_settings as l; s=l(); print(s.home_path)')
echo
echo "PDF/A copies: $home/archive    database: $home/hukou.sqlite3"
echo "Try: .venv/bin/hukou search --name 王    .venv/bin/hukou status box-demo --rescan"
exit $status
