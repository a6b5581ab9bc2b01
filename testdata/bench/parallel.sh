#!/usr/bin/env bash
# parallel.sh measures what --parallel K saves, in one run: the wall time of
# whole bisections with K = 1, 3 and 7 on a generated linear range, with a
# build that sleeps BUILD_S seconds (standing for a real one; on a machine
# with 2 cores a sleeping build is the only kind that K benches can overlap,
# so the figures are the ideal of a machine with enough cores) and a quick
# test. Runs are interleaved, in an order that rotates, and it prints per K
# the steps, the steps stopped as useless, the wall time (medians) and the
# ratio to K=1. The goals: K=3 at most 0.6x, K=7 at most 0.45x.
#
#   bash testdata/bench/parallel.sh
#
# With BEFORE set to another sxbisect binary (one built from an older
# tree), every session runs with both, side by side, and a second table
# gives the new binary's times as ratios to the old one's.
#
# Settings, from the environment: COMMITS (500), BUILD_S (1), REPS (3),
# KS ("1 3 7"), SXBISECT (a binary to use instead of building
# ./cmd/sxbisect), BEFORE, KEEP=1 to keep the temporary directory.
set -euo pipefail
export LC_ALL=C

COMMITS=${COMMITS:-500}
BUILD_S=${BUILD_S:-1}
REPS=${REPS:-3}
KS=${KS:-1 3 7}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prog=parallel
source "$root/testdata/bench/lib.sh"
workdir sxparallel

cd "$root"

# --- the repository: commit i has value = i --------------------------------
repo=$tmp/repo
git init -q -b main "$repo"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
{
	for ((i = 0; i < COMMITS; i++)); do
		printf 'commit refs/heads/main\ncommitter bench <bench@example.com> %d +0000\ndata <<EOM\nchange %d\nEOM\n' $((1700000000 + i * 60)) "$i"
		printf 'M 100644 inline value\ndata <<EOM\n%d\nEOM\n\n' "$i"
	done
} | git -C "$repo" fast-import --quiet
git -C "$repo" checkout -q main
first_bad=$((COMMITS * 2 / 3 + 7))
good=$(git -C "$repo" rev-list --max-parents=0 main)
expect=$(git -C "$repo" rev-list --reverse main | sed -n "$((first_bad + 1))p")
say "generated $COMMITS commits; first bad: change $first_bad"

build="sleep $BUILD_S; cp value built"
test="test \"\$(cat built)\" -lt $first_bad"

# session NAME K BINARY LABEL
session() {
	local name=$1 k=$2 bin=$3 label=$4 t0 t journal
	t0=$(now_us)
	"$bin" start --repo "$repo" --build "$build" --run "$test" --name "$name" --no-build-cache --parallel "$k" --json -q "$good" main \
		>"$tmp/$name.json" 2>"$tmp/$name.err" || die "session $name failed: $(head -c 1000 "$tmp/$name.err")"
	t=$(since "$t0")
	grep -q "\"first_bad\": \"$expect\"" "$tmp/$name.json" || die "session $name did not find change $first_bad"
	journal=$repo/.git/sxbisect/sessions/$name/journal.jsonl
	add "$label$k.wall" "$t"
	add "$label$k.steps" "$(grep -c '"type":"verdict"' "$journal")"
	add "$label$k.dropped" "$(grep -c '"type":"drop"' "$journal" || true)"
}

labels=(k)
[[ -n ${BEFORE:-} ]] && labels=(k before)
binary() { if [[ $1 == before ]]; then echo "$BEFORE"; else echo "$sx"; fi; }

for ((i = 1; i <= REPS; i++)); do
	order=($KS)
	for ((r = 0; r < i - 1; r++)); do order=("${order[@]:1}" "${order[0]}"); done
	for k in "${order[@]}"; do
		for label in "${labels[@]}"; do
			sync
			session "$label$k-$i" "$k" "$(binary "$label")" "$label"
		done
		labels=("${labels[@]:1}" "${labels[0]}") # the binaries take turns going first
	done
	say "repetition $i of $REPS done (load $(load))"
done

table() { # table LABEL
	local base w k
	printf '%-4s %6s %8s %9s %9s\n' K steps stopped "wall s" "vs K=1"
	base=$(median ${R[${1}1.wall]})
	for k in $KS; do
		w=$(median ${R[$1$k.wall]})
		printf '%-4s %6s %8s %9s %9s\n' "$k" "$(imedian ${R[$1$k.steps]})" "$(imedian ${R[$1$k.dropped]})" "$w" "$(ratio "$w" "$base")"
	done
}
printf '\n%d commits, build %ss (sleeping), quick test, %d repetitions (medians)\n' "$COMMITS" "$BUILD_S" "$REPS"
table k
if [[ -n ${BEFORE:-} ]]; then
	printf '\nbefore (%s), in the same run\n' "$BEFORE"
	table before
	printf '\n%-4s %9s %9s %9s\n' K "before s" "after s" "ratio"
	for k in $KS; do
		a=$(median ${R[k$k.wall]}) b=$(median ${R[before$k.wall]})
		printf '%-4s %9s %9s %9s\n' "$k" "$b" "$a" "$(ratio "$a" "$b")"
	done
fi
