// Package plugin runs predicates written as programs, in any language:
// 'sxbisect start --predicate NAME' runs the program sxbisect-predicate-NAME
// found on PATH, in the way git finds git-NAME and kubectl finds
// kubectl-NAME. (Predicates written in Go are compiled in instead; see
// package predicate and, for a worked example, package binarysize.)
//
// # Finding plugins
//
// A plugin is an executable file named sxbisect-predicate-NAME in a
// directory on PATH; the first one in PATH order is used. Relative PATH
// entries, such as ".", are not searched, so that a repository under
// test cannot supply one. A predicate compiled in comes before a plugin of
// the same name. 'sxbisect predicates' lists both, one line each (Print).
//
// Open is what the command line calls with a name: the predicate compiled
// in under that name, or else the plugin, or else an error worded
//
//	no predicate NAME: not built in, and no sxbisect-predicate-NAME on PATH
//
// # The protocol
//
// For each commit, sxbisect checks it out in a scratch worktree, builds it,
// and runs the plugin there with no arguments, stdin from /dev/null, in a
// process group of its own, and these environment variables:
//
//	SXBISECT_COMMIT             the full id of the commit under test
//	SXBISECT_WORKTREE           the worktree it is checked out in (also the
//	                            working directory)
//	SXBISECT_PHASE              judge (or baseline: see Baselines)
//	SXBISECT_BASELINE           a JSON file with the plugin's baseline, the
//	                            metrics it reported at the good commit; set
//	                            only for a plugin that measures one
//	SXBISECT_BASELINE_WORKTREE  a worktree at the good commit, built, when
//	                            the session keeps one (to measure both side
//	                            by side)
//	SXBISECT_PARAM_NAME         each parameter given to the predicate (see
//	                            New): max-growth=1.1 is
//	                            SXBISECT_PARAM_MAX_GROWTH=1.1; timeout,
//	                            on-timeout and baseline are sxbisect's own
//
// The plugin answers with a JSON object on the last line of its stdout:
//
//	{"verdict": "bad", "metrics": {"size_mb": 41.5, "pass": 1312}, "detail": "1312 of 1400 pass"}
//
// verdict is good, bad or skip, in git bisect's sense: bad is the change
// being searched for, skip a commit that cannot be judged. metrics are
// named numbers; they are recorded in the journal with the verdict and
// appear in the result, beside the run's own (wall_s, user_s, sys_s,
// max_rss_mb), which a metric of the same name replaces. detail is a few
// words saying why, shown as the step's reason ("plugin NAME: ..."); it is
// optional, as metrics are. Members not listed here are ignored.
//
// Anything may come before the answer on stdout, and anything on stderr:
// both go to the step's log. Blank lines after the answer are ignored. The
// answer is the verdict whatever the exit status.
//
// A plugin whose last line does not start with "{" has given no answer,
// and its exit status is read as git bisect run reads it (see package
// predicate): 0 good, 125 skip, 1 to 127 bad, 128 or more, or death by a
// signal, stops the session. So a test script that already works with git
// bisect run is a plugin once it is named sxbisect-predicate-NAME.
//
// A last line that starts with "{" but is not such an object (malformed
// JSON, a verdict that is not good, bad or skip, a metric that is not a
// number) stops the session, with an error that names the plugin and
// shows the line: the fix is in the plugin, and 'sxbisect resume' goes on
// once it is made. Guessing a verdict would bisect to a wrong commit.
//
// A plugin that runs past its timeout is killed, with everything it
// started (SIGTERM, then SIGKILL), and the commit is judged by the
// on-timeout policy, bad by default, with the reason "plugin NAME: timeout
// after 30s"; whatever it printed is disregarded.
//
// # Parameters
//
// A plugin is given parameters in a preset of .sxbisect.toml, the project
// file at the top of the checkout:
//
//	[predicate.api-check]
//	use = "markers"
//	params = { file = "STATUS", marker = "ok", timeout = "5m" }
//
// after which 'sxbisect start --predicate api-check' runs
// sxbisect-predicate-markers with SXBISECT_PARAM_FILE=STATUS and
// SXBISECT_PARAM_MARKER=ok. The parameters timeout, on-timeout and
// baseline are sxbisect's own and do not reach the plugin (see New). A
// plugin should reject a parameter it does not know, with a message on
// stderr and exit status 255, which stops the session before it bisects
// the wrong thing.
//
// A small plugin in sh:
//
//	#!/bin/sh
//	# sxbisect-predicate-has-fast-path: bad once the fast path is gone.
//	if grep -q fast_path "$SXBISECT_WORKTREE/src/eval.c"; then
//		echo '{"verdict": "good"}'
//	else
//		echo '{"verdict": "bad", "detail": "no fast_path in src/eval.c"}'
//	fi
//
// # Baselines
//
// A plugin that compares each commit with the good commit (a benchmark
// that may be at most 10% slower, say) gets the predicate parameter
// baseline=true. Before the search, sxbisect then runs it once with
// SXBISECT_PHASE=baseline in a worktree at the good commit; it answers
// with the metrics to compare with, and a verdict of good or none:
//
//	{"metrics": {"score": 812}}
//
// At every later commit SXBISECT_BASELINE names a file holding them, as
// recorded in the session's journal (a resumed session does not measure
// them again):
//
//	{
//	  "commit": "<the good commit>",
//	  "samples": [{"metrics": {"score": 812, "wall_s": 4.1, ...}, "quiet": true}],
//	  "metrics": {"score": 812, "wall_s": 4.1, ...}
//	}
//
// A baseline run that times out, answers bad or skip, or prints no metrics
// stops the session: with no baseline, no commit can be judged.
//
// # How the output is captured
//
// The plugin's stdout goes to a file of its own, and its stderr to the
// step's log as the run goes. The answer is thus read from stdout alone,
// however the plugin interleaves the two, and a JSON line on stderr (a
// structured log, say) is never taken for it. Once the plugin has exited,
// its stdout is appended to the log under a header line, so that the log
// holds both, though not in the order they were written; the step's output
// tail holds the end of stderr, then the end of stdout.
package plugin
