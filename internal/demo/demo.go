// Package demo builds the miniature SX world that `sxbisect demo` bisects:
// a real git repository of a few hundred commits, with merge waves, a C host
// that is rebuilt at every step, guest suites, one build break and one
// planted regression at a known commit. Its files come from
// sxbisect.DemoFiles; this package turns them into a history.
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

// Demo is a generated repository and what a bisection of it must find.
type Demo struct {
	// Dir is the repository's work tree; main is checked out at Bad.
	Dir string
	// Good is an early commit where the tcl suite passes; Bad is the tip,
	// where it fails; FirstBad is the planted regression between them.
	Good, Bad, FirstBad string
	// BrokenBuild is the commit whose server does not compile; its child
	// fixes it. A bisection that lands there must skip it.
	BrokenBuild string
	// Build and Run are the commands to give the bisection.
	Build, Run string
	// Commits and Merges count the whole history.
	Commits, Merges int
	// Description tells a user what the demo is, what regressed and what
	// the bisection will find.
	Description string
}

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
	d.Description = g.describe(d, hashes)
	return d, nil
}

// describe is the text `sxbisect demo` shows before it starts.
func (g *generator) describe(d *Demo, hashes []string) string {
	short := func(h string) string { return h[:10] }
	line := func(i int) string {
		s, _, _ := strings.Cut(g.commits[i].Message, "\n")
		return short(hashes[i]) + " " + s
	}
	day := func(i int) string { return time.Unix(g.commits[i].Time, 0).UTC().Format("2006-01-02") }
	var b strings.Builder
	fmt.Fprintf(&b, "The SX evaluator in miniature, generated in %s:\n", d.Dir)
	fmt.Fprintf(&b, "  %d commits, %d merges, %s .. %s; loop branches land on main in waves\n",
		d.Commits, d.Merges, day(0), day(g.main))
	fmt.Fprintf(&b, "  build: %s\n", d.Build)
	fmt.Fprintf(&b, "  test:  %s   (prints \"tcl: N/M passed\", exits 1 on a failure)\n", d.Run)
	fmt.Fprintf(&b, "  good:  %s\n", line(g.roles[good]))
	fmt.Fprintf(&b, "  bad:   %s\n\n", line(g.main))
	fmt.Fprintf(&b, "Planted regression (on topic branch %s, merged by %s):\n", g.firstBadBranch, short(hashes[g.firstBadLanding]))
	fmt.Fprintf(&b, "  %s\n", line(g.roles[firstBad]))
	fmt.Fprintf(&b, "  Its cache key ignores literals, so (fn (x) (* x 3)) runs the compiled body of\n")
	fmt.Fprintf(&b, "  (fn (x) (* x 2)) and tcl's \"lmap triple\" gets (2 4 6) instead of (3 6 9).\n")
	fmt.Fprintf(&b, "Planted build break (the next commit fixes it; a step there is skipped, not blamed):\n")
	fmt.Fprintf(&b, "  %s\n\n", line(g.roles[breaksBuild]))
	fmt.Fprintf(&b, "The bisection should name %s as the first bad commit.\n", short(d.FirstBad))
	return b.String()
}
