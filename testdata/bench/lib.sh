# lib.sh holds what the comparison scripts here share. A script sets prog
# (its name, for errors) and sources it:
#
#   prog=my-script
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It needs LC_ALL=C, so that EPOCHREALTIME and awk use a decimal point.

die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "-- $*" >&2; }
now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }
# since T0 prints the seconds since now_us gave T0.
since() { awk -v a="$1" -v b="$(now_us)" 'BEGIN { printf "%.3f", (b - a) / 1e6 }'; }
load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*load average: //'; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

declare -A R # label -> space-separated values, one per repetition
add() { R[$1]="${R[$1]:-} $2"; }

# workdir NAME makes the temporary directory tmp, removed at exit unless
# KEEP=1, and sets sx to the sxbisect binary: SXBISECT, or one built from
# the tree at root (which the script sets) into tmp.
workdir() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	trap 'if [[ ${KEEP:-} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi' EXIT
	if [[ -n ${SXBISECT:-} ]]; then
		sx=$SXBISECT
	else
		sx=$tmp/sxbisect
		(cd "$root" && go build -o "$sx" ./cmd/sxbisect) || die "cannot build ./cmd/sxbisect"
	fi
}
imedian() { median "$@" | sed 's/\.000$//'; }
lines() { if [[ -f $1 ]]; then wc -l <"$1"; else echo 0; fi; }

# levels_repo DIR COMMITS EVERY makes a repository of COMMITS commits in
# which commit i ("change i") has src/level = i/EVERY and docs/n = i: the
# build's input (src) changes every EVERY commits, the rest at every one.
levels_repo() {
	local repo=$1 commits=$2 every=$3 i
	git init -q -b main "$repo"
	mkdir -p "$repo/src" "$repo/docs"
	for ((i = 0; i < commits; i++)); do
		echo $((i / every)) >"$repo/src/level"
		echo "$i" >"$repo/docs/n"
		git -C "$repo" add -A
		GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com \
			GIT_AUTHOR_DATE="@$((1700000000 + i * 60)) +0000" GIT_COMMITTER_DATE="@$((1700000000 + i * 60)) +0000" \
			git -C "$repo" commit -q -m "change $i"
	done
}
