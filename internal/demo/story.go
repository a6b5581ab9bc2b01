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

// role is what a commit is to the demo's bisections: a set of flags, as
// one commit can be the good end of several cases.
type role uint

const (
	good         role = 1 << iota // the known-good end of the exit case
	firstBad                      // the exit case's planted regression
	breaksBuild                   // leaves the server without a semicolon...
	fixesBuild                    // ...until the next commit puts it back
	cpuGood                       // the cpu case's good end
	cpuFirstBad                   // the planted CPU slowdown
	cpuBad                        // the cpu case's bad end
	oomGood                       // the oom case's good end (its bad end is the tip)
	oomFirstBad                   // the planted memory blow-up
	hangGood                      // the hang case's good end
	hangFirstBad                  // the planted hang
	hangBad                       // the hang case's bad end
	lastRole     = hangBad
	allRoles     = lastRole<<1 - 1
)

// planted are the roles of planted regressions: the merge that lands one
// on the main line is worth naming.
const planted = firstBad | cpuFirstBad | oomFirstBad | hangFirstBad

// each lists the flags of r, lowest first.
func (r role) each() []role {
	var rs []role
	for f := role(1); f <= lastRole; f <<= 1 {
		if r&f != 0 {
			rs = append(rs, f)
		}
	}
	return rs
}

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

