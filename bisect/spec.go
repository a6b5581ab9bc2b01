package bisect

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/sxbisect/sxbisect/predicate/plugin"

	"github.com/sxbisect/sxbisect/predicate"
)

// Spec is everything a session needs to run, and all that resume needs to
// go on: it is the first record of the journal.
type Spec struct {
	// Name of the session; several sessions may live in one repository.
	Name string `json:"name"`
	// Repo is the repository path as given (made absolute).
	Repo string `json:"repo"`
	// Good and Bad are the revisions as the user gave them.
	Good []string `json:"good"`
	Bad  string   `json:"bad"`
	// GoodCommits and BadCommit are what they resolved to, once, at start:
	// a branch that moves later does not change the session.
	GoodCommits []string `json:"good_commits"`
	BadCommit   string   `json:"bad_commit"`
	// Paths restrict the candidates to commits that touch them.
	Paths       []string `json:"paths,omitempty"`
	FirstParent bool     `json:"first_parent,omitempty"`

	// Build runs before each test in the same worktree.
	Build          string           `json:"build,omitempty"`
	BuildTimeout   Duration         `json:"build_timeout,omitempty"`
	OnBuildFailure predicate.Policy `json:"on_build_failure,omitempty"`
	// The build cache (see package buildcache), on whenever there is a
	// build unless NoBuildCache. BuildInputs are the paths whose git
	// object ids key a build (none: the whole tree); BuildEnv names the
	// variables whose values key it too; BuildOutputs are the paths the
	// build makes, restored on a hit (none: only failures are kept).
	// BuildCache is its directory (default <git dir>/sxbisect/build-cache)
	// and BuildCacheSize its limit (default 5G).
	BuildInputs    []string `json:"build_inputs,omitempty"`
	BuildOutputs   []string `json:"build_outputs,omitempty"`
	BuildEnv       []string `json:"build_env,omitempty"`
	BuildCache     string   `json:"build_cache,omitempty"`
	BuildCacheSize string   `json:"build_cache_size,omitempty"`
	NoBuildCache   bool     `json:"no_build_cache,omitempty"`

	// Run is the test, with git bisect run's exit-code meanings.
	Run       string           `json:"run,omitempty"`
	Timeout   Duration         `json:"timeout,omitempty"`
	OnTimeout predicate.Policy `json:"on_timeout,omitempty"`
	// OnCrash is what a test that crashed (a signal, exit 128 or more)
	// makes of the commit; abort by default, as git bisect run does.
	OnCrash predicate.Policy `json:"on_crash,omitempty"`

	// Measured conditions on the test (see predicate.SuiteConfig); all
	// that are given must hold for a commit to be good.
	MaxRatio       []string `json:"max_ratio,omitempty"`
	Repeat         int      `json:"repeat,omitempty"`
	MemoryLimit    string   `json:"memory_limit,omitempty"`
	Expect         string   `json:"expect,omitempty"`
	Scoreboard     string   `json:"scoreboard,omitempty"`
	ScoreboardFile string   `json:"scoreboard_file,omitempty"`
	IgnoreExit     bool     `json:"ignore_exit,omitempty"`
	MaxLoad        float64  `json:"max_load,omitempty"`

	// LogCap bounds each build's and test's log in logs/: a size ("16M"),
	// or "none"; empty means run.DefaultLogCap. A longer output keeps its
	// first and last halves of the cap, with a line between them saying
	// how much was dropped.
	LogCap string `json:"log_cap,omitempty"`

	// Predicates are further predicates by name, Go predicates compiled in
	// or sxbisect-predicate-NAME executables, that must hold too.
	Predicates []PredicateRef `json:"predicates,omitempty"`

	// Confirm re-tests the first bad commit and its parents this many
	// times each at the end: a flaky test is the most common cause of a
	// wrong culprit.
	Confirm int `json:"confirm,omitempty"`

	// Flaky chooses the search (see FlakyMode; "" is auto). Confidence is
	// the probability at which the flake-aware search answers (default
	// 0.95), MaxRuns its budget of runs (0: derived from the range's
	// size), FlakeRate its prior mean of the rate of wrong verdicts
	// (default 0.05).
	Flaky      FlakyMode `json:"flaky,omitempty"`
	Confidence float64   `json:"confidence,omitempty"`
	MaxRuns    int       `json:"max_runs,omitempty"`
	FlakeRate  float64   `json:"flake_rate,omitempty"`
	// Validate, after the first bad commit is found, reverts it on top of
	// the bad end in a scratch worktree and tests that this many times;
	// good is expected.
	Validate int `json:"validate,omitempty"`

	// Parallel is how many commits are tested at once, each in its own
	// scratch worktree; 0 and 1 are one at a time, exactly git's commits
	// in git's order.
	Parallel int `json:"parallel,omitempty"`
	// BuildAhead, for suites that must run alone: while a commit is
	// tested, the commits that could come next are built in other
	// worktrees at a lower priority; tests never run side by side. It
	// takes three benches unless Parallel asks for more.
	BuildAhead bool `json:"build_ahead,omitempty"`
	// PreferCached lets a bisect step test a commit whose build is cached
	// instead of git's choice, when it splits the range almost as well;
	// the commits tested then differ from git's.
	PreferCached bool `json:"prefer_cached,omitempty"`
	// CoresPerRun is how many cores each measured run has to itself when
	// several benches work at once and --max-ratio measures the test (0:
	// DefaultCoresPerRun); builds get the cores no measured run has. See
	// the package documentation, "Cores of their own".
	CoresPerRun int `json:"cores_per_run,omitempty"`

	// Remote, when set, has the steps tested by sxbisect workers on other
	// machines, through a NATS JetStream server, instead of here (see
	// package remote); resume goes remote again. It never holds
	// credentials: they come from flags, the environment or a file.
	Remote *RemoteSpec `json:"remote,omitempty"`

	// NoVerify skips testing both ends before searching.
	NoVerify bool `json:"no_verify,omitempty"`

	// TermOld and TermNew are the words for the two states (see Terms),
	// "" for the defaults. FindFix searches for the first commit whose
	// test passes, from a failing old end to a passing new one: the
	// test's verdicts are swapped as they are recorded.
	TermOld string `json:"term_old,omitempty"`
	TermNew string `json:"term_new,omitempty"`
	FindFix bool   `json:"find_fix,omitempty"`

	// Interactive sessions have no test: a person judges each commit,
	// checked out and built, through Options.Ask (git bisect's way, by
	// hand). The answers are journaled like any verdict.
	Interactive bool `json:"interactive,omitempty"`
	// asker is Options.Ask, set as the session starts or resumes.
	asker predicate.Predicate
	// PoolDir overrides where scratch worktrees live.
	PoolDir string `json:"pool_dir,omitempty"`
	// NoCommitGraph keeps Start from writing a commit-graph file into a
	// repository that has none.
	NoCommitGraph bool `json:"no_commit_graph,omitempty"`
}

var sessionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName reports whether name can name a session (it becomes a directory).
func CheckName(name string) error {
	if !sessionName.MatchString(name) {
		return &UsageError{Msg: fmt.Sprintf("session name %q is not allowed: use letters, digits, '.', '_' and '-' (at most 64)", name)}
	}
	return nil
}

// benches is how many benches the session's scheduler keeps busy.
func (s Spec) benches() int {
	if s.BuildAhead {
		return max(s.Parallel, 3)
	}
	return max(s.Parallel, 1)
}

// WithDefaults fills what the user left out, as a session records it.
func (s Spec) WithDefaults() Spec {
	if s.Name == "" {
		s.Name = "default"
	}
	if s.OnBuildFailure == "" {
		s.OnBuildFailure = predicate.PolicySkip
	}
	if s.OnTimeout == "" {
		s.OnTimeout = predicate.PolicyBad
	}
	if s.OnCrash == "" {
		s.OnCrash = predicate.PolicyAbort
	}
	if s.Flaky == "" {
		s.Flaky = FlakyAuto
	}
	return s
}

// RemoteSpec says where a session's steps are tested when it is not on
// this machine. It is what the session records; how to connect (the
// credentials) is given again to each command.
type RemoteSpec struct {
	// URL is the NATS server's, without credentials.
	URL string `json:"url"`
	// Labels are KEY=VALUE pairs a worker must have to take the steps.
	Labels []string `json:"labels,omitempty"`
	// RepoURL is where workers fetch the commits from; when empty, the
	// session puts a git bundle of the range into the server's object
	// store, and no network between the machines is needed.
	RepoURL string `json:"repo_url,omitempty"`
	// Insecure allows a server off the loopback without credentials.
	Insecure bool `json:"insecure,omitempty"`
	// WorkerWait, when set, is how long a step waits while no live
	// worker could take it (none with the labels) before the session
	// stops, aborted and resumable, instead of waiting all night.
	WorkerWait Duration `json:"worker_wait,omitempty"`
}

// PredicateRef names a predicate and its parameters.
type PredicateRef struct {
	Name   string            `json:"name"`
	Params map[string]string `json:"params,omitempty"`
}

// measured reports whether any measured condition was asked for.
func (s Spec) measured() bool {
	return len(s.MaxRatio) > 0 || s.MemoryLimit != "" || s.Expect != "" || s.Scoreboard != "" ||
		s.ScoreboardFile != "" || s.IgnoreExit || s.Repeat > 0 || s.MaxLoad > 0
}

// predicates builds the predicates the spec describes, in the order they
// run: the test with its conditions, then the named ones.
func (s Spec) predicates() ([]predicate.Predicate, error) {
	if _, err := s.logCap(); err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	var preds []predicate.Predicate
	if s.Run != "" {
		suite, err := s.suite()
		if err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
		preds = append(preds, suite)
	} else if s.measured() {
		return nil, &UsageError{Msg: "--max-ratio, --memory-limit, --expect, --scoreboard and the like judge a test: give it with --run CMD"}
	}
	for _, ref := range s.Predicates {
		p, err := plugin.Open(ref.Name, ref.Params, s.Timeout.D())
		if err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
		preds = append(preds, p)
	}
	if s.Interactive {
		if s.asker == nil {
			return nil, &UsageError{Msg: "this session has no test: a person answers for each commit; run it on a terminal (stdin and stderr), or give --run CMD"}
		}
		preds = append(preds, s.asker)
	}
	if len(preds) == 0 {
		return nil, &UsageError{Msg: "nothing to test: give --run CMD (the test, with git bisect run's exit codes) or --predicate NAME; on a terminal, without them, sxbisect asks you"}
	}
	return preds, nil
}

// Duration is a time.Duration that reads and writes as "1m30s" in JSON, so
// that the journal stays readable.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// UsageError is an error in what the user asked for: the command exits
// with the usage status, and the message says how to put it right.
type UsageError struct {
	Msg string
	// Err is the error behind the message, if any.
	Err error
}

func (e *UsageError) Error() string { return e.Msg }

func (e *UsageError) Unwrap() error { return e.Err }
