#!/usr/bin/env bash
# ratio-under-load.sh measures how well `--max-ratio` finds a slowdown on a
# machine whose load keeps changing, in one run:
#
#   1. a generated repository of COMMITS commits whose test (awk counting to
#      N) passes everywhere, but counts to 2N from commit K on: only the
#      ratio to the good commit can find K. N is calibrated so that a run
#      costs about CPU_TARGET seconds of CPU.
#   2. beside every run, a background controller that every 0.5-2 s (at
#      random) starts or stops 1-3 spinning shells, at most MAX_SPIN at a
#      time, for the whole measurement; it is killed at the end.
#   3. SESSIONS sessions with `--max-ratio cpu=1.5` and SESSIONS with
#      `--max-ratio wall=1.5`, interleaved (cpu, wall, cpu, wall, ...), each
#      a fresh session name in the same repository (the pool's worktrees are
#      reused), with default settings otherwise (both ends verified). It
#      counts the sessions that found exactly K and the other outcomes, and
#      takes the median session wall time.
#   4. sxbisect's own cost per step: `sxbisect start --no-verify --run true`
#      against `git bisect start` + `git bisect run true` on the same
#      repository, interleaved, REPS times each: (sx - git) / steps.
#
# Run it from anywhere in the module (about 8 minutes on 2 cores, more when
# other work shares the machine):
#
#   bash testdata/bench/ratio-under-load.sh
#
# Settings, from the environment: SESSIONS (10) per metric, COMMITS (60),
# K (41, the first slow commit, counted from 0), CPU_TARGET (0.2 s per run),
# ITERS (N itself, instead of calibrating), MAX_SPIN (3), WALL_CAP (20 s; a
# wall session still running then is stopped with SIGTERM and counted as
# capped; 0 for no cap), REPS (3) repetitions of part 4, SXBISECT (a binary
# to use instead of building ./cmd/sxbisect), KEEP=1 to keep the temporary
# directory. Needs python3 to read the --json results.
#
# Why a cap on wall sessions: with the default load limit (the number of
# CPUs), a machine this busy has no quiet samples, so every commit is taken
# to 15 samples and skipped; an uncapped wall session takes minutes and ends
# with only skipped commits, which ten of them would not fit in the run.
set -euo pipefail
export LC_ALL=C # EPOCHREALTIME and awk must use a decimal point

