package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
)

// WriteJSON writes the report as one indented JSON object; Report's
// fields and their doc comments are the schema.
func (r *Report) WriteJSON(w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// Write writes the report in format "md", "json" or "html".
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "md", "markdown":
		_, err := io.WriteString(w, r.Markdown())
		return err
	case "json":
		return r.WriteJSON(w)
	case "html":
		return r.WriteHTML(w)
	}
	return fmt.Errorf("unknown report format %q: use md, json or html", format)
}

// Markdown renders the report for people, as the progress log of the
// investigation.
func (r *Report) Markdown() string {
	var b strings.Builder
	o := r.Overview
	fmt.Fprintf(&b, "# sxbisect report\n\n")
	for _, line := range r.overviewLines() {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n")
	for _, s := range r.Sessions {
		s.markdown(&b)
	}
	if len(o.Unfinished) > 0 {
		b.WriteString("## Unfinished\n\n")
		for _, s := range r.Sessions {
			if s.Resume != "" {
				fmt.Fprintf(&b, "- %s (%s): %s\n\n  ```sh\n  %s\n  ```\n", s.Name, s.State, text.OneLine(s.Message), s.Resume)
			}
		}
		b.WriteString("\n")
	}
	// Subjects, authors and reasons come from the repository and the
	// tests: a report read with cat must not replay their escape codes.
	return text.Escape(b.String())
}

// overviewLines say what ran, how long it took and how busy the machine was.
func (r *Report) overviewLines() []string {
	o := r.Overview
	var names []string
	for _, s := range r.Sessions {
		names = append(names, fmt.Sprintf("%s (%s)", s.Name, s.Verdict))
	}
	lines := []string{
		fmt.Sprintf("generated %s", r.Generated.Format(time.RFC3339)),
		fmt.Sprintf("ran %d session(s): %s", o.Sessions, strings.Join(names, "; ")),
		fmt.Sprintf("%d steps, %s of building and testing, from %s to %s (%s)", o.Steps, dur(o.TestS),
			o.Started.Format(time.RFC3339), o.Ended.Format(time.RFC3339), o.Ended.Sub(o.Started).Round(time.Second)),
	}
	if o.Load != nil {
		lines = append(lines, "machine load: "+o.Load.String())
	} else {
		lines = append(lines, "machine load: not recorded (no step was measured)")
	}
	if len(o.Unfinished) > 0 {
		lines = append(lines, fmt.Sprintf("unfinished: %s (see the end for how to resume)", strings.Join(o.Unfinished, ", ")))
	}
	return lines
}

// String says how busy the machine was, in a line.
func (l *MachineLoad) String() string {
	s := fmt.Sprintf("1-minute load %.2f before the runs (median; %.2f to %.2f), %.2f after (%.2f to %.2f), over %d measured runs",
		l.Before.Median, l.Before.Min, l.Before.Max, l.After.Median, l.After.Min, l.After.Max, l.Runs)
	if l.NotQuiet > 0 {
		s += fmt.Sprintf("; %d runs on a machine busier than --max-load %g", l.NotQuiet, l.MaxLoad)
	}
	return s
}

// ranLines say what the session ran.
func (s *SessionReport) ranLines() []string {
	var goods []string
	for _, g := range s.Good {
		goods = append(goods, fmt.Sprintf("`%s` %s", text.ShortID(g.Commit), g.Subject))
	}
	lines := []string{
		fmt.Sprintf("range: good %s; bad `%s` %s", strings.Join(goods, ", "), text.ShortID(s.Bad.Commit), s.Bad.Subject),
	}
	sp := s.Spec
	if sp.Build != "" {
		lines = append(lines, fmt.Sprintf("build: `%s`", sp.Build))
	}
	if sp.Run != "" {
		lines = append(lines, fmt.Sprintf("test: `%s`", sp.Run))
	}
	var conds []string
	for _, m := range sp.MaxRatio {
		conds = append(conds, "max-ratio "+m)
	}
	if sp.MemoryLimit != "" {
		conds = append(conds, "memory-limit "+sp.MemoryLimit)
	}
	if sp.Expect != "" {
		conds = append(conds, "expect "+sp.Expect)
	}
	if sp.Scoreboard != "" || sp.ScoreboardFile != "" {
		conds = append(conds, "scoreboard")
	}
	if sp.Timeout != 0 {
		conds = append(conds, "timeout "+sp.Timeout.String())
	}
	for _, p := range sp.Predicates {
		conds = append(conds, "predicate "+p.Name)
	}
	if len(conds) > 0 {
		lines = append(lines, "conditions: "+strings.Join(conds, ", "))
	}
	if len(sp.Paths) > 0 {
		lines = append(lines, "paths: "+strings.Join(sp.Paths, " "))
	}
	lines = append(lines, fmt.Sprintf("started %s, last record %s (%s); %d steps, %s of building and testing",
		s.Started.Format(time.RFC3339), s.Ended.Format(time.RFC3339), s.Ended.Sub(s.Started).Round(time.Second), len(s.Steps), dur(s.TestS)))
	if s.Remote() {
		lines = append(lines, s.workerLine())
	}
	if s.Load != nil {
		lines = append(lines, "machine load: "+s.Load.String())
	} else {
		lines = append(lines, "machine load: "+s.LoadNote)
	}
	if f := s.InFlight; f != nil {
		lines = append(lines, fmt.Sprintf("in flight: `%s` %s (%s, since %s)", text.ShortID(f.Commit), f.Subject, f.Kind, f.Time.Format(time.RFC3339)))
	}
	return lines
}

func (s *SessionReport) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Session %s: %s\n\n", s.Name, s.State)
	fmt.Fprintf(b, "**Verdict:** %s.\n\n", s.Verdict)
	if s.Message != "" {
		fmt.Fprintf(b, "> %s\n\n", strings.ReplaceAll(strings.TrimSpace(s.Message), "\n", "\n> "))
	}
	b.WriteString("### What ran\n\n")
	for _, l := range s.ranLines() {
		fmt.Fprintf(b, "- %s\n", l)
	}
	b.WriteString("\n")
	if c := s.FirstBad; c != nil {
		b.WriteString("### First bad commit\n\n")
		fmt.Fprintf(b, "- commit: `%s`\n- subject: %s\n- author: %s\n- date: %s\n", c.Commit, c.Subject, c.Author, text.GitDate(c.Date))
		for _, p := range c.Parents {
			fmt.Fprintf(b, "- parent: `%s`\n", text.ShortID(p))
		}
		fmt.Fprintf(b, "- files changed (%d):", len(c.Files))
		for _, f := range c.Files {
			fmt.Fprintf(b, " `%s`", f)
		}
		b.WriteString("\n\n")
	}
	if bl := s.Beliefs; bl != nil {
		b.WriteString("### How sure\n\n")
		for _, l := range beliefLines(bl) {
			fmt.Fprintf(b, "- %s\n", l)
		}
		b.WriteString("\n| commit | first bad | bad | |\n|---|---|---|---|\n")
		for _, p := range bl.Range {
			if p.FirstBad < 0.01 {
				continue
			}
			fmt.Fprintf(b, "| `%s` | %.1f%% | %.1f%% | %s |\n", text.ShortID(p.Commit), 100*p.FirstBad, 100*p.Bad, strings.Repeat("█", int(math.Round(20*p.FirstBad))))
		}
		b.WriteString("\n")
	}
	if len(s.Candidates) > 0 {
		b.WriteString("### " + candidatesHeading(s.Outcome) + "\n\n")
		for _, c := range s.Candidates {
			fmt.Fprintf(b, "- `%s`\n", c)
		}
		b.WriteString("\n")
	}
	if ev := s.Evidence; ev != nil {
		b.WriteString("### Evidence\n\n")
		rows := ev.rows()
		for i, row := range rows {
			fmt.Fprintf(b, "| %s |\n", strings.Join(mdCells(row), " | "))
			if i == 0 {
				fmt.Fprintf(b, "|%s\n", strings.Repeat("---|", len(row)))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "### Steps (%d)\n\n", len(s.Steps))
	remote := s.Remote()
	if remote {
		b.WriteString("| # | kind | commit | subject | verdict | reason | metrics | seconds | worker |\n|---|---|---|---|---|---|---|---|---|\n")
	} else {
		b.WriteString("| # | kind | commit | subject | verdict | reason | metrics | seconds |\n|---|---|---|---|---|---|---|---|\n")
	}
	for _, st := range s.Steps {
		fmt.Fprintf(b, "| %d | %s | `%s` | %s | %s | %s | %s | %.1f |", st.N, st.Kind, text.ShortID(st.Commit),
			mdCell(st.Subject), st.Term, mdCell(st.Reason), mdCell(st.MetricsText()), st.DurationS)
		if remote {
			fmt.Fprintf(b, " %s |", mdCell(st.Worker))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n### Reproduce\n\n```sh\n" + s.Command + "\n```\n\n")
	if s.Resume != "" {
		b.WriteString("Unfinished; to go on:\n\n```sh\n" + s.Resume + "\n```\n\n")
	}
}

// candidatesHeading says what a session's candidates are.
func candidatesHeading(o bisect.Outcome) string {
	if o == bisect.Inconclusive {
		return "Candidates (the likeliest first bad commits; the search was inconclusive)"
	}
	return "Candidates (only skipped commits are left)"
}

// beliefLines say how sure the flake-aware search was, for people.
func beliefLines(bl *bisect.Beliefs) []string {
	return []string{
		fmt.Sprintf("confidence of the answer: %.1f%%; no regression: %.1f%%", 100*bl.Confidence, 100*bl.NoRegression),
		fmt.Sprintf("estimated flake rates: bad commits pass %.1f%%, good commits fail %.1f%%", 100*bl.FlakeRate.BadPasses, 100*bl.FlakeRate.GoodFails),
		fmt.Sprintf("%d runs weighed (budget %d); flake-aware because of %s", bl.Runs, bl.MaxRuns, bl.Why),
	}
}

// rows lays the evidence out as a table, the header first.
func (ev *Evidence) rows() [][]string {
	head := []string{""}
	for _, c := range ev.Columns {
		head = append(head, fmt.Sprintf("%s `%s`", c.Label, text.ShortID(c.Commit)))
	}
	rows := [][]string{head}
	row := func(name string, cell func(c EvidenceColumn) string) {
		r := []string{name}
		for _, c := range ev.Columns {
			r = append(r, cell(c))
		}
		rows = append(rows, r)
	}
	row("subject", func(c EvidenceColumn) string { return c.Subject })
	row("verdict", func(c EvidenceColumn) string {
		if c.Reason != "" {
			return c.Verdict + ": " + c.Reason
		}
		return c.Verdict
	})
	for _, k := range ev.Metrics {
		k := k
		fig := func(c EvidenceColumn, f func(Figure) string) string {
			if x, ok := c.Figures[k]; ok {
				return f(x)
			}
			return "-"
		}
		row(k+" median", func(c EvidenceColumn) string {
			return fig(c, func(f Figure) string { return fmt.Sprintf("%.3g", f.Median) })
		})
		hasRatio := false
		for _, c := range ev.Columns {
			hasRatio = hasRatio || c.Figures[k].Ratio != 0
		}
		if hasRatio {
			row(k+" ratio to baseline", func(c EvidenceColumn) string {
				return fig(c, func(f Figure) string {
					if f.Ratio == 0 {
						return "-"
					}
					s := fmt.Sprintf("%.2fx", f.Ratio)
					if f.Judged != 0 {
						s += fmt.Sprintf(" (judged %.2fx", f.Judged)
						if f.High != 0 {
							s += fmt.Sprintf(", %.2f-%.2f", f.Low, f.High)
						}
						s += ")"
					}
					return s
				})
			})
		}
		row(k+" samples", func(c EvidenceColumn) string {
			return fig(c, func(f Figure) string {
				var xs []string
				for _, x := range f.Samples {
					xs = append(xs, fmt.Sprintf("%.3g", x))
				}
				return strings.Join(xs, " ")
			})
		})
	}
	return rows
}

// MetricsText shows a step's main figures in a few words, and the cores
// its test runs had to themselves.
func (st Step) MetricsText() string {
	var parts []string
	m := st.Metrics
	for _, k := range []string{"cpu_ratio", "wall_ratio", "mem_ratio", "cpu_s", "wall_s", "mem_mb", "pass", "total", "load_before", "load_after"} {
		x, ok := m[k]
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(k, "_ratio"):
			parts = append(parts, fmt.Sprintf("%s ratio %.2fx", strings.TrimSuffix(k, "_ratio"), x))
		case k == "mem_mb":
			parts = append(parts, fmt.Sprintf("mem %.0fMB", x))
		case k == "load_before" || k == "load_after":
			parts = append(parts, fmt.Sprintf("%s %.2f", strings.ReplaceAll(k, "_", " "), x))
		case strings.HasSuffix(k, "_s"):
			parts = append(parts, fmt.Sprintf("%s %.2fs", strings.TrimSuffix(k, "_s"), x))
		default:
			parts = append(parts, fmt.Sprintf("%s %g", k, x))
		}
	}
	if n, ok := m["samples"]; ok {
		parts = append(parts, fmt.Sprintf("%g runs", n))
	}
	if len(parts) == 0 && len(m) > 0 {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %g", k, m[k]))
		}
	}
	if st.CPUs != "" {
		cores := "cores"
		if !strings.ContainsAny(st.CPUs, ",-") {
			cores = "core"
		}
		parts = append(parts, "on "+cores+" "+st.CPUs)
	}
	return strings.Join(parts, ", ")
}

func mdCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = mdCell(c)
	}
	return out
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func dur(secs float64) time.Duration {
	return time.Duration(secs * float64(time.Second)).Round(time.Second / 10)
}
