#!/bin/sh
# lib/erlang/conformance.sh: run the erlang conformance suite against the C host.
#
# The suites run as one chain in a single sx_server, after spec/core.sx and
# lib/erlang/runtime.sx, as erlang processes share one node. The server ends
# each suite with a marker, (ok-len FILE PASSED RUN); the scoreboard is the
# sum of the markers, and the exit status is 0 when every test that ran
# passed.
cd "$(dirname "$0")/../.." || exit 2
server=./sx_server
[ -x "$server" ] || { echo "erlang: $server is not built" >&2; exit 2; }
# The chain takes a fraction of a second; the deadline only stops a hung server.
deadline="timeout 3"
command -v timeout >/dev/null 2>&1 || deadline=
out=$($deadline "$server" --epochs spec/core.sx lib/erlang/runtime.sx lib/erlang/tests/*.sx 2>&1)
printf '%s\n' "$out" | grep -v -e '^ok ' -e '^$'
score=$(printf '%s\n' "$out" | awk '/^\(ok-len / { pass += $3; run += $4 } END { print pass + 0, run + 0 }')
pass=${score% *}
total=${score#* }
echo "erlang: $pass/$total passed"
[ "$pass" -eq "$total" ]
