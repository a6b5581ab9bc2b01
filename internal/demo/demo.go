// Package demo builds the miniature SX world that `sxbisect demo` bisects:
// a real git repository of a few hundred commits, with merge waves, a C host
// that is rebuilt at every step, guest suites, one build break and four
// regressions planted at known commits, one for each kind of condition a
// bisection can judge by: an exit status, a CPU-time ratio, a memory limit
// and output that must come. Its files come from sxbisect.DemoFiles; this
// package turns them into a history.
package demo

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The build and test commands of the demo, run from the repository root.
// The build takes a fraction of a second and leaves sx_server in the work
// tree (it is ignored by git, so it survives checkouts); the test runs the
// tcl guest suite and exits 1 when a test fails.
const (
	BuildCommand = "cc -O1 -o sx_server hosts/c/sx_server.c"
	RunCommand   = "sh lib/tcl/test.sh"
)

// The names of the demo's cases, in the order `sxbisect demo --case all`
// runs them.
const (
	CaseExit = "exit"
	CaseCPU  = "cpu"
	CaseOOM  = "oom"
	CaseHang = "hang"
)

// Demo is a generated repository and what bisections of it must find.
type Demo struct {
	// Dir is the repository's work tree; main is checked out at Bad.
	Dir string
	// Good is an early commit where the tcl suite passes; Bad is the tip,
	// where it fails; FirstBad is the planted regression between them.
	// They are the exit case's, kept here for the callers that bisect
	// only that one.
	Good, Bad, FirstBad string
	// BrokenBuild is the commit whose server does not compile; its child
	// fixes it. A bisection that lands there must skip it.
	BrokenBuild string
	// Build and Run are the commands to give the bisection.
	Build, Run string
	// Commits and Merges count the whole history.
	Commits, Merges int
	// Description tells a user what the demo is: the history, the build,
	// the suites and the planted regressions in one line each.
	Description string
	// Cases are the bisections the demo shows, exit first.
	Cases []Case
}

// Case is one planted regression and the bisection that finds it.
type Case struct {
	// Name is exit, cpu, oom or hang.
	Name string
	// Good and Bad are the ends to give `sxbisect start`; FirstBad is the
	// commit it must name.
	Good, Bad, FirstBad string
	// Args are the flags of `sxbisect start` for this case (without
	// --repo, --name and the ends), exactly as a user would type them.
	Args []string
	// Busy says that the case is meant to run on a busy machine: it shows
	// that a CPU-time ratio is not fooled by contention.
	Busy bool
	// Explanation tells a user what regressed, how the case's condition
	// sees it, and which commit the bisection should name.
	Explanation string
}

