package bisect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"
)

// StepRef names one dispatch of a step, for testers that send steps
// elsewhere (another machine, a queue) and must know a step again after a
// restart of either side.
//
// Its ID is the session's token, the commit and the attempt: how many
// times the commit had a verdict or was dropped before. A step that was in
// flight when a run stopped (kill -9, Ctrl-C, a reboot) has neither, so
// resume dispatches it again under the same ID, and a tester can collect
// the result that arrived meanwhile instead of running it again. A commit
// tested again on purpose (a flaky re-run, --confirm) gets a new ID.
type StepRef struct {
	// ID is "<session>-<commit>-<attempt>"; the journal's step, verdict
	// and drop records carry it.
	ID string `json:"id"`
	// Session is the session's token: a digest of its repository, name
	// and start, the same across resumes and different for a session
	// started again under the same name.
	Session string   `json:"session"`
	Commit  string   `json:"commit"`
	Kind    StepKind `json:"kind"`
	Attempt int      `json:"attempt"`
}

// A StepTester is a ParallelTester that is told which step it tests, and
// when a step it was given is no longer wanted. The session calls TestStep
// instead of Test and TestOn.
type StepTester interface {
	ParallelTester
	// TestStep tests step.Commit on bench i, as TestOn does.
	TestStep(ctx context.Context, i int, step StepRef, logs LogPaths) (Report, error)
	// Drop says that the step's verdict is not wanted any more (another
	// verdict made it useless, or the session stopped it for good): the
	// tester may stop it wherever it runs. A step whose context was
	// cancelled but that is not dropped will be asked for again under the
	// same ID (a run interrupted, then resumed).
	Drop(step StepRef)
}

// sessionToken is the session's token (see StepRef.Session).
func sessionToken(repo, name string, started time.Time) string {
	sum := sha256.Sum256([]byte(repo + "\x00" + name + "\x00" + started.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:8])
}

// stepRef names the next dispatch of commit.
func (s *session) stepRef(commit string, kind StepKind) StepRef {
	token := sessionToken(s.spec.Repo, s.spec.Name, s.hist.start.Time)
	n := s.hist.attempts[commit]
	return StepRef{ID: fmt.Sprintf("%s-%s-%d", token, commit, n), Session: token, Commit: commit, Kind: kind, Attempt: n}
}

// testStep tests the flight's commit on bench i, telling a StepTester
// which step it is.
func testStep(ctx context.Context, t Tester, i int, fl *flight) (Report, error) {
	if st, ok := t.(StepTester); ok {
		return st.TestStep(ctx, i, fl.ref, fl.logs)
	}
	if pt, ok := t.(ParallelTester); ok {
		return pt.TestOn(ctx, i, fl.act.commit, fl.logs)
	}
	return t.Test(ctx, fl.act.commit, fl.logs)
}

// counted records that commit had a verdict or was dropped: its next
// dispatch is a new attempt.
func (h *history) counted(commit string) {
	if h.attempts == nil {
		h.attempts = map[string]int{}
	}
	h.attempts[commit]++
}

// judged reports whether a verdict with the step id is in the journal.
func (h *history) judged(id string) bool {
	if id == "" {
		return false
	}
	for _, v := range h.verdicts {
		if v.ID == id {
			return true
		}
	}
	return false
}

// worktreeName is the name a step record gives the worktree at path: its
// directory's name, or none for a tester that names no worktree.
func worktreeName(path string) string {
	if path == "" {
		return ""
	}
	return filepath.Base(path)
}