SESSIONS=${SESSIONS:-10}
COMMITS=${COMMITS:-60}
K=${K:-41}
CPU_TARGET=${CPU_TARGET:-0.2}
ITERS=${ITERS:-}
MAX_SPIN=${MAX_SPIN:-3}
WALL_CAP=${WALL_CAP:-20}
REPS=${REPS:-3}
# The test: all of its work is in one process, so CPU time and wall time
# double together at K, and it always exits 0.
TEST='awk -v n="$(cat N)" '\''BEGIN { for (i = 0; i < n; i++) s += i; exit 0 }'\'

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sxbench.XXXXXX")
busy_pgid=""
cleanup() {
	if [[ -n $busy_pgid ]]; then
		kill -TERM -- "-$busy_pgid" 2>/dev/null || true
	fi
	if [[ ${KEEP:-} == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs and the spinners stop

prog=ratio-under-load
source "$root/testdata/bench/lib.sh"
declare -A C # label -> count
count() { C[$1]=$((${C[$1]:-0} + 1)); }

command -v python3 >/dev/null || die "python3 is needed to read sxbisect's --json results"
((K >= 1 && K < COMMITS)) || die "K must be between 1 and COMMITS-1"

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

# summary.py reads one --json result and prints one line:
# outcome first_bad steps skips runs worktree
cat >"$tmp/summary.py" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("error - 0 0 0 -")
    sys.exit(0)
steps = d.get("steps") or []
skips = sum(1 for s in steps if s.get("verdict") == "skip")
# samples is the candidate's runs; baseline_samples the fresh baseline runs
# beside them (A B A B).
runs = sum(int((s.get("metrics") or {}).get("samples", 1)) +
           int((s.get("metrics") or {}).get("baseline_samples", 0)) for s in steps)
print(d.get("outcome") or "error", d.get("first_bad") or "-", len(steps), skips, runs,
      d.get("worktree") or "-")
EOF

# --- the test's size --------------------------------------------------------
# CPU time, not wall time, so that the load of the moment matters little;
# the fastest of three, as the others only add interference.
if [[ -z $ITERS ]]; then
	best=""
	for _ in 1 2 3; do
		c=$( { TIMEFORMAT='%U %S'; time awk -v n=2000000 'BEGIN { for (i = 0; i < n; i++) s += i; exit 0 }'; } 2>&1 |
			awk '{ printf "%.4f", $1 + $2 }')
		if [[ -z $best ]] || awk -v a="$c" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$c; fi
	done
	ITERS=$(awk -v c="$best" -v t="$CPU_TARGET" 'BEGIN { if (c < 0.001) c = 0.001; printf "%d", 2000000 * t / c }')
	say "awk counts to 2M in ${best}s CPU: N = $ITERS for about ${CPU_TARGET}s a run"
fi

# --- the repository --------------------------------------------------------
# Every commit changes notes.txt, so that every checkout rewrites a file;
# N holds the count, doubled from commit K on. Fixed dates make the hashes
# the same from one run to the next.
repo=$tmp/repo
git init -q "$repo"
git -C "$repo" config user.name bench
git -C "$repo" config user.email bench@example.com
git -C "$repo" config commit.gpgsign false
t0=$(now_us)
for ((i = 0; i < COMMITS; i++)); do
	echo "change $i" >>"$repo/notes.txt"
	if ((i < K)); then echo "$ITERS" >"$repo/N"; else echo $((2 * ITERS)) >"$repo/N"; fi
	git -C "$repo" add notes.txt N
	GIT_AUTHOR_DATE="@$((1700000000 + i * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 60)) +0000" \
		git -C "$repo" commit -q -m "commit $i"
	if ((i == K)); then first_bad=$(git -C "$repo" rev-parse HEAD); fi
done
good=$(git -C "$repo" rev-list --max-parents=0 HEAD)
bad=$(git -C "$repo" rev-parse HEAD)
say "generated $COMMITS commits in $(since "$t0")s; first slow commit $K = ${first_bad:0:12}"

# --- the busy loops ------------------------------------------------------------
# The controller runs in its own session (setsid), so that killing its
# process group stops it and every spinner it started, whatever it was
# doing. It logs "seconds spinners load1" at every switch.
cat >"$tmp/busy.sh" <<'EOF'
max=$1 log=$2
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; exit 0' TERM INT
while :; do
	n=$((1 + RANDOM % 3))
	# Start when none spin or a coin says so and there is room; else stop.
	if ((${#pids[@]} == 0 || (RANDOM % 2 == 0 && ${#pids[@]} < max))); then
		for ((j = 0; j < n && ${#pids[@]} < max; j++)); do
			sh -c 'while :; do :; done' &
			pids+=($!)
		done
	else
		for ((j = 0; j < n && ${#pids[@]} > 0; j++)); do
			kill "${pids[-1]}" 2>/dev/null
			wait "${pids[-1]}" 2>/dev/null
			unset 'pids[-1]'
		done
	fi
	echo "$EPOCHREALTIME ${#pids[@]} $(cut -d' ' -f1 /proc/loadavg)" >>"$log"
	# 0.5 to 2 s, in steps of 10 ms.
	cs=$((50 + RANDOM % 151))
	sleep "$((cs / 100)).$(printf '%02d' $((cs % 100)))"
done
EOF
setsid bash "$tmp/busy.sh" "$MAX_SPIN" "$tmp/busy.log" </dev/null >/dev/null 2>&1 &
busy_pid=$!
sleep 0.2
busy_pgid=$(ps -o pgid= -p "$busy_pid" | tr -d ' ')
[[ $busy_pgid == "$busy_pid" ]] || die "the load controller is not a process group leader (pgid $busy_pgid)"
busy_t0=$EPOCHREALTIME
say "load controller started (pid $busy_pid, at most $MAX_SPIN spinners)"

# --- part 3: sessions ------------------------------------------------------------
# sx_ratio METRIC I runs one session with --max-ratio METRIC=1.5 and records
# its outcome under METRIC.
sx_ratio() {
	local metric=$1 i=$2
	local name=$metric-$i out t0 t rc outcome found steps skips runs wt kind
	out=$tmp/$name.json
	local cap=()
	[[ $metric == wall && $WALL_CAP != 0 ]] && cap=(timeout -s TERM "$WALL_CAP")
	t0=$(now_us)
	rc=0
	"${cap[@]}" "$sx" start --repo "$repo" --max-ratio "$metric=1.5" --run "$TEST" --name "$name" --json -q \
		"$good" "$bad" >"$out" 2>"$tmp/$name.err" || rc=$?
	t=$(since "$t0")
	read -r outcome found steps skips runs wt < <(python3 "$tmp/summary.py" "$out")
	case $outcome in
	found) [[ $found == "$first_bad" ]] && kind=right || kind=wrong ;;
	interrupted) [[ $rc == 124 ]] && kind=capped || kind=interrupted ;;
	*) kind=$outcome ;;
	esac
	count "$metric.$kind"
	add "$metric.time" "$t"
	add "$metric.steps" "$steps"
	add "$metric.skips" "$skips"
	add "$metric.runs" "$runs"
	[[ $wt != - ]] && add worktrees "$wt"
	say "$(printf '%-8s %-12s exit %-3s %7ss  %2d steps (%2d skipped), %3d runs, load %s' \
		"$name" "$kind" "$rc" "$t" "$steps" "$skips" "$runs" "$(load)")"
	if [[ $kind == wrong ]]; then
		say "  found $(git -C "$repo" log -1 --format='%h %s' "$found"), not commit $K"
	elif [[ $kind == error ]]; then
		head -c 1000 "$tmp/$name.err" >&2
	fi
}

say "part 3: $SESSIONS sessions each of --max-ratio cpu=1.5 and wall=1.5, interleaved"
for ((i = 1; i <= SESSIONS; i++)); do
	sx_ratio cpu "$i"
	sx_ratio wall "$i"
done

# --- part 4: cost per step ----------------------------------------------------
# With `true` every commit tests good, so both end at the bad end after the
# same steps; the difference per step is what sxbisect adds to git (a
# measured run in a cgroup, the journal, the checkout in its worktree).
say "part 4: sxbisect --no-verify --run true against git bisect run true, $REPS repetitions"
wt=$(python3 "$tmp/summary.py" "$tmp/cpu-1.json" | cut -d' ' -f6)
for ((i = 1; i <= REPS; i++)); do
	for which in $( ((i % 2)) && echo "sx git" || echo "git sx"); do
		if [[ $which == git ]]; then
			t0=$(now_us)
			git -C "$repo" bisect start "$bad" "$good" >/dev/null || die "git bisect start failed"
			git -C "$repo" bisect run true >"$tmp/git-$i.log" 2>&1 ||
				die "git bisect run failed: $(tail -n 5 "$tmp/git-$i.log")"
			add git.time "$(since "$t0")"
			git -C "$repo" bisect reset >/dev/null 2>&1
			add git.steps "$(grep -c '^running' "$tmp/git-$i.log")"
		else
			# Start where git starts: its checkout is at the bad end.
			[[ -d $wt ]] && git -C "$wt" checkout -q -f --detach "$bad"
			t0=$(now_us)
			"$sx" start --repo "$repo" --no-verify --run true --name true-$i --json -q "$good" "$bad" \
				>"$tmp/true-$i.json" 2>"$tmp/true-$i.err" || die "sxbisect --run true failed: $(head -c 500 "$tmp/true-$i.err")"
			add sx.time "$(since "$t0")"
			add sx.steps "$(python3 "$tmp/summary.py" "$tmp/true-$i.json" | cut -d' ' -f3)"
			# Within the steps: the whole step against the test alone.
			add sx.instep "$(python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))["steps"]
print("%.4f" % (sum(x.get("duration_s", 0) - x.get("test_s", 0) for x in s) / max(len(s), 1)))' "$tmp/true-$i.json")"
		fi
	done
done

# --- stop the load, report ---------------------------------------------------------
kill -TERM -- "-$busy_pgid" 2>/dev/null || true
busy_pgid=""
busy_secs=$(awk -v a="$busy_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
read -r switches spin_avg load_avg load_max < <(awk -v end="$EPOCHREALTIME" '
	NR > 1 { s += n * ($1 - t); d += $1 - t }
	{ t = $1; n = $2; l += $3; if ($3 > m) m = $3 }
	END { if (d <= 0) d = 1; s += n * (end - t); d += end - t; printf "%d %.2f %.2f %.2f\n", NR, s / d, l / NR, m }' "$tmp/busy.log")
load_after=$(load)

m() { median ${R[$1]:-}; }
mg() { m "$1" | awk '{ printf "%g", $1 }'; } # a median of counts
c() { echo "${C[$1]:-0}"; }
echo
echo "repository: $COMMITS commits, test awk counting to N=$ITERS (2N from commit $K); both ends verified"
echo "load: $switches switches in ${busy_secs}s, mean $spin_avg spinners (max $MAX_SPIN), 1-min load mean $load_avg, max $load_max"
echo "pool worktrees used by the sessions: $(printf '%s\n' ${R[worktrees]:-} | sort -u | wc -l)"
printf '  %-10s %6s %6s %8s %9s %8s %7s %6s %9s %8s %7s %7s\n' predicate right wrong no-regr only-skip aborted capped error "median s" steps skips runs
for metric in cpu wall; do
	printf '  %-10s %6s %6s %8s %9s %8s %7s %6s %9s %8s %7s %7s\n' "$metric=1.5" \
		"$(c "$metric.right")/$SESSIONS" "$(c "$metric.wrong")" "$(c "$metric.no-regression")" \
		"$(c "$metric.only-skipped")" "$(c "$metric.aborted")" "$(c "$metric.capped")" \
		"$(($(c "$metric.error") + $(c "$metric.interrupted")))" \
		"$(m "$metric.time")" "$(mg "$metric.steps")" "$(mg "$metric.skips")" "$(mg "$metric.runs")"
done
echo "  (steps, skips and runs are medians per session; runs count the candidate's and the fresh baseline runs)"
[[ $WALL_CAP != 0 ]] && echo "  wall sessions were stopped at ${WALL_CAP}s (capped); session times: ${R[wall.time]}"
echo "  cpu session times: ${R[cpu.time]}"
sxt=$(m sx.time) gitt=$(m git.time) steps=$(mg sx.steps)
echo "cost per step, --run true, medians of $REPS: sxbisect ${sxt}s, git ${gitt}s, $steps steps (git $(mg git.steps)):" \
	"$(awk -v a="$sxt" -v b="$gitt" -v n="$steps" 'BEGIN { printf "%.1f ms", (a - b) / n * 1000 }') more per step;" \
	"a step outside its test $(awk -v a="$(m sx.instep)" 'BEGIN { printf "%.1f ms", a * 1000 }')"
echo "  sxbisect: ${R[sx.time]}; git: ${R[git.time]}"
echo "load average (1, 5, 15 min): before $load_before, after $load_after; $(nproc 2>/dev/null || echo ?) cores"
