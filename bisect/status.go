package bisect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/search"
)

// Status says where a session stands.
type Status struct {
	Session string `json:"session"`
	// State is "running" (a process holds the session), "finished",
	// "aborted" or "interrupted" (resumable), or "stopped" (a run died
	// without saying why, by kill -9 or a reboot; resumable).
	State   string          `json:"state"`
	Holder  *journal.Holder `json:"holder,omitempty"`
	Outcome Outcome         `json:"outcome,omitempty"`
	Message string          `json:"message,omitempty"`
	Good    []string        `json:"good"`
	Bad     string          `json:"bad"`
	// StepsDone counts recorded verdicts; Remaining is the number of
	// commits that could still be the first bad one, StepsLeft git's
	// estimate of the tests still needed.
	StepsDone int     `json:"steps_done"`
	Remaining int     `json:"remaining"`
	StepsLeft int     `json:"steps_left"`
	Elapsed   float64 `json:"elapsed_s"`
	// Testing is the commit under test, or the one that was in flight
	// when the session stopped.
	Testing *Step  `json:"testing,omitempty"`
	Steps   []Step `json:"steps"`
	Dir     string `json:"session_dir"`
}

// ReadStatus reads the named session's state without disturbing a run
// that may hold it.
func ReadStatus(repoPath, name string) (*Status, error) {
	s, err := loadSession(repoPath, name)
	if err != nil {
		return nil, err
	}
	h := s.hist
	st := &Status{
		Session: s.spec.Name, Good: s.spec.GoodCommits, Bad: s.spec.BadCommit,
		StepsDone: len(h.verdicts), Elapsed: h.elapsed, Steps: h.steps(s.subject), Dir: s.dir,
	}
	lockPath := filepath.Join(s.dir, lockFile)
	switch {
	case journal.IsLocked(lockPath):
		st.State = "running"
		if holder, err := journal.ReadHolder(lockPath); err == nil {
			st.Holder = &holder
		}
	case h.end != nil:
		st.State, st.Outcome, st.Message = "finished", h.end.Outcome, h.end.Message
	case h.stop != nil:
		st.State, st.Outcome, st.Message = string(h.stop.Outcome), h.stop.Outcome, h.stop.Message
	default:
		st.State = "stopped"
		st.Message = fmt.Sprintf("the run stopped without a word (killed, or the machine went down): 'sxbisect resume --name %s' goes on", s.spec.Name)
	}
	if f := h.inFlight; f != nil {
		st.Testing = &Step{Commit: f.Commit, Subject: s.subject(f.Commit), Kind: f.Kind, Time: f.Time}
	}
	if h.end == nil {
		if g, err := s.repo.Graph(s.spec.Paths); err == nil {
			if next, err := search.Next(g, s.state(len(s.searchVerdicts())), s.searchOptions()); err == nil {
				st.Remaining, st.StepsLeft = next.Remaining, next.StepsLeft
			}
		}
	}
	return st, nil
}

// Text renders the status for people.
func (st *Status) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s: %s", st.Session, st.State)
	if st.Holder != nil {
		fmt.Fprintf(&b, " (%s)", st.Holder)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "range: good %s, bad %s\n", shortList(st.Good), short(st.Bad))
	fmt.Fprintf(&b, "steps done: %d in %s\n", st.StepsDone, secs(st.Elapsed).Round(time.Second))
	if st.State != "finished" {
		fmt.Fprintf(&b, "left: %d commits, about %d steps\n", st.Remaining, st.StepsLeft)
	}
	if t := st.Testing; t != nil {
		verb := "testing"
		if st.State != "running" {
			verb = "was testing"
		}
		fmt.Fprintf(&b, "%s: %s %s (%s, since %s)\n", verb, short(t.Commit), t.Subject, t.Kind, t.Time.Local().Format("15:04:05"))
	}
	if st.Message != "" {
		fmt.Fprintf(&b, "%s\n", st.Message)
	}
	return b.String()
}

// loadSession reads a session's journal for reading only.
func loadSession(repoPath, name string) (*session, error) {
	repo, dir, name, err := locate(repoPath, name)
	if err != nil {
		return nil, err
	}
	entries, err := journal.Read(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, damaged(name, err)
	}
	if len(entries) == 0 {
		return nil, noSession(name)
	}
	h, err := decodeHistory(entries)
	if err != nil {
		return nil, damaged(name, err)
	}
	return &session{spec: h.start.Spec, dir: dir, repo: repo, hist: h}, nil
}

// Sessions lists the names of the sessions in a repository.
func Sessions(repoPath string) ([]string, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(StateDir(repo.CommonDir()), "sessions"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}
