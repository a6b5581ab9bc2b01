package bisect

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sxbisect/sxbisect/predicate"
)

// Terms are the words a session uses for its two states, as 'git bisect
// start --term-old --term-new' sets them: Old for the commits before the
// change (git's good), New for those after it (git's bad). Inside, the
// session always speaks of good and bad; the terms are how it talks to
// people: messages, the result, the log, the reports.
type Terms struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// Default terms: git's, and those of a search for a fix.
var (
	defaultTerms = Terms{Old: "good", New: "bad"}
	fixTerms     = Terms{Old: "broken", New: "fixed"}
)

// Terms are the session's words for good and bad: --term-old and
// --term-new, else broken and fixed with --find-fix, else good and bad.
func (s Spec) Terms() Terms {
	t := defaultTerms
	if s.FindFix {
		t = fixTerms
	}
	if s.TermOld != "" {
		t.Old = s.TermOld
	}
	if s.TermNew != "" {
		t.New = s.TermNew
	}
	return t
}

// Custom reports whether the terms are other than good and bad.
func (t Terms) Custom() bool { return t != defaultTerms }

// Of is a verdict in these terms; skip is skip.
func (t Terms) Of(v predicate.Verdict) string {
	switch v {
	case predicate.Good:
		return t.Old
	case predicate.Bad:
		return t.New
	}
	return string(v)
}

// Verdict reads a word given by a person: a term, or good, bad or skip.
func (t Terms) Verdict(word string) (predicate.Verdict, bool) {
	switch word {
	case t.Old:
		return predicate.Good, true
	case t.New:
		return predicate.Bad, true
	case string(predicate.Good), string(predicate.Bad), string(predicate.Skip):
		return predicate.Verdict(word), true
	}
	return "", false
}

var stateWords = regexp.MustCompile(`\b(good|bad|regression|regressed)\b`)

// Words rewrites a message's own wording (not the subjects or the output
// it quotes: give it the format, before the arguments are put in) in these
// terms: good and bad become the terms, a regression a change.
func (t Terms) Words(format string) string {
	if !t.Custom() {
		return format
	}
	return stateWords.ReplaceAllStringFunc(format, func(w string) string {
		switch w {
		case "good":
			return t.Old
		case "bad":
			return t.New
		case "regressed":
			return "changed"
		}
		return "change"
	})
}

// termWord is what a term may be: git's rule for a ref name's component,
// simplified to the safe letters.
var termWord = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// CheckTerms refuses terms that git bisect would refuse: a word that is a
// subcommand of git bisect, the same word twice, or good and bad on the
// wrong sides.
func CheckTerms(old, new string) error {
	for _, term := range []struct{ flag, word string }{{"--term-old", old}, {"--term-new", new}} {
		if term.word == "" {
			continue
		}
		if !termWord.MatchString(term.word) {
			return &UsageError{Msg: fmt.Sprintf("%s %q: a term is one word of letters, digits, '.', '_' and '-'", term.flag, term.word)}
		}
		switch term.word {
		case "help", "start", "skip", "next", "reset", "visualize", "view", "replay", "log", "run", "terms":
			return &UsageError{Msg: fmt.Sprintf("%s %s: %q is a git bisect command and cannot be a term: choose another word", term.flag, term.word, term.word)}
		}
	}
	switch {
	case old != "" && old == new:
		return &UsageError{Msg: fmt.Sprintf("--term-old and --term-new are both %q: give two different words", old)}
	case old == "bad" || old == "new":
		return &UsageError{Msg: fmt.Sprintf("--term-old %s: %q can only be the new term, as in git bisect", old, old)}
	case new == "good" || new == "old":
		return &UsageError{Msg: fmt.Sprintf("--term-new %s: %q can only be the old term, as in git bisect", new, new)}
	}
	return nil
}

// oriented is the verdict a session records for what its test said: the
// same, or with --find-fix good and bad swapped, so that the search looks
// for the first commit that passes exactly as it looks for the first that
// fails (cargo-bisect-rustc's --regress=success).
func (s Spec) oriented(v predicate.Verdict) predicate.Verdict {
	if !s.FindFix {
		return v
	}
	switch v {
	case predicate.Good:
		return predicate.Bad
	case predicate.Bad:
		return predicate.Good
	}
	return v
}

// orientedReason says, with --find-fix, that the test passed or failed,
// since the verdict's word no longer does.
func (s Spec) orientedReason(v predicate.Verdict, reason string) string {
	if !s.FindFix || (v != predicate.Good && v != predicate.Bad) {
		return reason
	}
	what := "the test passed"
	if v == predicate.Bad {
		what = "the test failed"
	}
	if strings.TrimSpace(reason) == "" {
		return what
	}
	return what + ": " + reason
}

// words is a message's format in the session's terms (see Terms.Words).
func (s *session) words(format string) string { return s.spec.Terms().Words(format) }

// checkFindFix refuses terms git would refuse, and what --find-fix cannot
// do: conditions that compare with the good end's measurements, which
// with --find-fix is the end where the test fails.
func (s Spec) checkFindFix() error {
	if err := CheckTerms(s.TermOld, s.TermNew); err != nil {
		return err
	}
	if !s.FindFix {
		return nil
	}
	switch {
	case len(s.MaxRatio) > 0, s.Scoreboard != "", s.ScoreboardFile != "":
		return &UsageError{Msg: "--find-fix with --max-ratio or --scoreboard: those compare with the old end, where the test fails here; look for a fix by the test's own pass or fail"}
	case s.Validate > 0:
		return &UsageError{Msg: "--find-fix with --validate: reverting a fix tests for the failure again; leave --validate out"}
	}
	return nil
}
