package bisect

import (
	"fmt"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
)

// Log renders the named session as a BISECT_LOG that 'git bisect replay'
// accepts, so that a person can take over by hand with git: the start line
// with the resolved ends, then one comment and one command per verdict of
// the search, and the outcome as comments. Of a damaged journal it
// renders the records before the damage, together with the error that
// says where the damage is.
func Log(repoPath, name string) (string, error) {
	s, err := loadSession(repoPath, name)
	if s == nil {
		return "", err
	}
	if err != nil {
		err = &UsageError{Msg: err.Error() + " (the log printed is that of the records before the damage)", Err: err}
	}
	return s.bisectLog(), err
}

func (s *session) bisectLog() string {
	var b strings.Builder
	args := []string{}
	terms := s.spec.Terms()
	if terms.Custom() {
		args = append(args, "--term-old", terms.Old, "--term-new", terms.New)
	}
	if s.spec.FirstParent {
		args = append(args, "--first-parent")
	}
	args = append(args, s.spec.BadCommit)
	args = append(args, s.spec.GoodCommits...)
	if len(s.spec.Paths) > 0 {
		args = append(args, "--")
		args = append(args, s.spec.Paths...)
	}
	fmt.Fprintf(&b, "# %s: [%s] %s\n", terms.New, s.spec.BadCommit, s.subject(s.spec.BadCommit))
	for _, g := range s.spec.GoodCommits {
		fmt.Fprintf(&b, "# %s: [%s] %s\n", terms.Old, g, s.subject(g))
	}
	fmt.Fprintf(&b, "git bisect start %s\n", sqQuoteArgs(args))
	flaky := false
	for _, v := range s.hist.verdicts {
		if v.Kind == KindFlaky && !flaky {
			flaky = true
			b.WriteString("# from here on the session weighed verdicts as evidence (flake-aware search):\n# its runs are not git bisect steps and are left out\n")
		}
		if v.Kind != KindBisect {
			continue
		}
		fmt.Fprintf(&b, "# %s: [%s] %s\n", terms.Of(v.Verdict), v.Commit, s.subject(v.Commit))
		fmt.Fprintf(&b, "git bisect %s %s\n", terms.Of(v.Verdict), v.Commit)
	}
	if e := s.hist.end; e != nil {
		switch e.Outcome {
		case Found:
			fmt.Fprintf(&b, "# first %s commit: [%s] %s\n", terms.New, e.FirstBad, s.subject(e.FirstBad))
		case OnlySkipped:
			b.WriteString("# only skipped commits left to test\n")
			for _, c := range e.Candidates {
				fmt.Fprintf(&b, "# possible first bad commit: [%s] %s\n", c, s.subject(c))
			}
		default:
			fmt.Fprintf(&b, "# %s\n", strings.ReplaceAll(e.Message, "\n", "\n# "))
		}
	}
	// The subjects in the comments come from the repository.
	return text.Escape(b.String())
}

// sqQuoteArgs quotes each argument as git's sq_quote_argv does for
// BISECT_LOG: always in single quotes.
func sqQuoteArgs(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = text.SingleQuote(a)
	}
	return strings.Join(quoted, " ")
}
