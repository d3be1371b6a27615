#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need: the PC/SC stack with vsmartcard's
# virtual reader, OpenSC as an independent card client, what pyscard needs to build, and
# wrk, the load generator of the server benchmarks, and Chromium with Japanese fonts for the
# front-desk browser tests, and Node.js with npm for the independent FHIR validator
# (tests/fhir_validator), and HAProxy, the balancer of the deployment on one machine
# (qualification_server/deploy, tests/cluster).
# Run as root it installs what is missing; otherwise it only says what is missing.
set -euo pipefail

# vpcd listens on TCP 35963-35964, inside Linux's ephemeral range (32768-60999): an outgoing
# connection given one of them as its own port keeps vpcd from listening ("Address already in
# use", the reader missing) whenever pcscd starts while it lasts. Reserved here, at every run
# (the setting does not outlive the machine), added to whatever is reserved already.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [ "$(id -u)" -eq 0 ] && [ -w "$reserved" ]; then
    current=$(cat "$reserved")
    echo "${current:+$current,}35963-35964" > "$reserved"
elif [ -r "$reserved" ] && ! grep -q 35963 "$reserved"; then
    echo "note: TCP 35963-35964 (vpcd) are not reserved: as root, run" \
        "sysctl -w net.ipv4.ip_local_reserved_ports=35963-35964" >&2
fi

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
