package compare

import (
	"context"
	"fmt"
	"strings"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
)

// Job is one comparison of a plan: its good and bad revisions are the
// Spec's (the first good one when it has several), and so is everything
// else (run, build, timeouts, memory limit, scoreboard).
type Job struct {
	Name string
	Spec bisect.Spec
	// Err is set when the plan could not make a Spec of the job: the job
	// is reported with this error and not measured.
	Err error
}

// JobResult is one job's comparison, or why there is none. Both fields
// are always written in JSON, one of them null, so that a reader of the
// output need not guess which keys exist.
type JobResult struct {
	Name   string  `json:"name"`
	Result *Result `json:"result"`
	Error  *string `json:"error"`
}

// PlanResult is the comparison of every job of a plan, in its order.
type PlanResult struct {
	Jobs []JobResult `json:"jobs"`
}

// Failed reports whether a job ended with an error.
func (p *PlanResult) Failed() bool {
	for _, j := range p.Jobs {
		if j.Error != nil {
			return true
		}
	}
	return false
}

// ComparePlan compares the jobs one after the other, never at once: two
// comparisons running together would each measure the other's load. A
// job that fails does not stop the others; an interruption (ctx) does,
// and the jobs compared so far are returned with ctx's error.
func ComparePlan(ctx context.Context, jobs []Job, rounds int, progress func(msg string)) (*PlanResult, error) {
	res := &PlanResult{Jobs: make([]JobResult, 0, len(jobs))}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		jr := JobResult{Name: j.Name}
		err := j.Err
		if err == nil {
			opt := Options{Spec: j.Spec, Rounds: rounds}
			if progress != nil {
				name := j.Name
				opt.Progress = func(msg string) { progress(name + ": " + msg) }
			}
			switch {
			case opt.Spec.Bad == "" || len(opt.Spec.Good) == 0:
				err = &bisect.UsageError{Msg: "the job has no good or no bad revision"}
			default:
				jr.Result, err = Compare(ctx, opt, opt.Spec.Good[0], opt.Spec.Bad)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			msg := text.OneLine(err.Error())
			jr.Error = &msg
			if progress != nil {
				progress(j.Name + ": error: " + msg)
			}
		}
		res.Jobs = append(res.Jobs, jr)
	}
	return res, nil
}

// Text is every job's table, then the summary.
func (p *PlanResult) Text() string {
	var b strings.Builder
	for _, j := range p.Jobs {
		fmt.Fprintf(&b, "== %s ==\n", j.Name)
		if j.Error != nil {
			fmt.Fprintf(&b, "error: %s\n\n", *j.Error)
			continue
		}
		fmt.Fprintf(&b, "%s\n", j.Result.Text())
	}
	b.WriteString("== summary ==\n")
	b.WriteString(p.Summary())
	return b.String()
}

// Summary is one row per job: the medians, ratio and significance of CPU
// and wall time, the medians and ratio of peak memory, the lowest
// pass/total at each commit, and the reading of the job's table. A job
// that failed shows its error instead.
func (p *PlanResult) Summary() string {
	header := []string{"job",
		"cpu good", "cpu bad", "ratio", "sig",
		"wall good", "wall bad", "ratio", "sig",
		"mem good", "mem bad", "ratio",
		"pass good", "pass bad", "reading"}
	rows := [][]string{header}
	for _, j := range p.Jobs {
		if j.Error != nil {
			rows = append(rows, []string{j.Name, "error: " + *j.Error})
			continue
		}
		r := j.Result
		row := []string{j.Name}
		for _, key := range metricKeys() {
			m := r.row(key)
			row = append(row, figure(m.Good), figure(m.Bad), times(float64(m.Ratio)))
			if key != "mem_mb" {
				row = append(row, yesNo(m.Significant))
			}
		}
		row = append(row, score(r.Good), score(r.Bad), reading(r))
		rows = append(rows, row)
	}
	if row := p.geomeanRow(); row != nil {
		rows = append(rows, row)
	}
	return table(rows)
}

// geomeanRow is benchstat's geomean row across the jobs that were
// measured: the geometric mean of each column of medians, and the ratio
// of the two means, which is the geometric mean of the jobs' ratios; nil
// with fewer than two jobs.
func (p *PlanResult) geomeanRow() []string {
	var measured []*Result
	for _, j := range p.Jobs {
		if j.Error == nil && j.Result != nil {
			measured = append(measured, j.Result)
		}
	}
	if len(measured) < 2 {
		return nil
	}
	row := []string{"geomean"}
	for _, key := range metricKeys() {
		var good, bad []float64
		for _, r := range measured {
			m := r.row(key)
			good, bad = append(good, float64(m.Good)), append(bad, float64(m.Bad))
		}
		g, b := geomean(good), geomean(bad)
		row = append(row, figure(Num(g)), figure(Num(b)), times(b/g))
		if key != "mem_mb" {
			row = append(row, "")
		}
	}
	return append(row, "", "", fmt.Sprintf("across %d jobs", len(measured)))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// score is a side's lowest pass/total, "-" without a scoreboard.
func score(s *Side) string {
	if pass, total, ok := s.Score(); ok {
		return fmt.Sprintf("%g/%g", pass, total)
	}
	return "-"
}

// table aligns the columns of full rows; the last column, and a short row
// (an error), run on unpadded, so that a long reading or error does not
// widen the others.
func table(rows [][]string) string {
	width := len(rows[0])
	widths := make([]int, width)
	for _, row := range rows {
		if len(row) != width {
			widths[0] = max(widths[0], len(row[0]))
			continue
		}
		for i, c := range row[:width-1] {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			switch {
			case i == len(row)-1:
				b.WriteString(c)
			case i == 0:
				fmt.Fprintf(&b, "%-*s", widths[i], c)
			default:
				fmt.Fprintf(&b, "%*s", widths[i], c)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