// Case returns the case of that name.
func (d *Demo) Case(name string) (Case, bool) {
	for _, c := range d.Cases {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// CaseNames lists the cases in the order the demo runs them.
func CaseNames() []string { return []string{CaseExit, CaseCPU, CaseOOM, CaseHang} }

// The suites of the other cases, and their conditions. The numbers are
// far from what the commits do (see story), so that a noisy machine does
// not change a verdict: the tcl suite takes 2.5 times the CPU after the cpu
// regression, prolog's server peaks near 15 MB before the oom regression
// and near 300 MB after it, and the erlang chain takes a fraction of its 3
// seconds before the hang and all of them after.
const (
	cpuRun      = "sh lib/tcl/test.sh"
	cpuRatio    = "cpu=1.5"
	oomRun      = "sh lib/prolog/conformance.sh"
	memoryLimit = "150M"
	hangRun     = "sh lib/erlang/conformance.sh"
	hangExpect  = `\(ok-len`
	timeout     = "20s"
)

// Generate builds the demo repository in dir, which must be empty or not
// exist yet. It takes about a second: the history is computed in memory and
// written with one git fast-import.
func Generate(dir string) (*Demo, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("demo: %s is not empty", dir)
	}
	src, err := loadSource()
	if err != nil {
		return nil, err
	}
	p := newPlanner(src)
	waves := story(p)
	if p.err != nil {
		return nil, fmt.Errorf("demo story: %w", p.err)
	}
	return generate(dir, src, waves)
}

// generate builds the repository for a story.
func generate(dir string, src *source, waves []wave) (*Demo, error) {
	g := newGenerator(src)
	for i, w := range waves {
		if err := g.wave(i, w); err != nil {
			return nil, fmt.Errorf("demo story, wave %d: %w", i, err)
		}
	}
	if err := g.complete(); err != nil {
		return nil, fmt.Errorf("demo story: %w", err)
	}
	hashes, err := gitfixture.Build(dir, g.commits)
	if err != nil {
		return nil, err
	}
	// Branch names make the history readable in git log --graph: the main
	// line is also "architecture", as the merge subjects call it, and each
	// loop branch points at its last commit.
	refs := [][2]string{{"architecture", hashes[g.main]}}
	for b, h := range g.loops {
		refs = append(refs, [2]string{b, hashes[h]})
	}
	for _, r := range refs {
		if _, err := gitfixture.Git(dir, "update-ref", "refs/heads/"+r[0], r[1]); err != nil {
			return nil, err
		}
	}
	d := &Demo{
		Dir:         dir,
		Good:        hashes[g.roles[good]],
		Bad:         hashes[g.main],
		FirstBad:    hashes[g.roles[firstBad]],
		BrokenBuild: hashes[g.roles[breaksBuild]],
		Build:       BuildCommand,
		Run:         RunCommand,
		Commits:     len(g.commits),
		Merges:      g.merges,
	}
	t := teller{g: g, hashes: hashes}
	d.Cases = []Case{
		{
			Name: CaseExit, Good: d.Good, Bad: d.Bad, FirstBad: d.FirstBad,
			Args:        []string{"--build", BuildCommand, "--run", RunCommand, "--timeout", timeout},
			Explanation: t.exit(),
		},
		{
			Name: CaseCPU, Good: t.hash(cpuGood), Bad: t.hash(cpuBad), FirstBad: t.hash(cpuFirstBad),
			Args:        []string{"--build", BuildCommand, "--run", cpuRun, "--max-ratio", cpuRatio, "--timeout", timeout},
			Busy:        true,
			Explanation: t.cpu(),
		},
		{
			Name: CaseOOM, Good: t.hash(oomGood), Bad: d.Bad, FirstBad: t.hash(oomFirstBad),
			Args:        []string{"--build", BuildCommand, "--run", oomRun, "--memory-limit", memoryLimit, "--timeout", timeout},
			Explanation: t.oom(),
		},
		{
			Name: CaseHang, Good: t.hash(hangGood), Bad: t.hash(hangBad), FirstBad: t.hash(hangFirstBad),
			Args:        []string{"--build", BuildCommand, "--run", hangRun, "--expect", hangExpect, "--timeout", timeout},
			Explanation: t.hang(),
		},
	}
	d.Description = t.describe(d)
	return d, nil
}

// teller writes the texts a user reads before a case runs.
type teller struct {
	g      *generator
	hashes []string
}

func (t teller) hash(r role) string { return t.hashes[t.g.roles[r]] }

func short(h string) string { return h[:10] }

// line is a commit as a one-line log shows it.
func (t teller) line(i int) string {
	s, _, _ := strings.Cut(t.g.commits[i].Message, "\n")
	return short(t.hashes[i]) + " " + s
}

// where says where a planted regression was committed.
func (t teller) where(r role) string {
	if b, ok := t.g.branch[r]; ok {
		return fmt.Sprintf("on topic branch %s, merged by %s", b, short(t.hashes[t.g.landing[r]]))
	}
	return "on the main line"
}

// ends are a case's good and bad ends and the commit it should name.
func (t teller) ends(b *strings.Builder, goodEnd, badEnd int, first role) {
	fmt.Fprintf(b, "  good: %s\n", t.line(goodEnd))
	fmt.Fprintf(b, "  bad:  %s\n", t.line(badEnd))
	fmt.Fprintf(b, "The bisection should name %s as the first bad commit.\n", short(t.hash(first)))
}

// describe is the text `sxbisect demo` shows before its cases.
func (t teller) describe(d *Demo) string {
	day := func(i int) string { return time.Unix(t.g.commits[i].Time, 0).UTC().Format("2006-01-02") }
	var b strings.Builder
	fmt.Fprintf(&b, "The SX evaluator in miniature, generated in %s:\n", d.Dir)
	fmt.Fprintf(&b, "  %d commits, %d merges, %s .. %s; loop branches land on main in waves\n",
		d.Commits, d.Merges, day(0), day(t.g.main))
	fmt.Fprintf(&b, "  build:  %s\n", d.Build)
	fmt.Fprintf(&b, "  suites: %s, %s, %s\n", RunCommand, oomRun, hangRun)
	fmt.Fprintf(&b, "          (each prints a scoreboard such as \"tcl: N/M passed\", and exits 1 when a test fails)\n")
	fmt.Fprintf(&b, "Four regressions are planted, each at a known commit:\n")
	fmt.Fprintf(&b, "  exit  %s   the tcl suite fails\n", short(d.FirstBad))
	fmt.Fprintf(&b, "  cpu   %s   the tcl suite passes, at 2.5 times the CPU time\n", short(t.hash(cpuFirstBad)))
	fmt.Fprintf(&b, "  oom   %s   the prolog suite passes, at 20 times the memory\n", short(t.hash(oomFirstBad)))
	fmt.Fprintf(&b, "  hang  %s   the erlang suite hangs, is killed by its own deadline, and exits 0\n", short(t.hash(hangFirstBad)))
	return b.String()
}

func (t teller) exit() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Case exit: a test fails, and the suite's exit status says so.\n")
	fmt.Fprintf(&b, "Planted regression (%s):\n", t.where(firstBad))
	fmt.Fprintf(&b, "  %s\n", t.line(t.g.roles[firstBad]))
	fmt.Fprintf(&b, "  Its cache key ignores literals, so (fn (x) (* x 3)) runs the compiled body of\n")
	fmt.Fprintf(&b, "  (fn (x) (* x 2)) and tcl's \"lmap triple\" gets (2 4 6) instead of (3 6 9).\n")
	fmt.Fprintf(&b, "Planted build break (the next commit fixes it; a step there is skipped, not blamed):\n")
	fmt.Fprintf(&b, "  %s\n", t.line(t.g.roles[breaksBuild]))
	t.ends(&b, t.g.roles[good], t.g.main, firstBad)
	return b.String()
}

