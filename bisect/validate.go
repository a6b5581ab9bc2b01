package bisect

import (
	"context"
	"errors"
	"fmt"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/worktree"
)

// Validation is what --validate found: the first bad commit reverted on
// top of the bad end, tested Runs times, is expected to be good every time.
type Validation struct {
	// Revert is the commit that reverts the first bad commit on top of
	// the bad end (no ref names it); "" when the revert did not apply.
	Revert string `json:"revert,omitempty"`
	Runs   int    `json:"runs"`
	Good   int    `json:"good"`
	// Held says every run of the revert was good.
	Held bool `json:"held"`
	// Note says why there was nothing to test, when the revert did not
	// apply cleanly.
	Note string `json:"note,omitempty"`
}

// reverter is a Tester that can make the revert of a commit on top of
// another, for --validate.
type reverter interface {
	Revert(ctx context.Context, onto, commit string, mainline int) (string, error)
}

// Revert makes the revert of commit on top of onto in the main bench.
func (t *worktreeTester) Revert(ctx context.Context, onto, commit string, mainline int) (string, error) {
	return t.main.wt.Revert(ctx, onto, commit, mainline)
}

// validate runs --validate's tests of the first bad commit's revert, one
// step at a time, and then says in end what they gave. done is false
// while a run is still to come.
func (s *session) validate(firstBad string, end *EndRecord) (action, bool) {
	val := &Validation{}
	for _, v := range s.hist.verdicts {
		if v.Kind != KindValidate || v.Reverts != firstBad {
			continue
		}
		if v.Commit == firstBad {
			// The revert did not apply: the step says so, nothing else.
			val.Note = v.Reason
			end.Validated = val
			end.Message += "\nNot validated: " + v.Reason + "."
			return action{}, true
		}
		val.Revert = v.Commit
		val.Runs++
		if v.Verdict == predicate.Good {
			val.Good++
		}
	}
	if val.Runs < s.spec.Validate {
		return action{commit: firstBad, kind: KindValidate}, false
	}
	val.Held = val.Good == val.Runs
	end.Validated = val
	if val.Held {
		end.Message += fmt.Sprintf(s.words("\nValidated: with %s reverted on top of the bad end (%s), the test passed %d of %d times."),
			text.ShortID(firstBad), text.ShortID(val.Revert), val.Good, val.Runs)
	} else {
		end.Message += fmt.Sprintf(s.words("\nNOT validated: with %s reverted on top of the bad end (%s), the test passed only %d of %d times: the commit may not be the whole cause, or the test is flaky."),
			text.ShortID(firstBad), text.ShortID(val.Revert), val.Good, val.Runs)
	}
	return action{}, true
}

// revertFor returns the commit to test for a --validate step of
// firstBad: the revert made by an earlier run, or a new one made now. A
// revert that does not apply is journaled as the step's verdict, a skip
// of firstBad itself, and ok is false.
func (s *session) revertFor(ctx context.Context, firstBad string) (revert string, ok bool, err error) {
	for _, v := range s.hist.verdicts {
		if v.Kind == KindValidate && v.Reverts == firstBad && v.Commit != firstBad {
			return v.Commit, true, nil
		}
	}
	r, isReverter := s.tester.(reverter)
	if !isReverter {
		return "", false, &predicate.AbortError{Reason: "--validate needs scratch worktrees to revert the first bad commit in"}
	}
	mainline := 0
	if node, err := s.graph.Node(hashOf(firstBad)); err == nil && len(node.Parents) > 1 {
		mainline = 1
	}
	revert, err = r.Revert(ctx, s.spec.BadCommit, firstBad, mainline)
	var conflict *worktree.RevertError
	if errors.As(err, &conflict) {
		rec := VerdictRecord{Type: RecVerdict, Time: now(), Commit: firstBad, Kind: KindValidate, Reverts: firstBad,
			Verdict: predicate.Skip, Reason: conflict.Error()}
		if err := s.append(rec); err != nil {
			return "", false, journalError{err}
		}
		s.hist.verdictRecorded(rec)
		return "", false, nil
	}
	return revert, err == nil, err
}
