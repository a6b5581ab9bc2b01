#!/bin/sh
# lib/prolog/conformance.sh: run the prolog conformance suite against the C host.
#
# Every lib/prolog/tests/*.sx file runs in a fresh sx_server after spec/core.sx
# and lib/prolog/runtime.sx; each (test ...) form reports "ok" or "FAIL". The
# last line is the scoreboard; the exit status is 0 only when every test
# passed.
cd "$(dirname "$0")/../.." || exit 2
server=./sx_server
[ -x "$server" ] || { echo "prolog: $server is not built" >&2; exit 2; }
# A file takes well under a second; the deadline only stops a hung server.
deadline="timeout 60"
command -v timeout >/dev/null 2>&1 || deadline=
for t in lib/prolog/tests/*.sx; do
	echo "@file $t $(grep -c '^(test ' "$t")"
	$deadline "$server" spec/core.sx lib/prolog/runtime.sx "$t" 2>&1
done | awk '
	/^@file / { file = $2; total += $3; next }
	/^ok / { pass++; next }
	/./ { print file ": " $0 }
	END { printf "prolog: %d/%d passed\n", pass, total; exit pass != total }'
