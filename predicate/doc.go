// Package predicate decides, for one commit, the question git bisect asks
// at every step: good, bad, or cannot tell.
//
// # The interface
//
// sxbisect checks each candidate commit out in a scratch worktree, builds
// it, and hands it to a Predicate as a Candidate: the commit's full id, the
// worktree directory, and the path where the test's output should be
// logged. The predicate's Judge method answers with a Judgement:
//
//   - Good: the commit does not show the change being searched for; for a
//     test, it passes.
//   - Bad: the commit shows it; the search ends at the first bad commit.
//   - Skip: the commit cannot be judged (a prerequisite is broken there).
//     A neighbour is tried instead; if skipped commits border the first
//     bad one, the answer is a range rather than a single commit.
//
// Reason says why in a few words ("exit 1", "timeout after 30s"). Metrics
// are named numbers for the journal and the report, in seconds and
// mebibytes (wall_s, max_rss_mb). Measurement is the test's run, when the
// predicate ran a process; it comes back even with an abort, so that the
// journal can show what happened.
//
// A failing test is not an error, it is Bad. An error from Judge stops the
// whole bisection, so return one only when no verdict on this commit can
// be trusted. *AbortError is for conditions the user has to look at, such
// as a test killed by a signal; any other error means the predicate itself
// failed, such as a test command that could not be started. When ctx is
// cancelled, Judge returns promptly with ctx.Err(). Commits come in the
// order the search chooses, and one may be asked about again, so a
// predicate keeps no state from one call to the next.
//
// # Exit codes
//
// Command, registered as "exit-code", reads a test command's exit status
// as git bisect run does:
//
//	exit 0                   good
//	exit 125                 skip
//	exit 1-127 but not 125   bad
//	exit 128-255             abort
//	killed by a signal       abort
//
// Statuses above 127 stop git bisect run because a shell reports a child
// killed by signal N as 128+N: a test that crashed, or that the OOM killer
// took (137, SIGKILL), says nothing about the commit. A test that wants to
// mark a commit untestable exits 125.
//
// A timeout is sxbisect's doing, not the test's, so it does not count as
// a signal death; Command.OnTimeout decides: bad (the default, for a
// search for the commit that made the test hang), skip, or abort. Policy
// values come from flags through ParsePolicy.
//
// # Suites: conditions beyond the exit status
//
// Suite, registered as "suite", is the test command with built-in
// conditions that must all hold for a commit to be good; Command is the
// Suite with none but the exit status and the timeout. The conditions
// answer the questions of a performance bisection, on a machine that may
// be busy:
//
//	MemoryLimit     prolog completes without OOM: an OOM kill inside the
//	                limit is bad ("oom (limit 2 GiB)"), not an abort
//	Expect          erlang prints (ok-len ...) markers within the timeout
//	Scoreboard,     the scoreboard stays 530/530: pass may not fall below
//	ScoreboardFile  the good commit's
//	Ratios          tcl's CPU time stays under 1.5 times the good
//	                commit's, decided from repeated, interleaved samples
//	                by package stats, wall time from quiet runs only
//	IgnoreExit      the exit status 1-127 means nothing (a perf suite)
//
// A Suite that compares with the good commit is a Baseliner; the session
// measures the baseline when NeedsBaseline(p) is true. See Suite for how
// samples are taken and what the figures are.
//
// # Writing and registering a predicate
//
// Any type with Name and Judge is a predicate. One that runs a process
// should do it with package run, which puts the process in its own group,
// kills the whole tree on timeout and cancellation, and measures it.
//
// To make a predicate selectable by name from the command line or a
// configuration file, register a Factory for it in an init function, in
// the manner of database/sql drivers, and import the package for that
// side effect:
//
//	func init() {
//		predicate.Register("max-rss", func(params map[string]string) (predicate.Predicate, error) {
//			limit, err := strconv.ParseFloat(params["limit-mb"], 64)
//			if err != nil {
//				return nil, fmt.Errorf("max-rss: limit-mb: %w", err)
//			}
//			return maxRSS{run: params["run"], limitMB: limit}, nil
//		})
//	}
//
// The factory gets the parameters as strings and rejects unknown names and
// unparsable values with a one-line error naming the parameter. Register
// panics when a name is registered twice, as sql.Register does: it is a
// mistake in the program, found when it starts. Lookup and New find a
// factory by name; Names lists them for help texts.
//
// The exit-code predicate takes the parameters run (the command, required),
// timeout (a Go duration such as 30s; none when absent or 0) and
// on-timeout (skip, bad or abort; bad when absent). The suite predicate
// takes these and the rest of SuiteConfig: memory-limit, ignore-exit,
// expect, scoreboard, scoreboard-file, max-ratio, repeat, max-repeat,
// baseline-repeat, max-load and max-load-wait.
package predicate
