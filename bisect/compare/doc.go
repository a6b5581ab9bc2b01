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
// For each metric the table gives both medians and their ratio
// (candidate over reference). Whether the ratio differs from 1 is decided
// by package stats, as bisection decides --max-ratio: the Mann-Whitney U
// test of the candidate's samples against the reference's, one-sided at
// level 0.01 in each direction (stats.Decide with X = 1), with the
// distribution-free 98 % confidence interval of the ratio. With 5 rounds
// a difference can only be significant when the samples barely overlap;
// with 3, only when they do not overlap at all (an error probability of
// 1/20 when there is no difference, 1/252 with 5 rounds).
//
// # Compare
//
// Compare prints the table and one line that reads it: "cpu 0.98x (not
// significant), wall 2.91x (significant): wall time moved without CPU
// time: the machine was busier (or the test waits more), not the code
// slower" is the answer that saves a night of bisecting noise.
//
// # Check
//
// Check measures a commit against a reference and applies the measured
// conditions of a session: --max-ratio METRIC=X is bad when the ratio is
// significantly above X (stats.Decide with that X), good when
// significantly below, undecided otherwise; wall time counts only runs on
// a quiet machine, as in bisection. The candidate fails the test's own
// conditions when any of its runs does (exit status, --expect, timeout,
// OOM kill inside --memory-limit), and the scoreboard when its lowest
// pass count is below the reference's. It starts with few rounds (3) and
// adds rounds while a ratio is undecided, up to a maximum (15), so that a
// clear case is cheap. The outcome is one of ok, fail and undecided.
package compare
