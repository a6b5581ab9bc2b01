package bisect

import (
	"fmt"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// Outcome names how a session ended.
type Outcome string

const (
	// Found: Result.FirstBad is the first bad commit.
	Found Outcome = "found"
	// OnlySkipped: only skipped commits are left to test; the first bad
	// commit is one of Result.Candidates, as git lists them.
	OnlySkipped Outcome = "only-skipped"
	// NoRegression: there is nothing to find in the range. The good end
	// tests bad, or the bad end tests good, or a merge base of the good
	// and bad commits tests bad; Result.Message says which.
	NoRegression Outcome = "no-regression"
	// Aborted: the test asked to stop (an exit status git bisect run
	// aborts on, a policy of abort) or an end could not be tested.
	// The session is unfinished and can be resumed once the cause is fixed.
	Aborted Outcome = "aborted"
	// Inconclusive: the flake-aware search spent its budget of runs below
	// the confidence asked for; Result.Beliefs has the likeliest first bad
	// commits with their probabilities, and Candidates lists them.
	Inconclusive Outcome = "inconclusive"
	// Interrupted: the session was stopped by a signal or a deadline. It
	// is unfinished and resume goes on where it stopped.
	Interrupted Outcome = "interrupted"
)

// JSONSchema is the version of the JSON objects sxbisect writes: the
// result (start and resume --json, result.json, each job of batch --json),
// status --json, batch --json and compare and check --json, each of which
// has it as "schema". It changes when a field is removed or changes its
// meaning; a new field does not change it.
const JSONSchema = 1

// Finished reports whether a session that ended so is over for good;
// Aborted and Interrupted sessions can be resumed.
func (o Outcome) Finished() bool {
	return o == Found || o == OnlySkipped || o == NoRegression || o == Inconclusive
}

// StepKind says why a commit is tested.
type StepKind string

const (
	// KindVerify: an end, tested before searching.
	KindVerify StepKind = "verify"
	// KindBisect: the search's own step, one git would have taken.
	KindBisect StepKind = "bisect"
	// KindConfirm: a re-test of the answer (--confirm).
	KindConfirm StepKind = "confirm"
	// KindFlaky: a run the flake-aware search asked for; it may be of a
	// commit tested before.
	KindFlaky StepKind = "flaky"
	// KindValidate: a run of the first bad commit reverted on top of the
	// bad end (--validate); its commit is the revert.
	KindValidate StepKind = "validate"
)

// Step is one tested commit, as the result and --json show it.
type Step struct {
	Commit  string            `json:"commit"`
	Subject string            `json:"subject,omitempty"`
	Verdict predicate.Verdict `json:"verdict"`
	// Term is Verdict in the session's terms (see Terms).
	Term      string             `json:"term"`
	Kind      StepKind           `json:"kind"`
	Reason    string             `json:"reason"`
	DurationS float64            `json:"duration_s"`
	BuildS    float64            `json:"build_s,omitempty"`
	TestS     float64            `json:"test_s,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	Time      time.Time          `json:"time"`

	// BuildFrom is the commit whose build the build cache gave instead of
	// building this one: an earlier commit with the same build inputs, or
	// this one in an earlier session (then metrics.build_cached is 1).
	BuildFrom string `json:"build_from,omitempty"`
	// Worker names the sxbisect worker that tested the commit, when one
	// did (a session started with --nats).
	Worker string `json:"worker,omitempty"`
	// CPUs are the cores the step's test runs had to themselves (see
	// VerdictRecord.CPUs).
	CPUs string `json:"cpus,omitempty"`
}

// CommitSummary describes a commit for people.
type CommitSummary struct {
	Commit  string          `json:"commit"`
	Subject string          `json:"subject"`
	Author  string          `json:"author"`
	Date    time.Time       `json:"date"`
	Parents []ParentSummary `json:"parents"`
}

// ParentSummary is a parent of the first bad commit and what is known of it.
type ParentSummary struct {
	Commit  string `json:"commit"`
	Subject string `json:"subject"`
	// Verdict is the parent's own tested verdict, or "good (by ancestry)"
	// when it was not tested but is an ancestor of a good commit.
	Verdict string `json:"verdict,omitempty"`
}

// Result is what a session found. Its Outcome is one of Found (FirstBad
// set, with FirstBadCommit describing it), OnlySkipped (Candidates lists
// the commits that could be the first bad one), NoRegression (the ends
// disagree with the premise; Message says how), Aborted or Interrupted
// (resumable; Message says why). With Spec.Confirm, a Found result also
// says whether its answer held when re-tested (Confirmed). Steps lists every tested commit in the
// order the tests ran, across resumes.
type Result struct {
	// Schema is JSONSchema.
	Schema  int    `json:"schema"`
	Session string `json:"session"`
	// Terms are the session's words for good and bad: the verdicts of
	// Steps are good and bad, their Term these words.
	Terms          Terms          `json:"terms"`
	Outcome        Outcome        `json:"outcome"`
	FirstBad       *string        `json:"first_bad"`
	FirstBadCommit *CommitSummary `json:"first_bad_commit,omitempty"`
	Candidates     []string       `json:"candidates"`
	Message        string         `json:"message"`
	// Confirmed is set with --confirm: whether re-testing the first bad
	// commit and its parents gave the same verdicts every time.
	Confirmed *bool `json:"confirmed,omitempty"`
	// Beliefs are set when the flake-aware search answered: its
	// confidence, the likeliest first bad commits (posterior), the
	// estimated flake rates and the runs weighed. Their fields stand at
	// the top level of the JSON.
	*Beliefs
	// Validated is set with --validate: what the runs of the first bad
	// commit reverted on top of the bad end gave.
	Validated *Validation `json:"validated,omitempty"`
	Good      []string    `json:"good"`
	Bad       string      `json:"bad"`
	Steps     []Step      `json:"steps"`
	// Elapsed is the seconds during which steps ran, across resumes:
	// with several benches, the wall time they took together.
	Elapsed  float64 `json:"elapsed_s"`
	Dir      string  `json:"session_dir"`
	Worktree string  `json:"worktree,omitempty"`

	// BuildUnchanged is set when the first bad commit's build is known to
	// be the same as a good parent's: the same build inputs, or outputs
	// that are byte for byte the same (from the build cache). The test
	// then judged the same build twice, differently: the verdict may come
	// from a flaky test or from the test itself changing. Unset when
	// either build is unknown.
	BuildUnchanged bool `json:"build_unchanged,omitempty"`
}

// Markdown renders the result as a short summary for people.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sxbisect session %q: %s\n\n", r.Session, r.Outcome)
	fmt.Fprintf(&b, "%s\n\n", r.Message)
	if c := r.FirstBadCommit; c != nil {
		fmt.Fprintf(&b, "## First bad commit\n\n")
		fmt.Fprintf(&b, "- commit: `%s`\n- subject: %s\n- author: %s\n- date: %s\n", c.Commit, c.Subject, c.Author, text.GitDate(c.Date))
		for _, p := range c.Parents {
			verdict := p.Verdict
			if verdict == "" {
				verdict = "untested"
			}
			fmt.Fprintf(&b, "- parent: `%s` %s (%s)\n", text.ShortID(p.Commit), p.Subject, verdict)
		}
		b.WriteString("\n")
	}
	if bl := r.Beliefs; bl != nil {
		b.WriteString("## How sure\n\n")
		fmt.Fprintf(&b, "- confidence %.1f%%, no regression %.1f%%\n- flake rates: bad commits pass %.1f%%, good ones fail %.1f%%\n- %d runs weighed (budget %d)\n",
			100*bl.Confidence, 100*bl.NoRegression, 100*bl.FlakeRate.BadPasses, 100*bl.FlakeRate.GoodFails, bl.Runs, bl.MaxRuns)
		for _, c := range bl.Posterior {
			fmt.Fprintf(&b, "- `%s` first bad with probability %.1f%%\n", text.ShortID(c.Commit), 100*c.Probability)
		}
		b.WriteString("\n")
	}
	if len(r.Candidates) > 0 && r.Outcome == OnlySkipped {
		b.WriteString("## Candidates (only skipped commits are left)\n\n")
		for _, c := range r.Candidates {
			fmt.Fprintf(&b, "- `%s`\n", c)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "## Steps (%d, %s)\n\n", len(r.Steps), (time.Duration(r.Elapsed * float64(time.Second))).Round(time.Second))
	b.WriteString("| # | kind | commit | subject | verdict | reason | seconds |\n|---|---|---|---|---|---|---|\n")
	for i, s := range r.Steps {
		fmt.Fprintf(&b, "| %d | %s | `%s` | %s | %s | %s | %.1f |\n", i+1, s.Kind, text.ShortID(s.Commit), mdCell(s.Subject), s.Verdict, mdCell(s.Reason), s.DurationS)
	}
	return text.Escape(b.String())
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
