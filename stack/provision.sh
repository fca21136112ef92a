#!/usr/bin/env bash
# Installs what the local stack needs on Debian/Ubuntu, and is a fast no-op when everything is there:
#   PostgreSQL 15 with its server headers, pg_cron, pgTAP, pg_prove, and pgvector (>= 0.8).
# pgvector has no bookworm package: it is built from Debian's own source package (trixie's `pgvector`),
# fetched with `apt-get source` after adding a deb-src line for trixie.
#
# Usage: stack/provision.sh            (as root, or as a user with passwordless sudo)
#        PG_MAJOR=15 stack/provision.sh
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
EXT_DIR="/usr/share/postgresql/${PG_MAJOR}/extension"

have_everything() {
  [ -x "${PG_BIN}/postgres" ] && [ -x "${PG_BIN}/pg_config" ] &&
    [ -f "${EXT_DIR}/pg_cron.control" ] && [ -f "${EXT_DIR}/pgtap.control" ] &&
    command -v pg_prove >/dev/null 2>&1 && vector_ok
}

# pgvector >= 0.8 (HNSW and iterative index scans)
vector_ok() {
  [ -f "${EXT_DIR}/vector.control" ] || return 1
  local v
  v=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "${EXT_DIR}/vector.control")
  [ "$(printf '%s\n0.8.0\n' "$v" | sort -V | head -n1)" = "0.8.0" ]
}

if have_everything; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "provision: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

echo "provision: installing PostgreSQL ${PG_MAJOR}, pg_cron, pgTAP, pg_prove ..." >&2
$SUDO apt-get update -qq || echo "provision: apt-get update reported errors (unreachable extra sources?); going on" >&2

pkgs=(postgresql-common "postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-cron" "postgresql-${PG_MAJOR}-pgtap"
  libtap-parser-sourcehandler-pgtap-perl make gcc dpkg-dev)
# The server headers must match the installed server's version (a newer -dev from the security suite
# would pull a different libpq-dev).
if dpkg-query -W -f='${Status}' "postgresql-${PG_MAJOR}" 2>/dev/null | grep -q "ok installed"; then
  pkgs+=("postgresql-server-dev-${PG_MAJOR}=$(dpkg-query -W -f='${Version}' "postgresql-${PG_MAJOR}")")
else
  pkgs+=("postgresql-server-dev-${PG_MAJOR}")
fi
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null

if ! vector_ok; then
  if apt-cache show "postgresql-${PG_MAJOR}-pgvector" 2>/dev/null | grep -q "^Version: 0\.\([89]\|[1-9][0-9]\)"; then
    $SUDO apt-get install -y -qq --no-install-recommends "postgresql-${PG_MAJOR}-pgvector" >/dev/null
  else
    echo "provision: building pgvector from Debian's source package (trixie) ..." >&2
    src_list=/etc/apt/sources.list.d/supabase-ai-trixie-src.list
    if ! apt-cache showsrc pgvector 2>/dev/null | grep -q "^Version: 0\.\([89]\|[1-9][0-9]\)"; then
      echo "deb-src http://deb.debian.org/debian trixie main" | $SUDO tee "$src_list" >/dev/null
      $SUDO apt-get update -qq || true
    fi
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    (cd "$work" && apt-get source --download-only pgvector >/dev/null 2>&1)
    tar -xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
    srcdir=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n1)
    # Built on the machine that runs it, so -march=native (pgvector's default) is safe and speeds up distances.
    make -s -C "$srcdir" -j"$(nproc)" PG_CONFIG="${PG_BIN}/pg_config" >/dev/null
    $SUDO make -s -C "$srcdir" install PG_CONFIG="${PG_BIN}/pg_config" >/dev/null
  fi
fi

if ! have_everything; then
  echo "provision: something is still missing after installing; see the messages above" >&2
  exit 1
fi
echo "provision: done" >&2
