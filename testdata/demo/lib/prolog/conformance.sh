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
# A file takes milliseconds; the deadline only stops a hung server.
deadline="timeout 2"
command -v timeout >/dev/null 2>&1 || deadline=
pass=0
total=0
for t in lib/prolog/tests/*.sx; do
	n=$(grep -c '^(test ' "$t")
	out=$($deadline "$server" spec/core.sx lib/prolog/runtime.sx "$t" 2>&1)
	ok=$(printf '%s\n' "$out" | grep -c '^ok ')
	printf '%s\n' "$out" | grep -v -e '^ok ' -e '^$' | sed "s|^|$t: |"
	pass=$((pass + ok))
	total=$((total + n))
done
echo "prolog: $pass/$total passed"
[ "$pass" -eq "$total" ]
