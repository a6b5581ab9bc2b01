#!/bin/sh
# lib/tcl/test.sh: run the tcl guest suite against the C host.
#
# Every lib/tcl/tests/*.sx file runs in a fresh sx_server after spec/core.sx
# and lib/tcl/runtime.sx; each (test ...) form reports "ok" or "FAIL". The
# last line is the scoreboard; the exit status is 0 only when every test
# passed. Build the server first: make (or cc -O1 -o sx_server hosts/c/sx_server.c).
cd "$(dirname "$0")/../.." || exit 2
server=./sx_server
[ -x "$server" ] || { echo "tcl: $server is not built" >&2; exit 2; }
# A file takes well under a second; the deadline only stops a hung server.
deadline="timeout 60"
command -v timeout >/dev/null 2>&1 || deadline=
for t in lib/tcl/tests/*.sx; do
	echo "@file $t $(grep -c '^(test ' "$t")"
	$deadline "$server" spec/core.sx lib/tcl/runtime.sx "$t" 2>&1
done | awk '
	/^@file / { file = $2; total += $3; next }
	/^ok / { pass++; next }
	/./ { print file ": " $0 }
	END { printf "tcl: %d/%d passed\n", pass, total; exit pass != total }'
