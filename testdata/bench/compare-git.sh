#!/usr/bin/env bash
# compare-git.sh measures how fast sxbisect is next to plain git, in one run on
# one large generated repository, and prints medians and sxbisect/git ratios:
#
#   1. a whole bisection with a trivial test (test ! -e BUG): `sxbisect start
#      --no-verify`, and separately sxbisect with its default verification of
#      both ends, against `git bisect start <bad> <good>` + `git bisect run`
#      in the checkout (`git bisect reset` is timed apart). A first, untimed
#      sxbisect session makes the pool worktree, which later sessions reuse;
#      before every timed session that worktree is put back at the bad end,
#      where git's checkout starts too.
#   2. making a new scratch worktree checked out at a commit: the pool's
#      Acquire + Checkout (testdata/bench/newworktree) against
#      `git worktree add --detach`.
#   3. only when a git.git mirror exists at $GITGIT: part 1 again on a clone
#      of it, v2.38.0..v2.39.0, with a culprit faked by the test
#      (`! git merge-base --is-ancestor <culprit> HEAD`).
#
# Run it from anywhere in the module (a few minutes):
#
#   bash testdata/bench/compare-git.sh
#
# Settings, from the environment: REPS (3) repetitions of part 1, WT_REPS (5)
# of part 2, FILES (4000), COMMITS (3000), GITGIT (/tmp/gitbench/git.git; empty
# to skip part 3), SXBISECT (a binary to use instead of building
# ./cmd/sxbisect), KEEP=1 to keep the temporary directory.
#
# The variants run interleaved, in an order that rotates from one repetition
# to the next, so that a change of machine load or of cache state hits all of
# them alike; the ratios are what to look at, more than the absolute times.
# Dirty pages are written back (sync) before every timed run, so that one
# run's writeback is not charged to the next.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk must use a decimal point

