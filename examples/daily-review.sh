#!/bin/sh
# The daily pipeline review for cron, e.g. at 8:30 on weekdays:
#   30 8 * * 1-5  /path/to/daily-review.sh
# Exit status of `pipectl review --check`: 0 clean, 1 findings, 2 an error (bad config, missing database).
set -u
report=$(pipectl review --check 2>&1)
status=$?
case $status in
    0) exit 0 ;;
    1) printf 'Subject: pipeline review: things need you today\n\n%s\n\nToday:\n%s\n' \
           "$report" "$(pipectl today --limit 10)" | sendmail "${PIPECTL_MAILTO:-$USER}" ;;
    *) printf 'Subject: pipeline review failed\n\n%s\n' "$report" | sendmail "${PIPECTL_MAILTO:-$USER}" ;;
esac
exit "$status"
