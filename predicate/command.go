package predicate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// ExitCodeName is the name Command is registered under.
const ExitCodeName = "exit-code"

// Command is the exit-code predicate: it runs a shell command in the
// candidate's worktree and reads its exit status as git bisect run does
// (see the package documentation).
type Command struct {
	// Run is the test command, run with sh -c.
	Run string
	// Timeout, when non-zero, bounds the test's wall time.
	Timeout time.Duration
	// OnTimeout is what a timeout makes of the commit (default bad).
	OnTimeout Policy
	// Env is added to the test's environment (KEY=VALUE).
	Env []string
}

// Name returns "exit-code".
func (c Command) Name() string { return ExitCodeName }

// Judge runs the test once: it is the Suite with no condition but the exit
// status and the timeout. On an abort the Judgement still carries the
// measurement, so that the journal can show what happened.
func (c Command) Judge(ctx context.Context, cand Candidate) (Judgement, error) {
	s, err := newSuite(SuiteConfig{Run: c.Run, Env: c.Env, Timeout: c.Timeout, OnTimeout: c.OnTimeout}, ExitCodeName)
	if err != nil {
		return Judgement{}, err
	}
	return s.Judge(ctx, cand)
}

// exitMeaning reads an exit status as git bisect run does: 0 good, 125
// skip, 1-127 bad, and an *AbortError for 128 or more and for a death by a
// signal. It is the one place of these meanings; the Suite applies it.
func exitMeaning(m run.Measurement) (Verdict, string, error) {
	const fix = "git bisect run stops here too; exit 1-127 (but 125) marks a commit bad, 125 skips it"
	switch code := m.ExitCode; {
	case m.Signal != "":
		return "", "", &AbortError{Reason: fmt.Sprintf("test killed by %s: %s", m.Signal, fix), Crash: true}
	case code == 0:
		return Good, "exit 0", nil
	case code == 125:
		return Skip, "exit 125", nil
	case code >= 1 && code <= 127:
		return Bad, fmt.Sprintf("exit %d", code), nil
	case code > 128 && code < 128+65:
		// A shell reports a child killed by signal N as 128+N.
		sig := run.SignalName(syscall.Signal(code - 128))
		return "", "", &AbortError{Reason: fmt.Sprintf("test exited %d (killed by %s?): %s", code, sig, fix), Crash: true}
	default:
		return "", "", &AbortError{Reason: fmt.Sprintf("test exited %d: %s", code, fix), Crash: true}
	}
}

// metricsOf names the numbers of a run for the journal: seconds and
// mebibytes.
func metricsOf(m run.Measurement) map[string]float64 {
	x := map[string]float64{
		"wall_s": m.Wall.Seconds(),
		"user_s": m.User.Seconds(),
		"sys_s":  m.Sys.Seconds(),
	}
	if m.MaxRSS > 0 {
		x["max_rss_mb"] = float64(m.MaxRSS) / (1 << 20)
	}
	return x
}

// newCommandFromParams is the exit-code factory.
//
//	run         the test command (required)
//	timeout     a Go duration such as 30s or 10m; 0 or absent means none
//	on-timeout  skip, bad (default) or abort
func newCommandFromParams(params map[string]string) (Predicate, error) {
	for name := range params {
		switch name {
		case "run", "timeout", "on-timeout":
		default:
			return nil, fmt.Errorf("exit-code: unknown parameter %q (valid: run, timeout, on-timeout)", name)
		}
	}
	c := Command{Run: params["run"], OnTimeout: PolicyBad}
	if strings.TrimSpace(c.Run) == "" {
		return nil, errors.New("exit-code: parameter run (the test command) is required")
	}
	if s, ok := params["timeout"]; ok {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("exit-code: timeout %q is not a duration such as 30s or 10m", s)
		}
		c.Timeout = d
	}
	if s, ok := params["on-timeout"]; ok {
		p, err := ParsePolicy(s)
		if err != nil {
			return nil, fmt.Errorf("exit-code: on-timeout: %w", err)
		}
		c.OnTimeout = p
	}
	return c, nil
}

func init() {
	Register(ExitCodeName, newCommandFromParams)
	Describe(ExitCodeName, "the test's exit status alone, with git bisect run's meanings (params: run, timeout, on-timeout)")
}
