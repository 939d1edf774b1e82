#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end tests run for real: Prometheus and Alertmanager.
# Quiet and idempotent: it does nothing when both are installed.
set -euo pipefail

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

# The packages' install scripts would start system services listening on every interface; a
# policy-rc.d that exits 101 tells them not to. Only a policy file created here is removed again.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod 755 /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi

echo "installing ${missing[*]} (Debian packages, for the end-to-end tests)"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