func (t teller) cpu() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Case cpu: the tcl suite still passes, but does 2.5 times the work, on a busy machine.\n")
	fmt.Fprintf(&b, "Planted regression (%s):\n", t.where(cpuFirstBad))
	fmt.Fprintf(&b, "  %s\n", t.line(t.g.roles[cpuFirstBad]))
	fmt.Fprintf(&b, "  It bypasses the variable cache: every reference to a primitive walks the\n")
	fmt.Fprintf(&b, "  whole global frame again. --max-ratio %s makes a commit bad when the\n", cpuRatio)
	fmt.Fprintf(&b, "  user+sys CPU time of the test's whole process tree is more than 1.5 times\n")
	fmt.Fprintf(&b, "  the good commit's, over several runs of each. While it runs, busy loops\n")
	fmt.Fprintf(&b, "  switch on and off beside it: they stretch the test's wall time, as other\n")
	fmt.Fprintf(&b, "  jobs on a shared machine do, but not the CPU time the test itself uses.\n")
	t.ends(&b, t.g.roles[cpuGood], t.g.roles[cpuBad], cpuFirstBad)
	return b.String()
}

func (t teller) oom() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Case oom: the prolog suite passes with memory to spare, and is killed under a limit.\n")
	fmt.Fprintf(&b, "Planted regression (%s):\n", t.where(oomFirstBad))
	fmt.Fprintf(&b, "  %s\n", t.line(t.g.roles[oomFirstBad]))
	fmt.Fprintf(&b, "  equal? keeps the pairs it still has to compare on a stack of cells, and the host\n")
	fmt.Fprintf(&b, "  never frees a cell: prolog's deep-term tests grow the server from about 15 MB\n")
	fmt.Fprintf(&b, "  to about 300 MB. --memory-limit %s confines the test's whole process tree\n", memoryLimit)
	fmt.Fprintf(&b, "  to %sB; an OOM kill inside the limit makes the commit bad.\n", strings.TrimSuffix(memoryLimit, "M")+" M")
	t.ends(&b, t.g.roles[oomGood], t.g.main, oomFirstBad)
	return b.String()
}

func (t teller) hang() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Case hang: the erlang suite hangs, its own deadline kills it, and it exits 0.\n")
	fmt.Fprintf(&b, "Planted regression (%s):\n", t.where(hangFirstBad))
	fmt.Fprintf(&b, "  %s\n", t.line(t.g.roles[hangFirstBad]))
	fmt.Fprintf(&b, "  A set! of a binding already in front makes its frame a cycle, and the next\n")
	fmt.Fprintf(&b, "  lookup spins. lib/erlang/conformance.sh runs its chain under 'timeout 3'; the\n")
	fmt.Fprintf(&b, "  server dies with its (ok-len ...) markers still buffered, the script counts\n")
	fmt.Fprintf(&b, "  \"erlang: 0/0 passed\" and exits 0: the exit status calls the commit good.\n")
	fmt.Fprintf(&b, "  --expect '%s' makes it bad unless a marker line comes before the test ends.\n", hangExpect)
	t.ends(&b, t.g.roles[hangGood], t.g.roles[hangBad], hangFirstBad)
	return b.String()
}
