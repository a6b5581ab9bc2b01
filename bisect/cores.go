package bisect

import (
	"fmt"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate/run"
)

// DefaultCoresPerRun is how many cores each measured run gets to itself
// when benches measure side by side (Spec.CoresPerRun).
const DefaultCoresPerRun = 1

// corePlan is how the cores are shared out between the benches' measured
// runs and their builds.
type corePlan struct {
	// slots are the measured runs that may go at once, each with its
	// cores; a single slot with no cores when none are set apart.
	slots [][]int
	// build are the builds' cores, none for any.
	build []int
	// note says how the cores were shared out, or why they were not.
	note string
}

// sharedPlan is the plan without cores set apart: measured runs take
// turns.
func sharedPlan(note string) corePlan { return corePlan{slots: [][]int{nil}, note: note} }

// planCores shares cores out between at most want measured runs at once,
// each with perRun cores, and builds, which keep at least one core. what
// names the option that asked for it in the note ("--parallel 2"). cpuset
// says whether runs can be confined to cores here (nil), or why not; it
// is asked only when there are cores enough.
func planCores(cores []int, perRun, want int, what string, cpuset func(cores []int) error) corePlan {
	if perRun <= 0 {
		perRun = DefaultCoresPerRun
	}
	slots := min(want, (len(cores)-1)/perRun)
	if slots < 1 {
		verb := "are"
		if len(cores) == 1 {
			verb = "is"
		}
		return sharedPlan(fmt.Sprintf("%s: %s %s too few to give measured runs cores of their own (each takes %d, --cores-per-run, and builds keep one): "+
			"the measured runs take turns, most needed first, and builds run beside them at a lower priority",
			what, coreList(cores), verb, perRun))
	}
	if err := cpuset(cores); err != nil {
		return sharedPlan(fmt.Sprintf("%s: the measured runs take turns, most needed first, and builds run beside them at a lower priority, since no cores can be set apart for them here (%s)",
			what, text.OneLine(err.Error())))
	}
	p := corePlan{build: cores[:len(cores)-slots*perRun]}
	for i := range slots {
		from := len(cores) - (i+1)*perRun
		p.slots = append(p.slots, cores[from:from+perRun])
	}
	var lists []string
	for _, s := range p.slots {
		lists = append(lists, run.FormatCPUs(s))
	}
	p.note = fmt.Sprintf("%s: measured runs have cores of their own (%s), %d at a time; builds run on %s",
		what, strings.Join(lists, "; "), slots, coreList(p.build))
	if slots < want {
		p.note += fmt.Sprintf("; more measured runs at once would need %d cores", want*perRun+1)
	}
	return p
}

// coreList names cores for people: "core 0", "cores 0-2".
func coreList(cores []int) string {
	if len(cores) == 1 {
		return "core " + run.FormatCPUs(cores)
	}
	return "cores " + run.FormatCPUs(cores)
}
