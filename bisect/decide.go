package bisect

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// state is what the search knows after the first n verdicts of the
// search's own steps: the ends the user gave, moved by those verdicts (as
// git moves refs/bisect/bad to the newest bad commit).
func (s *session) state(n int) search.State {
	st := search.State{Bad: hashOf(s.spec.BadCommit)}
	for _, g := range s.spec.GoodCommits {
		st.Good = append(st.Good, hashOf(g))
	}
	for _, v := range s.searchVerdicts()[:n] {
		switch v.Verdict {
		case predicate.Good:
			st.Good = append(st.Good, hashOf(v.Commit))
		case predicate.Bad:
			// One bench at a time, each bad verdict lies below the last,
			// and git moves refs/bisect/bad to it. With several, now or
			// in an earlier run of the session, verdicts come in any
			// order, and only one below the bad so far narrows the range.
			if !s.verdictsInAnyOrder() || s.reaches(st.Bad.String(), v.Commit) {
				st.Bad = hashOf(v.Commit)
			}
		case predicate.Skip:
			st.Skip = append(st.Skip, hashOf(v.Commit))
		}
	}
	return st
}

// verdictsInAnyOrder reports whether the session's verdicts may have come
// in another order than git's: several benches test now, or tested in an
// earlier run (resume --parallel K changes K for a run only, so the
// journal's steps tell).
func (s *session) verdictsInAnyOrder() bool {
	return s.spec.benches() > 1 || s.hist.overlapped
}

// searchVerdicts are the verdicts of the search's steps, the ones git would
// have recorded; the ends' verification and confirmations are not among them.
func (s *session) searchVerdicts() []VerdictRecord {
	var out []VerdictRecord
	for _, v := range s.hist.verdicts {
		if v.Kind == KindBisect {
			out = append(out, v)
		}
	}
	return out
}

// searchRun returns the search that follows this session. git keeps state
// across the steps of one bisect run (commits parsed, merges simplified for
// paths, merge bases checked once), and search.Run models it; a session
// that resumes replays its recorded steps through a new Run, so that it
// goes on exactly as an uninterrupted session would.
func (s *session) searchRun() (*search.Run, error) {
	if s.search != nil {
		return s.search, nil
	}
	r := search.NewRun(s.graph, s.searchOptions())
	for k := range s.searchVerdicts() {
		if _, _, err := s.ask(r, k); err != nil {
			return nil, err
		}
	}
	s.search = r
	return r, nil
}

// ask puts to the search the question git asks before the step after k
// verdicts: the merge-base check, then, if it lets the bisection go on,
// the next commit.
func (s *session) ask(r *search.Run, k int) (search.MergeBaseCheck, *search.Step, error) {
	st := s.state(k)
	mb, err := r.CheckMergeBases(st)
	if err != nil || mb.Kind == search.MergeBaseTest || mb.Kind == search.MergeBaseBad {
		return mb, nil, err
	}
	if mb.Kind == search.MergeBaseSkipped {
		s.mergeBaseNote = fmt.Sprintf(s.words("the merge base %s was skipped, so the first bad commit may lie between it and the good commits"), text.ShortID(mb.Commit.String()))
	}
	next, err := r.Next(st)
	return mb, &next, err
}

func (s *session) searchOptions() search.Options {
	return search.Options{FirstParent: s.spec.FirstParent, Paths: len(s.spec.Paths) > 0}
}

// verdictOf returns the recorded verdict of commit in a step of kind.
func (s *session) verdictOf(commit string, kind StepKind) (VerdictRecord, bool) {
	for i := len(s.hist.verdicts) - 1; i >= 0; i-- {
		if v := s.hist.verdicts[i]; v.Commit == commit && v.Kind == kind {
			return v, true
		}
	}
	return VerdictRecord{}, false
}

