#!/bin/sh
# The site's tests: every page is there and says what it must.
set -eu
site="$1"
grep -q "hello" "$site/index.html" || { echo "index.html does not say hello"; exit 1; }
test -s "$site/health/ready" || { echo "no readiness page"; exit 1; }
echo "site: 2 checks passed"
