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
	"github.com/sxbisect/sxbisect/internal/text"
)

// Status says where a session stands.
type Status struct {
	// Schema is JSONSchema.
	Schema  int    `json:"schema"`
	Session string `json:"session"`
	// Terms are the session's words for good and bad.
	Terms   Terms           `json:"terms"`
	State   SessionState    `json:"state"`
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
	// when the session stopped: the one started last.
	Testing *Step `json:"testing,omitempty"`
	// InFlight are all the commits under test, or in flight when the
	// session stopped, in the order they started: several with
	// --parallel.
	InFlight []Step `json:"in_flight,omitempty"`
	Steps    []Step `json:"steps"`
	Dir      string `json:"session_dir"`
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
		Schema: JSONSchema, Session: s.spec.Name, Terms: s.spec.Terms(), Good: s.spec.GoodCommits, Bad: s.spec.BadCommit,
		StepsDone: len(h.verdicts), Elapsed: h.elapsed(), Steps: h.steps(s.subject), Dir: s.dir,
	}
	lockPath := filepath.Join(s.dir, lockFile)
	running := journal.IsLocked(lockPath)
	st.State, st.Outcome, st.Message = deriveState(h.end, h.stop, running)
	switch st.State {
	case StateRunning:
		if holder, err := journal.ReadHolder(lockPath); err == nil {
			st.Holder = &holder
		}
	case StateStopped:
		st.Message += fmt.Sprintf(": 'sxbisect resume --name %s' goes on", s.spec.Name)
	}
	if f := h.inFlight; f != nil {
		st.Testing = &Step{Commit: f.Commit, Subject: s.subject(f.Commit), Kind: f.Kind, Time: f.Time}
	}
	for _, f := range h.openSteps() {
		if h.end != nil {
			break // what was stopped at the end is nobody's concern
		}
		if st.Holder != nil && f.Time.Before(st.Holder.Since) {
			continue // in flight in an earlier run, lost with it
		}
		st.InFlight = append(st.InFlight, Step{Commit: f.Commit, Subject: s.subject(f.Commit), Kind: f.Kind, Time: f.Time})
	}
	if h.end == nil {
		if g, err := searchGraph(s.repo, s.spec.Paths); err == nil {
			// The state asks the graph which bad verdict lies below which
			// when several benches ran.
			s.graph = g
			if next, err := search.Next(g, s.state(len(s.searchVerdicts())), s.searchOptions()); err == nil {
				st.Remaining, st.StepsLeft = next.Remaining, next.StepsLeft
			}
		}
	}
	return st, nil
}

// SessionState says where a session stands. It is derived from the
// journal and the session's lock by deriveState alone.
type SessionState string

const (
	// StateRunning: a process holds the session now.
	StateRunning SessionState = "running"
	// StateFinished: the session ended for good (see its Outcome).
	StateFinished SessionState = "finished"
	// StateAborted: the test or the build asked to stop; resumable once
	// the cause is fixed.
	StateAborted SessionState = "aborted"
	// StateInterrupted: a signal or a deadline stopped it; resumable.
	StateInterrupted SessionState = "interrupted"
	// StateStopped: the last run died without a word (kill -9, a
	// reboot); resumable.
	StateStopped SessionState = "stopped"
	// StateDamaged: the journal cannot be read; the Message says where
	// the damage is and how to discard the session (see ReadStatuses).
	StateDamaged SessionState = "damaged"
)

// deriveState is where a session stands, with the outcome and the message
// of its last word: the one place this is decided, for status and reports.
func deriveState(end *EndRecord, stop *StopRecord, running bool) (SessionState, Outcome, string) {
	switch {
	case running:
		return StateRunning, "", ""
	case end != nil:
		return StateFinished, end.Outcome, end.Message
	case stop != nil && stop.Outcome == Interrupted:
		return StateInterrupted, stop.Outcome, stop.Message
	case stop != nil:
		return StateAborted, stop.Outcome, stop.Message
	}
	return StateStopped, "", "the last run stopped without a word (killed, or the machine went down)"
}

