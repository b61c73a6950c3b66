#!/usr/bin/env sh
# The programs the test suite drives as real peers, from Debian's packages: HAProxy (a load balancer in
# front of several gateway instances) and Chromium (the console's browser tests drive it through
# Playwright, which downloads no browser of its own). Installed with apt-get when missing and running as root;
# otherwise the missing ones are named and the test run stops here.
set -eu
missing=""
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing="$missing haproxy"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing:$missing"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
else
  echo "the tests need these packages:$missing (Debian: sudo apt-get install$missing)" >&2
  exit 1
fi
