package bisect

import (
	"path/filepath"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/repograph"
)

// The journal's records, for readers such as package report. They are the
// records as written; their fields are documented where they are declared.
type (
	// StartRecord is the journal's first record; its Spec is the session's.
	StartRecord = startRecord
	// VerdictRecord is a tested commit: verdict, reason, durations,
	// metrics and the samples behind them.
	VerdictRecord = verdictRecord
	// BaselineRecord is what a predicate measured at the good commit.
	BaselineRecord = baselineRecord
	// StepRecord is a test that started.
	StepRecord = stepRecord
	// StopRecord marks where an aborted or interrupted run stopped.
	StopRecord = stopRecord
	// EndRecord ends a session for good.
	EndRecord = endRecord
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

// Close releases the repository.
func (j *Journal) Close() error { return j.Repo.Close() }