REPS=${REPS:-3}
WT_REPS=${WT_REPS:-5}
FILES=${FILES:-4000}
COMMITS=${COMMITS:-3000}
GITGIT=${GITGIT-/tmp/gitbench/git.git}
TEST_BUG='test ! -e BUG'

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sxbench.XXXXXX")
cleanup() {
	if [[ ${KEEP:-} == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

prog=compare-git
source "$root/testdata/bench/lib.sh"
# The --json result has one key per line, so a line-based read is enough
# and the script needs nothing beyond git, go, awk and sed.
json_str() { sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n1; }
json_sum() { awk -v k="\"$1\":" '$1 == k { sub(/,$/, "", $2); s += $2; n++ } END { printf "%.3f %d\n", s, n }' "$2"; }


load_before=$(load)
say "load average before: $load_before"

# --- tools ---------------------------------------------------------------
cd "$root"
if [[ -n ${SXBISECT:-} ]]; then
	sx=$SXBISECT
else
	sx=$tmp/sxbisect
	go build -o "$sx" ./cmd/sxbisect ||
		die "cannot build ./cmd/sxbisect; give a built binary with SXBISECT=/path/to/sxbisect"
fi
go build -o "$tmp/genrepo" ./testdata/bench/genrepo
go build -o "$tmp/newworktree" ./testdata/bench/newworktree

# --- the repository --------------------------------------------------------
repo=$tmp/repo
t0=$(now_us)
read -r good bad first_bad < <("$tmp/genrepo" -dir "$repo" -files "$FILES" -commits "$COMMITS" |
	sed 's/good=\([^ ]*\) bad=\([^ ]*\) first_bad=\([^ ]*\)/\1 \2 \3/')
[[ -n $first_bad ]] || die "genrepo printed no commits"
nfiles=$(git -C "$repo" ls-files | wc -l)
ncommits=$(git -C "$repo" rev-list --count "$bad")
nmerges=$(git -C "$repo" rev-list --merges --count "$bad")
say "generated $ncommits commits ($nmerges merges), $nfiles files in $(since "$t0")s"

# --- part 1 ----------------------------------------------------------------

# sx_session TAG REPO NAME GOOD BAD TEST [FLAG...] runs one sxbisect session
# and leaves its --json result in $tmp/TAG-NAME.json; it prints the wall time.
sx_session() {
	local tag=$1 repo=$2 name=$3 good=$4 bad=$5 test=$6
	shift 6
	local out=$tmp/$tag-$name.json t0
	t0=$(now_us)
	if ! "$sx" start --repo "$repo" "$@" --run "$test" --name "$name" --json -q "$good" "$bad" \
		>"$out" 2>"$tmp/$tag-$name.err"; then
		echo "sxbisect session $name in $repo failed (outcome $(json_str outcome "$out")):" >&2
		head -c 2000 "$tmp/$tag-$name.err" >&2
		return 1
	fi
	since "$t0"
}

# part1 TAG REPO GOOD BAD EXPECTED TEST measures whole bisections; TAG
# prefixes the result labels.
part1() {
	local tag=$1 repo=$2 good=$3 bad=$4 expect=$5 test=$6
	local t wt i k variant name out t0 t1 found s n
	# The first session writes the commit-graph (if the repository has none)
	# and makes the pool worktree with a full checkout; later sessions reuse
	# both, as they do in real use. Its time is shown but not compared.
	sync
	t0=$(now_us)
	t=$(timeout 120 "$sx" start --repo "$repo" --no-verify --run "$test" --name warm --json -q "$good" "$bad" \
		>"$tmp/$tag-warm.json" 2>"$tmp/$tag-warm.err" && echo ok) || true
	if [[ $t != ok || $(json_str first_bad "$tmp/$tag-warm.json") != "$expect" ]]; then
		echo "first sxbisect session: outcome $(json_str outcome "$tmp/$tag-warm.json")," \
			"first bad $(json_str first_bad "$tmp/$tag-warm.json"), expected $expect" >&2
		return 1
	fi
	add "$tag.cold" "$(since "$t0")"
	wt=$(json_str worktree "$tmp/$tag-warm.json")
	[[ -d $wt ]] || die "no pool worktree after the first session"

	local variants=(sx-noverify git sx-verify)
	for ((i = 1; i <= REPS; i++)); do
		for ((k = 0; k < ${#variants[@]}; k++)); do
			variant=${variants[(i + k) % ${#variants[@]}]}
			case $variant in
			git)
				sync
				t0=$(now_us)
				git -C "$repo" bisect start "$bad" "$good" >/dev/null || die "git bisect start failed"
				git -C "$repo" bisect run sh -c "$test" >"$tmp/$tag-git-$i.log" 2>&1 ||
					die "git bisect run failed: $(tail -n 5 "$tmp/$tag-git-$i.log")"
				t=$(since "$t0")
				t1=$(now_us)
				git -C "$repo" bisect reset >/dev/null 2>&1
				add "$tag.git-reset" "$(since "$t1")"
				add "$tag.git" "$t"
				add "$tag.git-steps" "$(grep -c '^running' "$tmp/$tag-git-$i.log")"
				found=$(sed -n 's/^\([0-9a-f]\{40\}\) is the first bad commit$/\1/p' "$tmp/$tag-git-$i.log")
				;;
			sx-*)
				# Start where git starts: its checkout is at the bad end.
				git -C "$wt" checkout -q -f --detach "$bad" || die "cannot reset the pool worktree"
				sync
				name=$variant-$i
				local flags=()
				[[ $variant == sx-noverify ]] && flags=(--no-verify)
				t=$(sx_session "$tag" "$repo" "$name" "$good" "$bad" "$test" "${flags[@]}") || die "see above"
				out=$tmp/$tag-$name.json
				[[ $(json_str worktree "$out") == "$wt" ]] ||
					die "session $name used $(json_str worktree "$out"), not the warm worktree $wt"
				add "$tag.$variant" "$t"
				read -r s n < <(json_sum duration_s "$out")
				add "$tag.$variant-steps" "$n"
				add "$tag.$variant-instep" "$s"
				add "$tag.$variant-test" "$(json_sum test_s "$out" | cut -d' ' -f1)"
				found=$(json_str first_bad "$out")
				;;
			esac
			[[ $found == "$expect" ]] || die "$variant found ${found:-nothing}, expected $expect"
		done
	done
}

say "part 1: whole bisections, $REPS repetitions"
part1 syn "$repo" "$good" "$bad" "$first_bad" "$TEST_BUG"

# --- part 2 ----------------------------------------------------------------
say "part 2: a new worktree at the bad end, $WT_REPS repetitions"
mkdir -p "$tmp/wt"
for ((i = 1; i <= WT_REPS; i++)); do
	for which in $( ((i % 2)) && echo "pool add" || echo "add pool"); do
		sync
		if [[ $which == pool ]]; then
			# The program times Acquire + Checkout itself, without its own
			# start, and removes the pool afterwards.
			add wt.pool "$("$tmp/newworktree" -repo "$repo" -pool "$tmp/wt/pool-$i" -commit "$bad" -remove)"
		else
			t0=$(now_us)
			git -C "$repo" -c advice.detachedHead=false worktree add -q --detach "$tmp/wt/add-$i" "$bad"
			add wt.add "$(since "$t0")"
			git -C "$repo" worktree remove --force "$tmp/wt/add-$i"
		fi
	done
done

# --- part 3 ----------------------------------------------------------------
gg_note=""
if [[ -n $GITGIT && -d $GITGIT ]] &&
	git -C "$GITGIT" rev-parse -q --verify v2.38.0^{commit} >/dev/null &&
	git -C "$GITGIT" rev-parse -q --verify v2.39.0^{commit} >/dev/null; then
	say "part 3: git.git v2.38.0..v2.39.0, $REPS repetitions"
	gg=$tmp/git.git-clone
	# A local clone hard-links the objects: quick, and nothing is fetched.
	git clone -q --no-checkout "$GITGIT" "$gg"
	git -C "$gg" -c advice.detachedHead=false checkout -q v2.39.0
	# The clone leaves git's optional submodule uninitialised, as most
	# clones do: git bisect leaves it alone, and so does sxbisect.
	gg_good=$(git -C "$gg" rev-parse v2.38.0^{commit})
	gg_bad=$(git -C "$gg" rev-parse v2.39.0^{commit})
	gg_range=$(git -C "$gg" rev-list --count "$gg_good..$gg_bad")
	n=$(git -C "$gg" rev-list --no-merges --count "$gg_good..$gg_bad")
	culprit=$(git -C "$gg" rev-list --no-merges "$gg_good..$gg_bad" | sed -n "$((n / 2))p")
	if part1 gg "$gg" "$gg_good" "$gg_bad" "$culprit" "! git merge-base --is-ancestor $culprit HEAD"; then
		gg_note="clone of $GITGIT, v2.38.0..v2.39.0 ($gg_range commits, culprit ${culprit:0:10})"
	else
		gg_note="skipped: the first sxbisect session on git.git did not find the culprit"
		say "$gg_note"
	fi
else
	gg_note="skipped: no git.git mirror with v2.38.0 and v2.39.0 at '${GITGIT}'"
fi

load_after=$(load)

# --- report ----------------------------------------------------------------
m() { median ${R[$1]}; }
row() { printf '  %-44s %8s   %-30s %s\n' "$1" "$2" "$3" "$4"; }
part1_rows() {
	local tag=$1 git sxn sxv
	git=$(m "$tag.git")
	sxn=$(m "$tag.sx-noverify")
	sxv=$(m "$tag.sx-verify")
	row "git bisect start+run (steps $(m "$tag.git-steps" | cut -d. -f1))" "$git" "${R[$tag.git]}" ""
	row "  git bisect reset, apart" "$(m "$tag.git-reset")" "${R[$tag.git-reset]}" ""
	row "sxbisect --no-verify (steps $(m "$tag.sx-noverify-steps" | cut -d. -f1))" "$sxn" "${R[$tag.sx-noverify]}" "$(ratio "$sxn" "$git") git"
	row "  in steps (checkout+test) / of which test" "$(m "$tag.sx-noverify-instep")" "test $(m "$tag.sx-noverify-test")" "outside steps $(awk -v a="$sxn" -v b="$(m "$tag.sx-noverify-instep")" 'BEGIN { printf "%.3f", a - b }')"
	row "sxbisect, verifying both ends (steps $(m "$tag.sx-verify-steps" | cut -d. -f1))" "$sxv" "${R[$tag.sx-verify]}" "$(ratio "$sxv" "$git") git"
	row "  in steps (checkout+test) / of which test" "$(m "$tag.sx-verify-instep")" "test $(m "$tag.sx-verify-test")" "outside steps $(awk -v a="$sxv" -v b="$(m "$tag.sx-verify-instep")" 'BEGIN { printf "%.3f", a - b }')"
	row "first sxbisect session (cold, not compared)" "$(m "$tag.cold")" "commit-graph, new worktree" ""
}

echo
printf '  %-44s %8s   %-30s %s\n' "what (wall seconds)" "median" "runs" "ratio"
echo "1. bisection, generated repository: $ncommits commits ($nmerges merges), $nfiles files"
part1_rows syn
echo "2. new worktree checked out at the bad end ($nfiles files)"
row "git worktree add --detach" "$(m wt.add)" "${R[wt.add]}" ""
row "pool Acquire + Checkout" "$(m wt.pool)" "${R[wt.pool]}" "$(ratio "$(m wt.pool)" "$(m wt.add)") git"
echo "3. bisection, $gg_note"
if [[ -n ${R[gg.git]:-} ]]; then
	part1_rows gg
fi
echo "load average (1, 5, 15 min): before $load_before, after $load_after; $(nproc 2>/dev/null || echo ?) cores"
summary="summary: sxbisect/git wall time: bisection $(ratio "$(m syn.sx-noverify)" "$(m syn.git)") (--no-verify), $(ratio "$(m syn.sx-verify)" "$(m syn.git)") (verifying)"
summary+="; new worktree $(ratio "$(m wt.pool)" "$(m wt.add)")"
if [[ -n ${R[gg.git]:-} ]]; then
	summary+="; git.git $(ratio "$(m gg.sx-noverify)" "$(m gg.git)") (--no-verify), $(ratio "$(m gg.sx-verify)" "$(m gg.git)") (verifying)"
fi
echo "$summary; medians of $REPS and $WT_REPS runs; same first bad commit everywhere"
