#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need: the PC/SC stack with vsmartcard's
# virtual reader, OpenSC as an independent card client, what pyscard needs to build, and
# wrk, the load generator of the server benchmarks, and Chromium with Japanese fonts for the
# front-desk browser tests, and Node.js with npm for the independent FHIR validator
# (tests/fhir_validator), and HAProxy, the balancer of the deployment on one machine
# (qualification_server/deploy, tests/cluster).
# Run as root it installs what is missing; otherwise it only says what is missing.
set -euo pipefail

packages=(pcscd libpcsclite-dev vsmartcard-vpcd opensc pcsc-tools gcc wrk chromium fonts-noto-cjk nodejs haproxy)
# Debian's nodejs comes without npm (a package of its own), NodeSource's with it
command -v npm >/dev/null || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages (run as root, or install them): ${missing[*]}" >&2
    exit 0
fi
echo "installing system packages: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