// as gives the last of steps a role, or several.
func as(r role, steps []step) []step {
	steps[len(steps)-1].role |= r
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
// builds (but one), and each guest suite keeps its verdict until a planted
// regression of its own: each piece of a guest only arrives on a branch
// that already has the server features and runtime it needs, which
// TestEveryCommit checks. Four regressions are planted, one per case of
// the demo:
//
//   - exit: the tcl guest's lmap tests land early (wave 3); much later the
//     topic branch jit/shared-code brings a shape cache that hands
//     (fn (x) (* x 3)) the compiled body of (fn (x) (* x 2)), and the tcl
//     suite fails (wave 8).
//   - cpu: the variable cache (wave 3) is bypassed by a fix for body
//     defines (wave 6); the tcl suite passes at about 2.5 times the CPU.
//   - oom: equal? trades C recursion for a stack of cells that are never
//     freed (wave 6); prolog's deep-term tests grow the server from about
//     15 MB to about 300 MB, and still pass.
//   - hang: set! moves a binding to the front of its frame and, when it is
//     there already, makes the frame a cycle (wave 6); erlang's chain spins
//     until its deadline, its buffered markers are lost, and the script
//     still exits 0.
//
// The cpu, oom and hang cases start from wave 5; cpu and hang end at wave
// 7, before the exit regression (which also breaks an erlang test), and oom
// ends at the tip. Each range holds other regressions too, but none that
// changes what its own suite shows. The figures rest on more than the
// planted commits: the variable cache lands in wave 3, before every loop
// branch merges the main line again in wave 4, so that no commit of the
// cpu range lacks it, and the suites' heavy tests are in every commit that
// has a planted regression.
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
			feature("epochs", "server: --epochs: run a chain of suites in one server",
				"After each file that ran tests the server prints (ok-len FILE PASSED RUN),\nso that a conformance script can count a whole chain of suites run by one\nserver, as erlang's processes share one node."),
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
			// Early enough that every loop branch has merged it before the cpu
			// case's range begins: a commit there without it would be slow too.
			feature("var-cache", "perf: variable ops remember the global binding they found",
				"Every reference to a primitive walked the whole global frame, past every\ndefinition of the core library and the guest runtime. A global binding\nnever moves once made (define updates it in place), and an op sits at one\nplace in the program, so the op keeps the binding it found."),
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
			{"loops/tcl", "Phase 3 expr", seq(p.grow(tclRT, 1), p.grow(t("expr"), 12), p.grow(t("list"), 5))},
			{"loops/prolog", "Phase 2 resolution", seq(p.grow(pl("resolve"), 3), p.grow(plRT, 1), p.grow(pl("query"), 4), p.grow(plPlan, 1))},
			{"loops/erlang", "Phase 3 mailboxes", seq(p.grow(erlRT, 1), p.grow(erl("mailbox"), 7), p.grow(erlPlan, 2))},
		}},
		{main: seq( // 5: the good end of the cpu, oom and hang cases
			p.grow(core, 1),
			p.grow(readme, 1),
			as(cpuGood|oomGood|hangGood, p.grow(jitPlan, 1)),
		), topics: []topic{
			{"loops/tcl", "Phase 3 strings", seq(p.grow(tclRT, 1), p.grow(t("string"), 5), p.grow(tclRT, 1), p.grow(t("string"), 8), p.grow(tclPlan, 1))},
			{"loops/erlang", "Phase 4 process dictionary and catch", seq(p.grow(erlRT, 1), p.grow(erl("process"), 2), p.grow(erlRT, 1), p.grow(erl("process"), 3), p.grow(erlPlan, 1))},
			{"loops/prolog", "Phase 3 facts and conjunctions", seq(p.grow(plRT, 1), p.grow(pl("query"), 2))},
		}},
		{topics: []topic{ // 6: the cpu, oom and hang regressions land
			{"fix/body-defines", "a define in a body shadows the global", as(cpuFirstBad, feature("own-defines",
				"server: a define in a function body shadows the global of its name",
				"A variable op that had once found a global kept it, even after a define\nin the same body had made a local binding of that name. Look variables up\nthrough the frames again, every time."))},
			{"perf/deep-terms", "equal? for deep terms", as(oomFirstBad, feature("deep-equal",
				"server: equal? without C recursion, for deep prolog terms",
				"Prolog terms nest a thousand deep and more; equal? recursed once per\nlevel. It now keeps the pairs still to compare on a stack of its own."))},
			{"perf/process-dictionary", "set! keeps its binding in front", as(hangFirstBad, feature("set-front",
				"perf: set! moves the binding to the front of its frame",
				"Erlang's process dictionary is set! on every put and read on every get;\nwith its binding first in the global frame both find it at once."))},
			{"loops/tcl", "Phase 4 dicts", seq(p.grow(tclRT, 1), p.grow(t("dict"), 5), p.grow(tclPlan, 1), p.grow(t("expr"), 2))},
			{"loops/erlang", "Phase 5 server loops", seq(p.grow(erlRT, 1), p.grow(erl("process"), 2), p.grow(erlPlan, 1))},
			{"loops/prolog", "Phase 4 lists", seq(p.grow(plRT, 1), p.grow(pl("query"), 2), p.grow(pl("query"), 3), p.grow(plPlan, 1))},
		}},
		{main: seq( // 7: the bad end of the cpu and hang cases
			as(cpuBad|hangBad, p.grow(readme, 1)),
		), topics: []topic{
			{"loops/tcl", "Phase 5 channel I/O", seq(p.grow(tclRT, 1), p.grow(t("chan"), 4), p.grow(tclPlan, 1))},
			{"loops/erlang", "more lists and matching", seq(p.rest(erl("lists")), p.grow(erl("match"), 2))},
		}},
		{topics: []topic{ // 8: the regression lands with jit/shared-code
			{"jit/shared-code", "share compiled bodies between lambdas of one shape", seq(
				// The exit bisection tests this commit, so its broken build
				// shows a skip; the history is such that only here did the
				// bisection meet the break (TestGitBisectRunFindsFirstBad).
				breakBuild("\tjit_compiled++;", "jit: fix the build: missing semicolon in jit()",
					feature("jit-stats", "jit: count compiled lambda bodies (SX_JIT_STATS=1)",
						"To see how much compiling a guest suite does: the whole tcl suite\ncompiles under a hundred lambda bodies.")),
				p.grow(jitPlan, 1),
				as(firstBad, feature("jit-shape", "jit: share compiled bodies between lambdas of the same shape",
					"Guests generate many small lambdas that differ only in their names or\nconstants. Key the compiled-body cache on a hash of the lambda's shape\n(parameters and body) so that they share one compiled body instead of\ncompiling each. The tcl suite already compiles a few bodies fewer.")),
				feature("shape-big", "jit: 1024 shape slots", "256 slots fill up once every guest loads its runtime."),
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
