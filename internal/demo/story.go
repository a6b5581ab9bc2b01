package demo

import "fmt"

// wave is one wave of the story, the history of the miniature. In a wave
// the main line ("architecture") and a few branches each get their steps;
// the commits of the lanes interleave in time, and each branch lands on the
// main line with a merge as soon as its steps are done. A long-lived loop
// branch (loops/<guest>) first merges the main line in, when it has moved.
type wave struct {
	main   []step
	topics []topic
}

// topic is a branch's steps in one wave.
type topic struct {
	branch string // "loops/tcl" lives across waves; any other name is a fresh topic branch
	about  string // what the landing merge brings, for its subject
	steps  []step
}

// step is one commit's worth of change.
type step struct {
	subject, body string
	ops           []op
	role          role
	// breaks is the line of the server that loses its semicolon in this
	// commit (role breaksBuild).
	breaks string
}

type role int

const (
	ordinary    role = iota
	good             // the known-good end of the demo bisection
	firstBad         // the planted regression
	breaksBuild      // leaves the server without a semicolon...
	fixesBuild       // ...until the next commit puts it back
)

// op changes the state of a branch: it switches a feature of the server on,
// or adds chunks [from, to) of a file.
type op struct {
	feature  string
	path     string
	from, to int
}

// planner hands out the chunks of the embedded files in story order, so the
// story can say "the next three tests" without counting.
type planner struct {
	src  *source
	next map[string]int
	err  error
}

func newPlanner(src *source) *planner { return &planner{src: src, next: map[string]int{}} }

// take is an op adding the next n pieces of a file; the first time a
// growing file is taken its header comes along.
func (p *planner) take(path string, n int) op {
	f, ok := p.src.files[path]
	if !ok {
		p.fail("story names %s, which is not embedded", path)
		return op{path: path}
	}
	from := p.next[path]
	to := from + n
	if from == 0 && f.grows() {
		to++
	}
	if to > len(f.chunks) {
		p.fail("story takes %s up to chunk %d of %d", path, to, len(f.chunks))
		to = len(f.chunks)
	}
	p.next[path] = to
	return op{path: path, from: from, to: to}
}

func (p *planner) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// grow is n commits, each adding the next piece of path, with subjects taken
// from the pieces.
func (p *planner) grow(path string, n int) []step {
	var steps []step
	for i := 0; i < n; i++ {
		o := p.take(path, 1)
		if o.to > o.from && p.err == nil {
			steps = append(steps, step{subject: p.src.files[path].subject(o.to - 1), ops: []op{o}})
		}
	}
	return steps
}

// rest grows path to its end.
func (p *planner) rest(path string) []step {
	f := p.src.files[path]
	if f == nil {
		p.fail("story names %s, which is not embedded", path)
		return nil
	}
	n := len(f.chunks) - p.next[path]
	if p.next[path] == 0 && f.grows() {
		n--
	}
	return p.grow(path, n)
}

// commit is one commit with the given subject and ops.
func commit(subject string, ops ...op) []step { return []step{{subject: subject, ops: ops}} }

// feature switches a feature of the server on.
func feature(name, subject, body string) []step {
	return []step{{subject: subject, body: body, ops: []op{{feature: name}}}}
}

// as gives the last of steps a role.
func as(r role, steps []step) []step {
	steps[len(steps)-1].role = r
	return steps
}

// breakBuild makes the last of steps drop the semicolon ending line of the
// server, and adds the commit that puts it back.
func breakBuild(line, fix string, steps []step) []step {
	last := &steps[len(steps)-1]
	last.role, last.breaks = breaksBuild, line
	return append(steps, step{subject: fix, role: fixesBuild})
}