// decide derives the next action from the spec and the verdicts alone, so
// that a resumed session takes exactly the path an uninterrupted one would.
func (s *session) decide() (action, error) {
	s.notes = s.notes[:0]
	if s.mergeBaseNote != "" {
		s.notes = append(s.notes, s.mergeBaseNote)
	}
	if why := s.flakyReason(); why != "" {
		return s.goFlaky(why)
	}
	if !s.spec.NoVerify {
		if act, done := s.verifyEnds(); done {
			return act, nil
		}
	}
	r, err := s.searchRun()
	if err != nil {
		return action{}, err
	}
	k := len(s.searchVerdicts())
	if s.asked == nil || s.asked.k != k {
		// Each state is put to the search once, as git would: confirming
		// steps at the end do not change it and must not ask again.
		mb, next, err := s.ask(r, k)
		if err != nil {
			return action{}, err
		}
		s.asked = &askedAt{k: k, mb: mb, next: next}
		if k == 0 {
			// That was git bisect start's answer, whose process read
			// every commit down to the good ones (82k on git's whole
			// history, 10 MB) and is over (search.Run lets it go).
			// Collected now, before a checkout and a test leave the
			// process idle for seconds, it does not lie in the heap
			// under the next process's commits: 1.4 MB off the peak of
			// such a session.
			runtime.GC()
		}
	}
	mb, next := s.asked.mb, s.asked.next
	switch mb.Kind {
	case search.MergeBaseTest:
		return action{commit: mb.Commit.String(), kind: KindBisect}, nil
	case search.MergeBaseBad:
		return action{end: &EndRecord{Outcome: NoRegression, Message: fmt.Sprintf(
			s.words("the merge base %s of the good and bad commits is bad: the regression happened before it, or it was fixed between it and %s; bisect from a good commit that is an ancestor of the bad one"),
			text.ShortID(mb.Commit.String()), shortList(s.spec.GoodCommits))}}, nil
	}
	switch next.Kind {
	case search.Test:
		// The confirmation runs come after the search: the first bad
		// commit and at least one parent, Confirm times each.
		return action{commit: next.Commit.String(), kind: KindBisect, remaining: next.Remaining, stepsLeft: next.StepsLeft + 2*s.spec.Confirm}, nil
	case search.Found:
		c := next.Commit.String()
		end := &EndRecord{Outcome: Found, FirstBad: c, Message: fmt.Sprintf(s.words("%s is the first bad commit: %s"), c, s.subject(c))}
		if s.spec.Confirm > 0 {
			act, done, err := s.confirm(c, end)
			if err != nil || !done {
				return act, err
			}
			if !*end.Confirmed && s.spec.Flaky == FlakyAuto {
				return s.goFlaky("--confirm's re-tests disagreed with the verdicts")
			}
		}
		return s.finish(end), nil
	default:
		var cands []string
		for _, c := range next.Candidates {
			cands = append(cands, c.String())
		}
		return action{end: &EndRecord{Outcome: OnlySkipped, Candidates: cands, Message: fmt.Sprintf(
			s.words("only skipped commits are left to test: the first bad commit could be any of %d commits (%s); fix what made them skip (see the steps' reasons) and bisect that range again"), len(cands), shortList(cands))}}, nil
	}
}

// goFlaky goes on with the flake-aware search from the verdicts so far,
// and says why, once.
func (s *session) goFlaky(why string) (action, error) {
	if s.spec.Flaky != FlakyOn {
		msg := fmt.Sprintf("%s: going on flake-aware from the %d verdicts so far, weighing each as evidence (--no-flaky keeps to git's search)", why, len(s.hist.verdicts))
		s.notes = append(s.notes, msg)
		if !s.flakyTold {
			s.flakyTold = true
			s.say(msg)
		}
	}
	if s.spec.PreferCached {
		// Its commits are where a run tells the most by the posterior,
		// not splits of a range that a tolerance could loosen, and it
		// re-tests them, their builds cached after the first.
		msg := "--prefer-cached does not change the flake-aware search's commits: it picks them by the evidence, not by halving the range, and re-tests the same ones, whose builds are then cached"
		s.notes = append(s.notes, msg)
		if !s.toldFlakyCached {
			s.toldFlakyCached = true
			s.say(msg)
		}
	}
	if s.spec.Confirm > 0 && s.spec.Flaky == FlakyOn {
		s.notes = append(s.notes, "--confirm is not needed with --flaky: the flake-aware search re-tests where the evidence is weakest")
	}
	act, err := s.decideFlaky(why)
	if err != nil || act.end == nil {
		return act, err
	}
	return s.finish(act.end), nil
}

