package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// askPredicate is the test of a session without one: a person at the
// terminal, as with git bisect and mozregression. Each commit is checked
// out and built in the scratch worktree first; the question names the
// worktree, where the person tries it, and the answer is the verdict,
// journaled like any other.
type askPredicate struct {
	in    *bufio.Reader
	out   io.Writer
	terms bisect.Terms
	// hold, when set, keeps the status line off the screen while the
	// question waits, and returns what puts it back.
	hold func() func()
}

func newAskPredicate(in io.Reader, out io.Writer, terms bisect.Terms, hold func() func()) *askPredicate {
	return &askPredicate{in: bufio.NewReader(in), out: out, terms: terms, hold: hold}
}

func (a *askPredicate) Name() string { return "ask" }

// Judge asks until it gets an answer: the session's terms, good, bad or
// skip, or their first letters. The end of the input stops the session.
func (a *askPredicate) Judge(ctx context.Context, c predicate.Candidate) (predicate.Judgement, error) {
	if a.hold != nil {
		defer a.hold()()
	}
	t := a.terms
	fmt.Fprintf(a.out, "\nCommit %s is checked out and built in\n    %s\nTry it there (cd into it), then answer.\n", text.ShortID(c.Commit), c.Dir)
	for {
		fmt.Fprintf(a.out, "Is %s %s, %s or skip? [%s/%s/s] ", text.ShortID(c.Commit), t.Old, t.New, t.Old[:1], t.New[:1])
		line, err := a.readLine(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return predicate.Judgement{}, ctx.Err()
			}
			return predicate.Judgement{}, &predicate.AbortError{Reason: "no answer at the terminal (" + err.Error() + "); 'sxbisect resume' asks again"}
		}
		if v, ok := a.verdict(strings.TrimSpace(line)); ok {
			return predicate.Judgement{Verdict: v, Reason: "answered at the terminal"}, nil
		}
		fmt.Fprintf(a.out, "Please answer %s, %s or skip.\n", t.Old, t.New)
	}
}

// verdict reads an answer: a term, good, bad or skip, or a first letter
// that names only one of them.
func (a *askPredicate) verdict(answer string) (predicate.Verdict, bool) {
	answer = strings.ToLower(answer)
	if v, ok := a.terms.Verdict(answer); ok && answer != "" {
		return v, true
	}
	if len(answer) != 1 {
		return "", false
	}
	var found []predicate.Verdict
	for word, v := range map[string]predicate.Verdict{a.terms.Old: predicate.Good, a.terms.New: predicate.Bad, "skip": predicate.Skip} {
		if strings.HasPrefix(word, answer) {
			found = append(found, v)
		}
	}
	if len(found) == 1 {
		return found[0], true
	}
	return "", false
}

// readLine reads a line, or stops when ctx is cancelled (Ctrl-C): the
// read itself cannot be interrupted, and is left to finish on its own.
func (a *askPredicate) readLine(ctx context.Context) (string, error) {
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := a.in.ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		done <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-done:
		return r.line, r.err
	}
}