func seq(parts ...[]step) []step {
	var all []step
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// Paths the story uses often.
const (
	server   = "hosts/c/sx_server.c"
	core     = "spec/core.sx"
	readme   = "README.md"
	jitPlan  = "plans/jit.md"
	tclRT    = "lib/tcl/runtime.sx"
	tclPlan  = "plans/tcl-on-sx.md"
	plRT     = "lib/prolog/runtime.sx"
	plPlan   = "plans/prolog-on-sx.md"
	erlRT    = "lib/erlang/runtime.sx"
	erlPlan  = "plans/erlang-on-sx.md"
	tclTests = "lib/tcl/tests/"
	plTests  = "lib/prolog/tests/"
	erlTests = "lib/erlang/tests/"
)

// story is the history of SX in miniature. Every commit after the good one
// builds (but one) and passes every guest suite until the regression: each
// piece of a guest only arrives on a branch that already has the server
// features and runtime it needs, which TestEveryCommit checks. The tcl
// guest's lmap tests land early (wave 3); the regression lands much later
// inside the topic branch jit/shared-code, whose shape cache hands
// (fn (x) (* x 3)) the compiled body of (fn (x) (* x 2)).
func story(p *planner) []wave {
	t := func(name string) string { return tclTests + name + ".sx" }
	pl := func(name string) string { return plTests + name + ".sx" }
	erl := func(name string) string { return erlTests + name + ".sx" }
	return []wave{
		{main: seq( // 0: the host, the core library and three guest scaffolds
			commit("Initial commit: SX, an evaluator that hosts other languages",
				p.take(readme, 0), p.take(".gitignore", 1), p.take("Makefile", 1)),
			commit("server: C host: reader, printer, compiler to ops, executor", p.take(server, 1)),
			p.grow(readme, 1),
			feature("begin", "server: begin", ""),
			p.grow(core, 2),
			feature("let", "server: let, compiled as an applied fn", ""),
			feature("cond", "server: cond", ""),
			p.grow(core, 3),
			feature("andor", "server: short-circuit and/or", ""),
			feature("arith", "server: division, mod and the other comparisons", ""),
			p.grow(core, 6),
			p.grow(readme, 1),
			commit("tcl: scaffold the guest: runtime, first tests, test.sh",
				p.take("lib/tcl/test.sh", 1), p.take(tclRT, 1), p.take(t("list"), 1)),
			commit("plans: Tcl on SX", p.take(tclPlan, 0)),
			commit("prolog: scaffold the guest: unification, conformance.sh",
				p.take("lib/prolog/conformance.sh", 1), p.take(plRT, 2), p.take(pl("unify"), 1)),
			commit("erlang: scaffold the guest: lists module, conformance.sh",
				p.take("lib/erlang/conformance.sh", 1), p.take(erlRT, 1), p.take(erl("lists"), 1)),
			as(good, p.grow(readme, 1)),
		)},
		{main: seq( // 1
			feature("strings", "server: string primitives: length, append, substring, conversions",
				"Guests need strings beyond literals: tcl's string commands first."),
			p.grow(core, 1),
			p.grow(readme, 1),
		), topics: []topic{
			{"loops/tcl", "Phase 1 lists", seq(p.grow(t("list"), 6), p.grow(tclRT, 1), p.grow(t("list"), 5), p.grow(tclPlan, 1))},
			{"loops/prolog", "Phase 1 unification", seq(p.grow(pl("unify"), 3), p.grow(plRT, 1), p.grow(pl("unify"), 5), commit("plans: Prolog on SX", p.take(plPlan, 1)))},
			{"loops/erlang", "Phase 1 lists", seq(p.grow(erl("lists"), 5), p.grow(erlRT, 1), p.grow(erl("lists"), 3), commit("plans: Erlang on SX", p.take(erlPlan, 1)))},
		}},
		{main: seq( // 2
			feature("set", "server: set!", ""),
			p.grow(readme, 1),
		), topics: []topic{
			{"perf/tail-calls", "proper tail calls", seq(
				feature("tco", "server: proper tail calls: exec loops instead of recursing",
					"if, begin, and/or and calls in tail position reuse the exec loop, so a\nguest's server loop runs in constant C stack."),
				commit("plans: JIT and substrate performance", p.take(jitPlan, 1)))},
			{"loops/tcl", "Phase 2 lsearch, lsort", seq(p.grow(tclRT, 1), p.grow(t("list"), 4))},
			{"loops/prolog", "Phase 1 complete", seq(p.grow(pl("unify"), 5), p.grow(plRT, 1), p.grow(pl("resolve"), 3))},
		}},
		{main: seq( // 3
			feature("arena", "perf: allocate cells from arenas", "One calloc per cell made the guest suites spend a third of their time\nin the allocator."),
			p.grow(jitPlan, 1),
		), topics: []topic{
			{"io/catch", "catch and error", seq(
				feature("catch", "server: catch and error", "(catch body ...) gives (ok value) or (error \"message\"), for tcl's catch\nand erlang's catch/throw."),
			)},
			{"loops/tcl", "Phase 2 variables and lmap", seq(p.grow(tclRT, 1), p.rest(t("var")), p.grow(tclRT, 1), p.rest(t("lmap")), p.grow(tclPlan, 1))},
			{"loops/erlang", "Phase 2 matching", seq(p.grow(erlRT, 1), p.grow(erl("match"), 10), p.grow(erl("lists"), 4))},
		}},
		{main: seq( // 4
			feature("version", "server: --version", ""),
		), topics: []topic{
			{"jit/lazy", "lazy JIT", seq(
				feature("jit-lazy", "jit: compile lambda bodies on their first call",
					"A lambda that is never called costs nothing to compile; the compiled\nbody is kept in the lambda, so each lambda compiles once."),
				p.grow(jitPlan, 1))},
			{"loops/tcl", "Phase 3 expr", seq(p.grow(tclRT, 1), p.grow(t("expr"), 12), p.grow(t("list"), 4))},
			{"loops/prolog", "Phase 2 resolution", seq(p.grow(pl("resolve"), 3), p.grow(plRT, 1), p.grow(pl("query"), 4), p.grow(plPlan, 1))},
			{"loops/erlang", "Phase 3 mailboxes", seq(p.grow(erlRT, 1), p.grow(erl("mailbox"), 7), p.grow(erlPlan, 2))},
		}},
		{main: seq( // 5
			p.grow(core, 1),
			p.grow(readme, 1),
		), topics: []topic{
			{"loops/tcl", "Phase 3 strings", seq(p.grow(tclRT, 1), p.grow(t("string"), 5), p.grow(tclRT, 1), p.grow(t("string"), 8), p.grow(tclPlan, 1))},
			{"loops/erlang", "Phase 4 process dictionary and catch", seq(p.grow(erlRT, 1), p.grow(erl("process"), 2), p.grow(erlRT, 1), p.grow(erl("process"), 3), p.grow(erlPlan, 1))},
			{"loops/prolog", "Phase 3 facts and conjunctions", seq(p.grow(plRT, 1), p.grow(pl("query"), 2))},
		}},
		{topics: []topic{ // 6
			{"loops/tcl", "Phase 4 dicts", seq(p.grow(tclRT, 1), p.grow(t("dict"), 5), p.grow(tclPlan, 1), p.grow(t("expr"), 2))},
			{"loops/erlang", "Phase 5 server loops", seq(p.grow(erlRT, 1), p.grow(erl("process"), 2), p.grow(erlPlan, 1))},
			{"loops/prolog", "Phase 4 lists", seq(p.grow(plRT, 1), p.grow(pl("query"), 2), p.grow(pl("query"), 3), p.grow(plPlan, 1))},
		}},
		{topics: []topic{ // 7
			{"loops/tcl", "Phase 5 channel I/O", seq(p.grow(tclRT, 1), p.grow(t("chan"), 4), p.grow(tclPlan, 1))},
			{"loops/erlang", "more lists and matching", seq(p.rest(erl("lists")), p.grow(erl("match"), 2))},
		}},
		{topics: []topic{ // 8: the regression lands with jit/shared-code
			{"jit/shared-code", "share compiled bodies between lambdas of one shape", seq(
				feature("jit-stats", "jit: count compiled lambda bodies (SX_JIT_STATS=1)",
					"To see how much compiling a guest suite does: the whole tcl suite\ncompiles under a hundred lambda bodies."),
				p.grow(jitPlan, 1),
				as(firstBad, feature("jit-shape", "jit: share compiled bodies between lambdas of the same shape",
					"Guests generate many small lambdas that differ only in their names or\nconstants. Key the compiled-body cache on a hash of the lambda's shape\n(parameters and body) so that they share one compiled body instead of\ncompiling each. The tcl suite already compiles a few bodies fewer.")),
				// The demo bisection tests this commit, so its broken build
				// shows a skip; of all the server changes, only here did the
				// bisection meet the break (TestGitBisectRunFindsFirstBad).
				breakBuild("\tshapes[key % SHAPES].code = l->code;", "jit: fix the build: missing semicolon in jit()",
					feature("shape-big", "jit: 1024 shape slots", "256 slots fill up once every guest loads its runtime.")),
				p.grow(jitPlan, 1))},
			{"loops/prolog", "more unification tests", seq(p.rest(pl("unify")), p.rest(pl("resolve")))},
		}},
		{topics: []topic{ // 9
			{"loops/tcl", "Phase 6 catch and error", seq(p.grow(tclRT, 1), p.rest(t("catch")), p.grow(tclPlan, 1))},
			{"loops/erlang", "more mailbox and process tests", seq(p.rest(erl("mailbox")), p.rest(erl("process")), p.rest(erl("match")))},
			{"loops/prolog", "more queries", seq(p.rest(pl("query")), p.rest(plPlan))},
		}},
		{main: seq( // 10
			p.grow(jitPlan, 1),
		), topics: []topic{
			{"loops/tcl", "more string, dict and channel tests", seq(p.rest(t("string")), p.rest(t("dict")), p.rest(t("chan")), p.rest(tclPlan))},
		}},
	}
}