// finish ends a session with its answer, after --validate's runs when the
// answer is a first bad commit.
func (s *session) finish(end *EndRecord) action {
	if end.Outcome == Found && s.spec.Validate > 0 {
		if act, done := s.validate(end.FirstBad, end); !done {
			return act
		}
	}
	return action{end: end}
}

// verifyEnds tests the good ends, then the bad end, before searching: a
// range whose good end is bad or whose bad end is good has no regression
// to find, and hours of bisecting it would only find noise.
func (s *session) verifyEnds() (action, bool) {
	for _, g := range s.spec.GoodCommits {
		v, ok := s.verdictOf(g, KindVerify)
		if !ok {
			return action{commit: g, kind: KindVerify}, true
		}
		if code, ok := commandNotRun(v); ok {
			// git bisect run checks exit 126 and 127 on its first run for
			// the same reason: the test did not run at all, and calling
			// the range free of regressions would be a false answer.
			return action{commit: g, abort: fmt.Sprintf(
				s.words("the test could not run at the good end %s (exit %d: %s): %s; fix --run, then 'sxbisect reset --name %s' and start again"),
				text.ShortID(g), code, map[int]string{126: "not executable", 127: "command not found"}[code], s.notRunWhy(g, code, v), s.spec.Name)}, true
		}
		switch v.Verdict {
		case predicate.Bad:
			if s.testOnceMore(g) {
				return action{commit: g, kind: KindVerify}, true
			}
			return action{end: &EndRecord{Outcome: NoRegression, Message: fmt.Sprintf(
				s.words("no regression in range: the good end %s already tests bad (%s; its output ends: %s); the problem is older than the range, or the test fails for another reason (a busy machine, a deadline too tight); check the test at %s by hand"),
				text.ShortID(g), v.Reason, lastLine(v.OutputTail), text.ShortID(g))}}, true
		case predicate.Skip:
			s.notes = append(s.notes, fmt.Sprintf(s.words("the good end %s could not be verified (%s); it was taken as good"), text.ShortID(g), v.Reason))
		}
	}
	bad := s.spec.BadCommit
	v, ok := s.verdictOf(bad, KindVerify)
	if !ok {
		return action{commit: bad, kind: KindVerify}, true
	}
	switch v.Verdict {
	case predicate.Good:
		if s.testOnceMore(bad) {
			return action{commit: bad, kind: KindVerify}, true
		}
		msg := fmt.Sprintf(s.words("no regression in range: the bad end %s tests good (%s). Either the problem was fixed before %s "+
			"(bisect again with the commit where it was seen as the bad end: sxbisect start %s <that commit>), "+
			"or it depends on the machine (load, memory) rather than on a commit (test %s again to tell)"),
			text.ShortID(bad), v.Reason, text.ShortID(bad), text.ShortID(s.spec.GoodCommits[0]), text.ShortID(bad))
		return action{end: &EndRecord{Outcome: NoRegression, Message: msg}}, true
	case predicate.Skip:
		s.notes = append(s.notes, fmt.Sprintf(s.words("the bad end %s could not be verified (%s); it was taken as bad"), text.ShortID(bad), v.Reason))
	}
	return action{}, false
}

