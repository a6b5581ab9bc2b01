#!/usr/bin/env bash
# build-cache.sh measures what the build cache saves, in one run, on a
# generated range where only every EVERY-th commit changes the build's input
# (src/level; docs/n changes at every commit, as guest libraries and plans do
# in a runtime's history). The build sleeps BUILD_S seconds, standing for a
# real one, copies src/level to out/level and counts itself; the test reads
# out/level, so a wrong restore would find a wrong commit. Each repetition
# runs, interleaved, in an order that rotates:
#
#   nocache  sxbisect start --no-build-cache
#   cold     sxbisect start --build-input src --build-output out, with an empty cache
#   warm     the same again, another session over the same range and cache
#
# and it prints, per variant, the steps, the distinct input trees among the
# tested commits, the builds that ran and the wall time (medians), and the
# ratios of wall time to nocache. The goals: cold builds = distinct input
# trees, warm builds = 0.
#
#   bash testdata/bench/build-cache.sh
#
# Settings, from the environment: COMMITS (100), EVERY (5), BUILD_S (1),
# REPS (3), SXBISECT (a binary to use instead of building ./cmd/sxbisect),
# KEEP=1 to keep the temporary directory.
set -euo pipefail
export LC_ALL=C

COMMITS=${COMMITS:-100}
EVERY=${EVERY:-5}
BUILD_S=${BUILD_S:-1}
REPS=${REPS:-3}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
prog=build-cache
source "$root/testdata/bench/lib.sh"
workdir sxcache

cd "$root"

# --- the repository: commit i has src/level = i/EVERY and docs/n = i ------
repo=$tmp/repo
levels_repo "$repo" "$COMMITS" "$EVERY"
good=$(git -C "$repo" rev-list --max-parents=0 main)
level=$((COMMITS * 2 / 3 / EVERY))
expect=$(git -C "$repo" rev-list --reverse main | sed -n "$((level * EVERY + 1))p")
say "generated $COMMITS commits; the build's input changes every $EVERY commits; first bad: change $((level * EVERY))"

counter=$tmp/builds
build="sleep $BUILD_S; echo \"\$SXBISECT_COMMIT\" >> '$counter'; mkdir -p out && cp src/level out/level"
test="test \"\$(cat out/level)\" -lt $level"

# session NAME FLAG... runs one session and records its figures under the
# label given by the global variant.
session() {
	local name=$1
	shift
	local before t0 t journal steps trees
	before=$(lines "$counter")
	t0=$(now_us)
	"$sx" start --repo "$repo" --build "$build" --run "$test" --name "$name" --json -q "$@" "$good" main \
		>"$tmp/$name.json" 2>"$tmp/$name.err" || die "session $name failed: $(head -c 1000 "$tmp/$name.err")"
	t=$(since "$t0")
	grep -q "\"first_bad\": \"$expect\"" "$tmp/$name.json" || die "session $name did not find change $((level * EVERY))"
	journal=$repo/.git/sxbisect/sessions/$name/journal.jsonl
	sed -n 's/^{"type":"verdict".*"commit":"\([0-9a-f]\{40\}\)".*/\1/p' "$journal" >"$tmp/$name.tested"
	steps=$(lines "$tmp/$name.tested")
	trees=$(while read -r c; do git -C "$repo" rev-parse "$c:src"; done <"$tmp/$name.tested" | sort -u | wc -l)
	add "$variant.wall" "$t"
	add "$variant.steps" "$steps"
	add "$variant.trees" "$trees"
	add "$variant.builds" "$(($(lines "$counter") - before))"
}

for ((i = 1; i <= REPS; i++)); do
	order="nocache cached"
	((i % 2)) || order="cached nocache"
	for which in $order; do
		sync
		if [[ $which == nocache ]]; then
			variant=nocache session "nocache-$i" --no-build-cache
		else
			cache=$tmp/cache-$i
			variant=cold session "cold-$i" --build-input src --build-output out --build-cache "$cache"
			variant=warm session "warm-$i" --build-input src --build-output out --build-cache "$cache"
		fi
	done
	say "repetition $i of $REPS done"
done

printf '\n%d commits, input changes every %d, build %ss, %d repetitions (medians)\n' "$COMMITS" "$EVERY" "$BUILD_S" "$REPS"
printf '%-8s %6s %16s %7s %9s %12s\n' variant steps "distinct inputs" builds "wall s" "vs nocache"
base=$(median ${R[nocache.wall]})
for v in nocache cold warm; do
	w=$(median ${R[$v.wall]})
	printf '%-8s %6s %16s %7s %9s %12s\n' "$v" "$(imedian ${R[$v.steps]})" "$(imedian ${R[$v.trees]})" \
		"$(imedian ${R[$v.builds]})" "$w" "$(ratio "$w" "$base")"
done
