#!/usr/bin/env bash
# compare-memory.sh measures the peak memory of sxbisect next to git's, in
# one run, on a repository and range you give, and prints medians and the
# sxbisect/git ratio:
#
#   - sxbisect: the peak resident size (VmHWM) of the sxbisect process
#     itself during a whole session, `start --no-verify --run true` (its
#     children, git checkouts and the test, are apart and the same as
#     git's), read from /proc while it runs; with its anonymous and
#     file-backed parts (the binary, the mapped commit-graph and packs);
#   - git: the maximum resident size of `git bisect start --no-checkout`,
#     which walks the whole range once to choose the first commit, the
#     largest walk of a bisection (`git bisect reset` follows, untimed).
#
# The two alternate, REPS times (3). The repository is only read, but for
# sxbisect's session state (reset between runs) and the commit-graph file
# a first session writes when there is none.
#
#   bash testdata/bench/compare-memory.sh REPO GOOD BAD
#
# For instance git's own history, whole (REPO a clone of git.git, GOOD its
# first commit e83c5163316f89bfbde7d9ab23ca2e25604af290, BAD master), or a
# line of a million commits from `genrepo -linear -commits 1000000`.
# SXBISECT names a binary to use instead of building ./cmd/sxbisect; KEEP=1
# keeps the temporary directory.
set -euo pipefail
export LC_ALL=C
prog=compare-memory
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$root/testdata/bench/lib.sh"

[[ $# == 3 ]] || { echo "usage: compare-memory.sh REPO GOOD BAD" >&2; exit 2; }
repo=$1 good=$2 bad=$3
REPS=${REPS:-3}
[[ -x /usr/bin/time ]] || die "needs GNU time at /usr/bin/time"
workdir sxmem

# peak CMD... runs CMD and prints the peaks of its VmHWM, RssAnon and
# RssFile, in kB, polled every 20 ms (VmHWM never falls, so a poll that
# comes late still sees the peak).
peak() {
	"$@" >/dev/null 2>"$tmp/err" &
	local pid=$! hwm=0 anon=0 file=0 h a f
	while kill -0 "$pid" 2>/dev/null; do
		if read -r h a f < <(awk '/^VmHWM/ {h = $2} /^RssAnon/ {a = $2} /^RssFile/ {f = $2}
			END {print h + 0, a + 0, f + 0}' "/proc/$pid/status" 2>/dev/null); then
			((h > hwm)) && hwm=$h
			((a > anon)) && anon=$a
			((f > file)) && file=$f
		fi
		sleep 0.02
	done
	wait "$pid" || die "$* failed: $(tail -n 3 "$tmp/err")"
	echo "$hwm $anon $file"
}

git -C "$repo" bisect reset >/dev/null 2>&1 || true
declare -a sxh sxa sxf gm
for ((i = 1; i <= REPS; i++)); do
	"$sx" reset --repo "$repo" --name memory >/dev/null 2>&1 || true
	out=$(peak "$sx" start --repo "$repo" --name memory --no-verify --run true -q "$good" "$bad")
	read -r h a f <<<"$out"
	sxh+=("$h") sxa+=("$a") sxf+=("$f")
	/usr/bin/time -f '%M' -o "$tmp/git" git -C "$repo" bisect start --no-checkout "$bad" "$good" >/dev/null
	gm+=("$(tail -n 1 "$tmp/git")")
	git -C "$repo" bisect reset >/dev/null 2>&1
done
"$sx" reset --repo "$repo" --name memory >/dev/null 2>&1 || true

g=$(median "${gm[@]}")
s=$(median "${sxh[@]}")
echo "peak memory, $good..$bad in $repo ($(git -C "$repo" rev-list --count "$good..$bad") commits), medians of $REPS:"
awk -v g="$g" 'BEGIN { printf "  git bisect start --no-checkout  %8.1f MB\n", g / 1024 }'
awk -v s="$s" -v g="$g" -v a="$(median "${sxa[@]}")" -v f="$(median "${sxf[@]}")" \
	'BEGIN { printf "  sxbisect session (itself)        %8.1f MB   %.2fx git   (anonymous %.1f MB, file-backed %.1f MB)\n", s / 1024, s / g, a / 1024, f / 1024 }'
echo "load average at the end: $(load)"
