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
// # Outcomes
//
// A Result names one of the Outcomes: Found, OnlySkipped, NoRegression,
// Aborted or Interrupted; see Result. Before searching, both ends are
// tested (unless Spec.NoVerify): a good end that tests bad or a bad end
// that tests good means there is no regression in the range, which is
// worth knowing before a night of bisecting noise.
package bisect
