package bisect

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/predicate"
)

// Mark records a verdict given by hand for a commit of a stopped session,
// as `git bisect good|bad|skip <rev>` does, so that `sxbisect resume` goes
// on past a commit that stopped it (a crash, a build that aborts). The
// commit is usually the one the session stopped at (rev "" names it). The
// verdict is journaled like any other, with the reason "marked by hand",
// and the search takes it as it takes a tested one.
func Mark(repoPath, name string, verdict predicate.Verdict, rev string) (*VerdictRecord, error) {
	repo, dir, name, err := locate(repoPath, name)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	lock, err := lockSession(dir, name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lock.Unlock() }()
	j, entries, err := journal.Open(filepath.Join(dir, journalFile))
	if err != nil {
		var damagedErr *journal.DamagedError
		if errors.As(err, &damagedErr) {
			return nil, damaged(name, err)
		}
		return nil, err
	}
	defer j.Close()
	if len(entries) == 0 {
		return nil, noSession(name)
	}
	h, err := decodeHistory(j.Path(), entries)
	if err != nil {
		return nil, damaged(name, err)
	}
	// The verdict may be given in the session's terms, as git bisect takes
	// 'git bisect slow' after --term-new slow.
	terms := h.start.Spec.Terms()
	v, ok := terms.Verdict(string(verdict))
	if !ok {
		return nil, &UsageError{Msg: fmt.Sprintf("%q is no verdict: mark a commit %s, %s or skip", verdict, terms.Old, terms.New)}
	}
	verdict = v
	if h.end != nil {
		return nil, &UsageError{Msg: fmt.Sprintf("session %q is finished (%s): there is nothing to mark; start a new one", name, h.end.Outcome)}
	}
	commit, kind := "", KindBisect
	switch {
	case rev != "":
		c, err := repo.Resolve(rev)
		if err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
		commit = c.String()
	case h.inFlight != nil:
		commit = h.inFlight.Commit
	case h.stop != nil && h.stop.Commit != "":
		commit = h.stop.Commit
	default:
		return nil, &UsageError{Msg: fmt.Sprintf("session %q did not stop at a commit: name the commit to mark, as in 'sxbisect mark %s <rev> --name %s'", name, verdict, name)}
	}
	if f := h.inFlight; f != nil && f.Commit == commit {
		kind = f.Kind
	} else if isEnd(h.start.Spec, commit) && !hasVerdict(h, commit, KindVerify) {
		kind = KindVerify
	}
	rec := VerdictRecord{Type: RecVerdict, Time: now(), Commit: commit, Kind: kind, Verdict: verdict, Reason: "marked by hand"}
	if err := j.Append(rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// isEnd reports whether commit is one of the session's ends.
func isEnd(spec Spec, commit string) bool {
	if commit == spec.BadCommit {
		return true
	}
	for _, g := range spec.GoodCommits {
		if g == commit {
			return true
		}
	}
	return false
}

func hasVerdict(h *history, commit string, kind StepKind) bool {
	for _, v := range h.verdicts {
		if v.Commit == commit && v.Kind == kind {
			return true
		}
	}
	return false
}
