#!/usr/bin/env bash
# Sets up a three-node QlikView site from scratch, without any prompt:
#   QMS01   runs the QlikView Management Service: the CA, and the Qlik License Service files
#   QVS01   a QlikView Server
#   QVWEB01 a QlikView Web Server
# and writes one install package per node. Run it on the QMS machine.
#
# Usage: examples/install-site.sh [WORKDIR]        (default: ./qvca-site)
# The qvca binary is taken from $QVCA, else from PATH.
set -euo pipefail

qvca=${QVCA:-qvca}
work=${1:-./qvca-site}
umask 077
mkdir -p "$work"

export QVCA_DIR="$work/ca"
ca_password="$work/ca-password.txt"
pfx_password="$work/pfx-password.txt"

# Passwords live in files readable only by this account; they never appear on a command line.
[ -s "$ca_password" ] || head -c 24 /dev/urandom | base64 > "$ca_password"
[ -s "$pfx_password" ] || head -c 24 /dev/urandom | base64 > "$pfx_password"

# Root, three Server certificates, QVProxy, and the license-service export for QMS01.
# Idempotent: running the script again keeps everything that is still valid.
"$qvca" --password-file "$ca_password" setup QMS01 QVS01 QVWEB01 \
    --export-dir "$work/Exported Certificates"

# One package per node: its Server PFX, the QVProxy PFX, the root and the install scripts.
for node in QMS01 QVS01 QVWEB01; do
    "$qvca" --password-file "$ca_password" --pfx-password-file "$pfx_password" \
        package "$node" --out "$work/packages/$node" --force
done

# Everything chains to the root and is valid for its machine name.
"$qvca" verify
state=$("$qvca" status)
if [ "$state" != 2 ]; then
    echo "install-site.sh: the CA is in state $state, expected 2 (Running)" >&2
    exit 1
fi
echo "Site ready: copy $work/packages/<node> to each node and run install.cmd there (sh install.sh on Linux)."
echo "Keep $ca_password and $pfx_password safe, and back up the CA: qvca backup --dir DIR"