// testOnceMore reports whether an end that disagrees with the premise is
// to be tested once more before the session says "no regression": in auto
// mode one flaky run there must not end a real bisection. A second run
// that agrees with the first settles it; one that disagrees makes the
// session flake-aware.
func (s *session) testOnceMore(end string) bool {
	if s.spec.Flaky != FlakyAuto && s.spec.Flaky != "" {
		return false
	}
	n := 0
	for _, v := range s.hist.verdicts {
		if v.Commit == end && v.Kind == KindVerify {
			n++
		}
	}
	return n < 2
}

func shortList(commits []string) string {
	var out []string
	for i, c := range commits {
		if i == 8 {
			out = append(out, fmt.Sprintf("and %d more", len(commits)-i))
			break
		}
		out = append(out, text.ShortID(c))
	}
	return strings.Join(out, ", ")
}

// askedAt is the search's answer for the state after k verdicts.
type askedAt struct {
	k    int
	mb   search.MergeBaseCheck
	next *search.Step
}

// confirm re-tests the first bad commit and its parents Spec.Confirm times
// each, alternating, and then says in end whether the verdicts held. done
// is false while a confirming test is still to run.
func (s *session) confirm(firstBad string, end *EndRecord) (action, bool, error) {
	node, err := s.graph.Node(hashOf(firstBad))
	if err != nil {
		return action{}, false, err
	}
	targets := []string{firstBad}
	for _, p := range node.Parents {
		targets = append(targets, p.String())
	}
	tally := map[string]map[predicate.Verdict]int{}
	for _, t := range targets {
		tally[t] = map[predicate.Verdict]int{}
	}
	for _, v := range s.hist.verdicts {
		if v.Kind == KindConfirm && tally[v.Commit] != nil {
			tally[v.Commit][v.Verdict]++
		}
	}
	count := func(t string) int {
		return tally[t][predicate.Good] + tally[t][predicate.Bad] + tally[t][predicate.Skip]
	}
	// Alternate: the target with the fewest confirming tests goes next,
	// the first bad commit first on ties.
	next, done := "", 0
	for _, t := range targets {
		done += min(count(t), s.spec.Confirm)
		if count(t) < s.spec.Confirm && (next == "" || count(t) < count(next)) {
			next = t
		}
	}
	if next != "" {
		runs := s.spec.Confirm * len(targets)
		return action{commit: next, kind: KindConfirm, stepsLeft: runs - done - 1, confirmRun: done + 1, confirmRuns: runs}, false, nil
	}
	held := tally[firstBad][predicate.Bad] == s.spec.Confirm
	var figures []string
	figures = append(figures, fmt.Sprintf(s.words("%s bad %d/%d"), text.ShortID(firstBad), tally[firstBad][predicate.Bad], s.spec.Confirm))
	for _, p := range targets[1:] {
		held = held && tally[p][predicate.Good] == s.spec.Confirm
		figures = append(figures, fmt.Sprintf(s.words("parent %s good %d/%d"), text.ShortID(p), tally[p][predicate.Good], s.spec.Confirm))
	}
	end.Confirmed = &held
	if held {
		end.Message += fmt.Sprintf(s.words("\nConfirmed: %s."), strings.Join(figures, ", "))
	} else {
		end.Message += fmt.Sprintf(s.words("\nNOT confirmed: %s. The test is flaky here (the machine's load, a deadline too tight, a race); the first bad commit may be wrong. Look at the confirm steps' reasons."), strings.Join(figures, ", "))
	}
	return action{}, true, nil
}

// commandNotRun reports whether a verify step's test exited 126 or 127,
// the shell's "not executable" and "command not found".
func commandNotRun(v VerdictRecord) (int, bool) {
	if v.Verdict != predicate.Bad {
		return 0, false
	}
	for key, value := range v.Metrics {
		if key == "exit_code" || strings.HasSuffix(key, ".exit_code") {
			if code := int(value); code == 126 || code == 127 {
				return code, true
			}
		}
	}
	return 0, false
}

// lastLine is the last non-empty line of a test's output, for a message.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return last
	}
	return "no output"
}
