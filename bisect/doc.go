// Package bisect drives a whole bisection unattended: it finds the first
// bad commit between good and bad commits by testing candidates in scratch
// worktrees, and records every verdict so that nothing is lost.
//
// # The session
//
// A session is named (default "default") and lives in the repository's
// common git directory, in sxbisect/sessions/<name>/:
//
//	journal.jsonl  every event, one JSON object a line, fsynced as written
//	lock           held (flock) by the process driving the session
//	result.json    the Result, rewritten atomically when the session stops
//	summary.md     the same for people
//	logs/          the whole output of each step's build and test
//
// Start resolves the ends, refuses ranges that cannot be bisected (good
// equal to bad, bad an ancestor of good), writes the Spec as the journal's
// first record, and runs. Each step is:
//
//  1. decide: derive the next action from the Spec and the verdicts alone:
//     test an end (verify), test a merge base (when a good commit is not an
//     ancestor of bad, as git does), test the search's next commit, or end;
//  2. write a step record, then check out, build and judge the commit in a
//     scratch worktree (the Tester);
//  3. write the verdict record, with its reason, durations and the tails of
//     the build's and the test's output, before anything else happens.
//
// Because the next action is a function of the journal, Resume is only
// replaying the journal and going on: a kill -9 loses at most the step in
// flight, which is tested again.
//
// # Choosing commits
//
// The choice of the next commit is package search's, identical to git
// bisect's for the same graph, verdicts and options (merges, skipped
// commits, --first-parent, paths). Log renders a session as a BISECT_LOG
// that git bisect replay accepts.
//
// # Cores of their own
//
// When several benches work at once (Spec.Parallel, Spec.BuildAhead) and
// the test's times are measured (--max-ratio), a measured run must not
// share its cores with a build or with another measured run, or its
// figures would say more about its neighbours than about the commit. So
// the cores sxbisect may run on are shared out once for the session: each
// measured run gets Spec.CoresPerRun cores of its own (DefaultCoresPerRun,
// 1), a cpuset cgroup that holds its whole tree (see package run); as many
// measured runs go at once as there are benches to run them and cores to
// give them, keeping at least one core for builds, which get every core no
// measured run has; with BuildAhead, one at a time. On 2 cores, measured
// runs go on core 1 one at a time, and builds on core 0. The measured
// cores are the highest, so that builds keep core 0, where the machine's
// own work tends to go. Benches whose measured runs find no free cores
// wait their turn, the most needed commit first.
//
// A commit's measured runs and the fresh baseline runs interleaved with
// them go on the same cores, and so does the baseline measured at the
// good commit at the start. Where the cores are too few (fewer than
// CoresPerRun plus one), or no cpuset can be made (not root, no cpuset
// delegated), nothing is set apart: the measured runs take turns on any
// core and builds run beside them at a lower priority. The result's notes
// say how the cores were shared, or why they were not, and each step's
// record which cores its measured runs had (VerdictRecord.CPUs).
//
// # Outcomes
//
// A Result names one of the Outcomes: Found, OnlySkipped, NoRegression,
// Aborted or Interrupted; see Result. Before searching, both ends are
// tested (unless Spec.NoVerify): a good end that tests bad or a bad end
// that tests good means there is no regression in the range, which is
// worth knowing before a night of bisecting noise.
package bisect
