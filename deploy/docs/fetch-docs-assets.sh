#!/usr/bin/env bash
# Refresh the Swagger UI files that the query service embeds to render its API
# description at /api/docs/ (query/internal/docs/assets). They come from the
# npm package swagger-ui-dist at a pinned version, so the docs page loads
# nothing from a CDN and works on machines without Internet access.
#
#   fetch-docs-assets.sh           fetch the pinned version and replace the files
#   fetch-docs-assets.sh --check   verify the files against assets/SHA256SUMS (offline)
#
# To upgrade: set VERSION and INTEGRITY (npm view swagger-ui-dist@<v> dist.integrity),
# run this script, then `cd query && go test ./internal/docs/`.
#
# Exit status: 0 done, 1 failure, 2 bad usage, 3 npm registry unreachable.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="$REPO/query/internal/docs/assets"
PKG="swagger-ui-dist"
VERSION="5.35.0"
# The tarball's integrity as the registry published it: a changed tarball for
# the same version fails here rather than slipping into the binary.
INTEGRITY="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
# Only what the page loads, plus the licence texts (Apache-2.0 for Swagger UI;
# the bundle's third-party notices). Source maps and the other bundles stay out.
FILES=(swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt)

say() { echo "fetch-docs-assets: $*"; }

check() {
	[ -s "$DIR/SHA256SUMS" ] || { say "$DIR/SHA256SUMS is missing" >&2; return 1; }
	local listed
	listed="$(awk '{print $2}' "$DIR/SHA256SUMS" | sort | tr '\n' ' ')"
	if [ "$listed" != "$(printf '%s\n' "${FILES[@]}" | sort | tr '\n' ' ')" ]; then
		say "SHA256SUMS lists [$listed], this script wants [${FILES[*]}]" >&2
		return 1
	fi
	(cd "$DIR" && sha256sum --check --quiet --strict SHA256SUMS) || { say "files differ from SHA256SUMS" >&2; return 1; }
	[ "$(cat "$DIR/VERSION")" = "$PKG@$VERSION" ] || { say "VERSION says $(cat "$DIR/VERSION"), want $PKG@$VERSION" >&2; return 1; }
	say "$PKG@$VERSION: ${#FILES[@]} files match SHA256SUMS ($(cat "${FILES[@]/#/$DIR/}" | wc -c) bytes)"
}

case "${1:-}" in
"") ;;
--check) check; exit ;;
-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "fetch-docs-assets.sh: unknown argument $1 (want --check)" >&2; exit 2 ;;
esac

command -v npm >/dev/null || { say "npm is not installed" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

if ! (cd "$TMP" && npm pack "$PKG@$VERSION" --json --fetch-retries=2 >pack.json 2>npm.log); then
	if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|socket hang up' "$TMP/npm.log"; then
		say "the npm registry is unreachable; nothing was changed" >&2
		exit 3
	fi
	say "npm pack $PKG@$VERSION failed:" >&2
	cat "$TMP/npm.log" >&2
	exit 1
fi
tarball="$TMP/$PKG-$VERSION.tgz"
[ -s "$tarball" ] || { say "npm pack produced no $(basename "$tarball")" >&2; exit 1; }
# npm checked the tarball against the registry's metadata; check that against the pin.
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$got" = "$INTEGRITY" ] || { say "integrity $got, pinned $INTEGRITY" >&2; exit 1; }

tar -xzf "$tarball" -C "$TMP" "${FILES[@]/#/package/}"
for f in "${FILES[@]}"; do
	[ -s "$TMP/package/$f" ] || { say "$f missing or empty in $(basename "$tarball")" >&2; exit 1; }
done
mkdir -p "$DIR"
# Remove files of an earlier version that this one no longer ships.
find "$DIR" -maxdepth 1 -type f -delete
for f in "${FILES[@]}"; do
	cp "$TMP/package/$f" "$DIR/$f"
done
(cd "$DIR" && sha256sum "${FILES[@]}" >SHA256SUMS)
echo "$PKG@$VERSION" >"$DIR/VERSION"
say "installed $PKG@$VERSION into $DIR"
for f in "${FILES[@]}"; do
	say "$(wc -c <"$DIR/$f")	$f"
done
check
