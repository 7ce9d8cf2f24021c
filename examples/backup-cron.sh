#!/usr/bin/env bash
# Nightly backup of a qvca CA, for cron or a systemd timer.
#
# Writes one verified, password-protected backup (qvca-backup-<UTC timestamp>.pfx) into
# $QVCA_BACKUP_DIR, keeps the newest $QVCA_KEEP of them, then checks the new file once more
# with `qvca backup verify`, the way a restore would read it. Logs one line to syslog (tag
# qvca-backup) when `logger` works, else to stderr. Exits 0 on success, else qvca's exit code.
#
# Environment:
#   QVCA_DIR                the CA directory (required)
#   QVCA_BACKUP_DIR         where backups go (required)
#   QVCA_PASSWORD_FILE      file holding the CA password (required unless the CA has none)
#   QVCA_PFX_PASSWORD_FILE  file holding the backup password (required)
#   qvca reads both itself. QVCA_PASSWORD / QVCA_PFX_PASSWORD would hold the passwords
#   themselves (never file names); files keep them out of the environment of every process.
#   QVCA_KEEP               how many backups to keep (default 14)
#   QVCA                    the qvca binary (default: qvca on PATH; cron's PATH is
#                           /usr/bin:/bin, so install qvca into /usr/local/bin and set PATH in
#                           the crontab, as examples/qvca-backup.crontab does, or set QVCA)
#
# Install this script as /usr/local/share/qvca/backup-cron.sh (mode 0755), where the crontab
# and the systemd unit in examples/ expect it.
#   QVCA_BACKUP_LOG=stderr  log to stderr instead of syslog
set -uo pipefail

qvca=${QVCA:-qvca}
keep=${QVCA_KEEP:-14}

log() { # log PRIORITY MESSAGE
    if [ "${QVCA_BACKUP_LOG:-syslog}" = stderr ] || ! logger -t qvca-backup -p "user.$1" -- "$2" 2>/dev/null; then
        printf '%s qvca-backup %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" >&2
    fi
}

fail() { # fail CODE WHAT
    local meaning
    case "$1" in
        1) meaning="error" ;;
        2) meaning="usage error (check this script's settings)" ;;
        3) meaning="refused" ;;
        4) meaning="wrong password or damaged file" ;;
        5) meaning="verification failed" ;;
        6) meaning="not found (no CA in QVCA_DIR?)" ;;
        *) meaning="unexpected exit code" ;;
    esac
    log err "$2 failed with exit code $1 ($meaning)"
    exit "$1"
}

for var in QVCA_DIR QVCA_BACKUP_DIR QVCA_PFX_PASSWORD_FILE; do
    if [ -z "${!var:-}" ]; then
        log err "$var is not set"
        exit 2
    fi
done
export QVCA_DIR QVCA_PFX_PASSWORD_FILE
if [ -n "${QVCA_PASSWORD_FILE:-}" ]; then
    export QVCA_PASSWORD_FILE
fi
args=(--quiet --json)

# qvca never prompts without a terminal; stdin from /dev/null makes sure of it.
report=$("$qvca" "${args[@]}" backup --dir "$QVCA_BACKUP_DIR" --keep "$keep" </dev/null)
status=$?
[ "$status" -eq 0 ] || fail "$status" "backup"

file=$(printf '%s' "$report" | sed -n 's/^ *"file": "\(.*\)",$/\1/p')
if [ -z "$file" ]; then
    log err "backup succeeded but its report names no file"
    exit 1
fi
"$qvca" "${args[@]}" backup verify "$file" </dev/null >/dev/null
status=$?
[ "$status" -eq 0 ] || fail "$status" "backup verify of $file"

bytes=$(printf '%s' "$report" | sed -n 's/^ *"bytes": \([0-9]*\),$/\1/p')
certificates=$(printf '%s' "$report" | sed -n 's/^ *"certificates": \([0-9]*\),$/\1/p')
log info "backup $file: $bytes bytes, $certificates certificates, verified twice, newest $keep kept"
