package bisect

import (
	"path/filepath"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/repograph"
)

// Journal is a session's journal, decoded, for reading only.
type Journal struct {
	Start    StartRecord
	Verdicts []VerdictRecord
	// Baselines are in the order they were recorded.
	Baselines []BaselineRecord
	// InFlight is the step started last if no verdict followed it.
	InFlight *StepRecord
	// Stop is set when the last run stopped unfinished; End when the
	// session is over. Neither is set when a run died without a word
	// (or is still running).
	Stop *StopRecord
	End  *EndRecord
	// Running says a process holds the session now.
	Running bool
	// Dir is the session's directory; Repo the repository, open, for
	// reading commits.
	Dir  string
	Repo *repograph.Repo
}

// ReadJournal reads the named session's journal without disturbing a run
// that may hold it.
func ReadJournal(repoPath, name string) (*Journal, error) {
	s, err := loadSession(repoPath, name)
	if err != nil {
		return nil, err
	}
	h := s.hist
	return &Journal{
		Start: h.start, Verdicts: h.verdicts, Baselines: h.baselines,
		InFlight: h.inFlight, Stop: h.stop, End: h.end, Dir: s.dir, Repo: s.repo,
		Running: journal.IsLocked(filepath.Join(s.dir, lockFile)),
	}, nil
}

// State derives where the session stands from its journal.
func (j *Journal) State() (SessionState, Outcome, string) {
	return deriveState(j.End, j.Stop, j.Running)
}

// Close releases the repository.
func (j *Journal) Close() error { return j.Repo.Close() }
