#!/usr/bin/env bash
# prefer-cached.sh measures what --prefer-cached saves with --parallel 3, in
# one run, on build-cache.sh's kind of range: only every EVERY-th commit
# changes the build's input (src/level), the build sleeps BUILD_S seconds,
# copies src/level to out/level and counts itself, and the test reads
# out/level. A session from another good end (change WARM_FROM) over the
# same bad end warms a cache first, as an earlier bisection of an
# overlapping range would; each repetition then runs, interleaved, in an
# order that rotates, on a copy of that cache each:
#
#   git      sxbisect start --parallel 3
#   prefer   sxbisect start --parallel 3 --prefer-cached
#
# and it prints, per variant, the steps (verdicts), the builds that ran
# (started, so a probe stopped mid-build counts) and the wall time
# (medians), and the ratios to git's.
#
#   bash testdata/bench/prefer-cached.sh
#
# Settings, from the environment: COMMITS (100), EVERY (5), BUILD_S (1),
# WARM_FROM (COMMITS/10), REPS (3), SXBISECT (a binary to use instead of
# building ./cmd/sxbisect), KEEP=1 to keep the temporary directory.
set -euo pipefail
export LC_ALL=C

COMMITS=${COMMITS:-100}
EVERY=${EVERY:-5}
BUILD_S=${BUILD_S:-1}
WARM_FROM=${WARM_FROM:-$((COMMITS / 10))}
REPS=${REPS:-3}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prog=prefer-cached
source "$root/testdata/bench/lib.sh"
workdir sxprefer

cd "$root"

# --- the repository: commit i has src/level = i/EVERY and docs/n = i ------
repo=$tmp/repo
levels_repo "$repo" "$COMMITS" "$EVERY"
commit() { git -C "$repo" rev-list --reverse main | sed -n "$(($1 + 1))p"; }
good=$(commit 0)
level=$((COMMITS * 2 / 3 / EVERY))
expect=$(commit $((level * EVERY)))
say "generated $COMMITS commits; the build's input changes every $EVERY commits; first bad: change $((level * EVERY))"

counter=$tmp/builds
build="sleep $BUILD_S; echo \"\$SXBISECT_COMMIT\" >> '$counter'; mkdir -p out && cp src/level out/level"
test="test \"\$(cat out/level)\" -lt $level"

# session NAME FROM FLAG... runs one session from good commit FROM; with a
# variant set, it records its figures under that label.
session() {
	local name=$1 from=$2
	shift 2
	local before t0 t journal
	before=$(lines "$counter")
	t0=$(now_us)
	"$sx" start --repo "$repo" --build "$build" --run "$test" --build-input src --build-output out --name "$name" --json -q "$@" "$from" main \
		>"$tmp/$name.json" 2>"$tmp/$name.err" || die "session $name failed: $(head -c 1000 "$tmp/$name.err")"
	t=$(since "$t0")
	grep -q "\"first_bad\": \"$expect\"" "$tmp/$name.json" || die "session $name did not find change $((level * EVERY))"
	[[ -n ${variant:-} ]] || return 0
	journal=$repo/.git/sxbisect/sessions/$name/journal.jsonl
	add "$variant.wall" "$t"
	add "$variant.steps" "$(grep -c '^{"type":"verdict"' "$journal")"
	add "$variant.builds" "$(($(lines "$counter") - before))"
	if [[ $variant == prefer ]]; then
		grep -q -- '--prefer-cached' "$tmp/$name.json" && add prefer.told 1 || add prefer.told 0
	fi
}

warm=$tmp/cache-warm
variant='' session warm "$(commit "$WARM_FROM")" --build-cache "$warm"
say "warmed the cache from change $WARM_FROM: $(lines "$counter") builds"

for ((i = 1; i <= REPS; i++)); do
	order="git prefer"
	((i % 2)) || order="prefer git"
	for which in $order; do
		sync
		cp -a "$warm" "$tmp/cache-$which-$i"
		if [[ $which == git ]]; then
			variant=git session "git-$i" "$good" --parallel 3 --build-cache "$tmp/cache-$which-$i"
		else
			variant=prefer session "prefer-$i" "$good" --parallel 3 --prefer-cached --build-cache "$tmp/cache-$which-$i"
		fi
	done
	say "repetition $i of $REPS done (load $(load))"
done

printf '\n%d commits, input changes every %d, build %ss, cache warmed from change %d, --parallel 3, %d repetitions (medians)\n' \
	"$COMMITS" "$EVERY" "$BUILD_S" "$WARM_FROM" "$REPS"
printf '%-8s %6s %7s %9s %12s %12s\n' variant steps builds "wall s" "builds vs git" "wall vs git"
bw=$(median ${R[git.wall]})
bb=$(median ${R[git.builds]})
for v in git prefer; do
	w=$(median ${R[$v.wall]})
	b=$(median ${R[$v.builds]})
	printf '%-8s %6s %7s %9s %12s %12s\n' "$v" "$(imedian ${R[$v.steps]})" "$(imedian ${R[$v.builds]})" "$w" "$(ratio "$b" "$bb")" "$(ratio "$w" "$bw")"
done
printf 'the result said the commits differ from git'"'"'s in %s of %d prefer sessions\n' "$(echo ${R[prefer.told]} | tr ' ' '\n' | grep -c 1)" "$REPS"
