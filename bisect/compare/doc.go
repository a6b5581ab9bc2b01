// Package compare measures a test at two commits side by side, to check
// the premise of an investigation before a night of bisecting (compare),
// and to guard a branch against a performance regression before a merge
// (check).
//
// # How the commits are measured
//
// Both commits are checked out in scratch worktrees of the repository's
// pool (the user's checkout is never touched), one worktree per commit,
// and built once each with the build command. Then the test runs in
// rounds, interleaved: reference, candidate, reference, candidate. A
// drift of the machine's speed (a neighbour's job, thermal throttling, a
// cold cache at the start) thus falls on both sides alike instead of on
// one of them.
//
// Each run is the test as a bisection session runs it: the same runner
// (package run: the whole process tree in a cgroup where one can be had,
// with the timeout and the memory limit) and the same conditions (exit
// status with git bisect run's meanings, --expect, --scoreboard,
// --scoreboard-file, --memory-limit). Every run gives cpu_s (user plus
// system time of the whole tree), wall_s, mem_mb (peak), its exit status,
// and pass and total when a scoreboard is configured.
//
// # Significance
//
// For each metric the table gives both medians, their ratio (candidate
// over reference), its distribution-free 98 % confidence interval, and
// whether it changed: by more than a threshold, significantly at level
// 0.01 (Level). The threshold is the metric's --max-ratio when one is
// given (cpu=1.5), else DefaultMinEffect (1.2): a ratio is "higher" when
// the Mann-Whitney U test of the candidate's samples against threshold
// times the reference's gives a one-sided p-value of at most 0.01
// (stats.Decide with X the threshold), "lower" when the same holds below
// 1/threshold, and "none" otherwise. A difference of 0.4 % is thus no
// change, however consistent: CPU time drifts that much with the
// machine's load.
//
// Significant means p <= 0.01 and nothing else. Samples that do not
// overlap at all have p = 1/C(n+m, n) (stats.SmallestP): 1/20 with 3
// rounds, 1/70 with 4, 1/252 with 5. With fewer than 5 rounds nothing can
// be significant at 0.01, and the table says so rather than call a
// difference significant at 0.05.
//
// # Compare
//
// Compare prints the table and one line that reads it: "cpu 1.00x (no
// change beyond 1.20x), wall 2.02x (higher, beyond 1.20x): wall time moved
// without CPU time: the machine was busier (or the test waits more), not
// the code slower" is the answer that saves a night of bisecting noise.
//
// # Check
//
// Check measures a commit against a reference and applies the measured
// conditions of a session: --max-ratio METRIC=X fails when the ratio is
// significantly above X at level 0.01 (stats.Decide with that X), holds
// when significantly below, and is undecided otherwise; wall time counts
// only runs on a quiet machine, as in bisection. The candidate fails the
// test's own conditions when any of its runs does (exit status, --expect,
// timeout, OOM kill inside --memory-limit), and the scoreboard when its
// lowest pass count is below the reference's. It starts with few rounds
// (3) and adds rounds while a ratio is undecided, up to a maximum (15), so
// that a clear case is cheap: 5 rounds, the fewest that can be
// significant at 0.01. The outcome is one of ok, fail and undecided.
package compare