// ReadStatuses reads the status of every session of the repository. A
// session whose journal is damaged is listed with StateDamaged and the
// error as its Message, so that it does not hide the others; a session
// directory without a journal (a start refused before writing one) is no
// session and is left out.
func ReadStatuses(repoPath string) ([]*Status, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	names, err := Sessions(repoPath)
	if err != nil {
		return nil, err
	}
	var list []*Status
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(SessionDir(repo.CommonDir(), n), journalFile)); errors.Is(err, os.ErrNotExist) {
			continue
		}
		st, err := ReadStatus(repoPath, n)
		var damagedErr *journal.DamagedError
		if errors.As(err, &damagedErr) {
			st = &Status{Schema: JSONSchema, Terms: defaultTerms, Session: n, State: StateDamaged, Message: damageAndWayOut(n, damagedErr), Good: []string{}, Steps: []Step{}}
		} else if err != nil {
			return nil, err
		}
		list = append(list, st)
	}
	return list, nil
}

// Text renders the status for people.
func (st *Status) Text() string {
	var b strings.Builder
	if st.State == StateDamaged {
		return text.Escape(fmt.Sprintf("session %s: %s: %s\n", st.Session, st.State, st.Message))
	}
	fmt.Fprintf(&b, "session %s: %s", st.Session, st.State)
	if st.Holder != nil {
		fmt.Fprintf(&b, " (%s)", st.Holder)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "range: %s %s, %s %s\n", st.Terms.Old, shortList(st.Good), st.Terms.New, text.ShortID(st.Bad))
	fmt.Fprintf(&b, "steps done: %d in %s\n", st.StepsDone, secs(st.Elapsed).Round(time.Second))
	if workers := workersOf(st.Steps); workers != "" {
		fmt.Fprintf(&b, "measured by workers: %s\n", workers)
	}
	if st.State != StateFinished {
		fmt.Fprintf(&b, "left: %d commits, about %d steps\n", st.Remaining, st.StepsLeft)
	}
	verb := "testing"
	if st.State != StateRunning {
		verb = "was testing"
	}
	testing := st.InFlight
	if len(testing) == 0 && st.Testing != nil {
		testing = []Step{*st.Testing}
	}
	for _, t := range testing {
		fmt.Fprintf(&b, "%s: %s %s (%s, since %s)\n", verb, text.ShortID(t.Commit), t.Subject, t.Kind, t.Time.Local().Format("15:04:05"))
	}
	if st.Message != "" {
		fmt.Fprintf(&b, "%s\n", st.Message)
	}
	return text.Escape(b.String())
}

// loadSession reads a session's journal for reading only. A damaged
// journal gives the error from damaged, and, when its start record is
// whole, the session as the records before the damage make it.
func loadSession(repoPath, name string) (*session, error) {
	repo, dir, name, err := locate(repoPath, name)
	if err != nil {
		return nil, err
	}
	h, err := readHistory(dir)
	if h == nil && err == nil {
		return nil, noSession(name)
	}
	if err != nil {
		err = damaged(name, err)
	}
	if h == nil {
		return nil, err
	}
	return &session{spec: h.start.Spec, dir: dir, repo: repo, hist: h}, err
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

// workersOf says which workers measured how many of the steps, "" when
// none did (the steps ran on this machine).
func workersOf(steps []Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Worker
	}
	return CountWorkers(names)
}

// CountWorkers says, for the workers that measured steps (one name per
// step, "" for a step measured here), how many steps each measured:
// "w1 (3), w2 (1)"; "" when no worker did.
func CountWorkers(workers []string) string {
	counts := map[string]int{}
	var names []string
	for _, w := range workers {
		if w == "" {
			continue
		}
		if counts[w] == 0 {
			names = append(names, w)
		}
		counts[w]++
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d)", n, counts[n])
	}
	return strings.Join(parts, ", ")
}
