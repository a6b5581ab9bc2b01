#!/bin/sh
# screenshot.sh renders the HTML report of a demo session to a PNG, to check
# by eye that the page and its charts look right.
#
#	sh testdata/report/screenshot.sh [OUT.png] [CASE]
#
# CASE is a demo case (default cpu: a --max-ratio session, whose chart has a
# baseline and a threshold). It generates the demo repository in a temporary
# directory, writes the report, and renders it with headless Chromium.
#
# If chromium is missing, this script installs Debian's package with
# 'apt-get update && apt-get install -y chromium' (as root, or with sudo).
set -eu

cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
out=${1:-$tmp/report}
out=${out%.png}
case=${2:-cpu}

if ! command -v chromium >/dev/null 2>&1; then
	echo "screenshot.sh: chromium is missing: installing Debian's chromium package (apt-get)" >&2
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

go build -o "$tmp/sxbisect" ./cmd/sxbisect
"$tmp/sxbisect" demo --case "$case" --dir "$tmp/sx" -q >"$tmp/demo.log" 2>&1 || {
	status=$?
	# 0 is found; anything else still leaves a session to report on,
	# unless the demo failed before starting one.
	echo "screenshot.sh: the demo exited with status $status (see $tmp/demo.log)" >&2
}
# The demo names its session after the case (demo, demo-cpu, ...): take
# the one session it made.
name=$(ls "$tmp/sx/.git/sxbisect/sessions" | head -n 1)
"$tmp/sxbisect" report --repo "$tmp/sx" --name "$name" --format html -o "$tmp/r.html"

profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --screenshot="$out.png" --window-size=1280,2000 \
	"file://$tmp/r.html" >"$tmp/chromium.log" 2>&1 || true
rm -rf "$profile"

if [ ! -s "$out.png" ]; then
	echo "screenshot.sh: no screenshot at $out.png (see $tmp/chromium.log)" >&2
	exit 1
fi
size=$(wc -c <"$out.png")
if [ "$size" -lt 20000 ]; then
	echo "screenshot.sh: $out.png is only $size bytes: the page looks empty" >&2
	exit 1
fi
echo "$out.png ($size bytes); report: $tmp/r.html"
