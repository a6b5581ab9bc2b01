package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/batch"
	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/report"
)

var cmdReport = &Command{
	Name:      "report",
	UsageLine: "report [--name NAME] [--repo DIR] [--format md|json|html] [-o FILE] [PLAN]",
	Short:     "write a report of a session: verdict, evidence, steps",
	Long: `
Report writes what a session did, from its journal, as the progress log of
the investigation: the verdict; the first bad commit (id, subject, author,
date, files changed); the evidence, with the baseline, the first bad commit's
parent and the first bad commit side by side (medians, ratios and samples);
every step (commit, subject, verdict, reason, metrics, duration); how long it
took and how busy the machine was; the sxbisect start command that runs it
again; and, for an unfinished session, how to resume it. It reads the journal
only, so it is safe to run beside a running session. Given a batch's PLAN
file, it reports every job of the plan that has a session; a batch writes
all three formats into .sxbisect-batch/<plan>/report/ beside the plan when
it ends.

Formats:

	md    Markdown (the default)
	html  one self-contained page, with an SVG chart of each measured
	      metric against the commits' order, the baseline and the
	      threshold drawn and the bad commits marked
	json  everything, for programs; the schema is the Go type Report of
	      package github.com/sxbisect/sxbisect/bisect/report, whose
	      fields' comments document each name

Without -o the report goes to standard output.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var repo, name, format, out string
		fs.StringVar(&repo, "repo", ".", "the repository `DIR`")
		fs.StringVar(&name, "name", "default", "the session's `NAME`")
		fs.StringVar(&format, "format", "md", "the report's `FORMAT`: md, json or html")
		fs.StringVarP(&out, "output", "o", "", "write the report to `FILE` (default: standard output)")
		return func(ctx context.Context, args []string) int {
			if len(args) > 1 {
				return fail(env, "report", &bisect.UsageError{Msg: "report takes at most one plan file: sxbisect report [--name NAME | PLAN]"})
			}
			switch format {
			case "md", "json", "html":
			default:
				return fail(env, "report", &bisect.UsageError{Msg: fmt.Sprintf("unknown --format %q: use md, json or html", format)})
			}
			var sessions []report.Session
			if len(args) == 1 {
				jobs, err := readPlan(args[0])
				if err != nil {
					return fail(env, "report", err)
				}
				if sessions, err = planSessions(jobs); err != nil {
					return fail(env, "report", err)
				}
			} else {
				s, err := report.Load(repo, name)
				if err != nil {
					return fail(env, "report", err)
				}
				sessions = []report.Session{s}
			}
			defer closeSessions(sessions)
			rep := report.Build(sessions)
			if out != "" && format == "html" {
				// The page links each step's logs: copied beside it, so
				// that the links hold wherever the two are moved.
				logs := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out)) + "-logs"
				if err := rep.CopyLogs(filepath.Dir(out), logs); err != nil {
					return fail(env, "report", err)
				}
			}
			var buf bytes.Buffer
			if err := rep.Write(&buf, format); err != nil {
				return fail(env, "report", err)
			}
			var err error
			if out == "" {
				_, err = env.Stdout.Write(buf.Bytes())
			} else {
				err = journal.WriteFileAtomic(out, buf.Bytes(), 0o644)
			}
			if err != nil {
				return fail(env, "report", err)
			}
			return 0
		}
	},
}

// planSessions loads the sessions of a plan's jobs; jobs that never made a
// session (bad input, not started) have nothing to report and are left out.
func planSessions(jobs []batch.Job) ([]report.Session, error) {
	var sessions []report.Session
	for _, j := range jobs {
		if j.Err != nil {
			continue
		}
		s, err := report.Load(j.Spec.Repo, j.Name)
		if err != nil {
			var usage *bisect.UsageError
			if errors.As(err, &usage) {
				continue // no session of that name yet
			}
			closeSessions(sessions)
			return nil, err
		}
		sessions = append(sessions, s)
	}
	if len(sessions) == 0 {
		return nil, &bisect.UsageError{Msg: "no job of the plan has a session yet: run sxbisect batch first"}
	}
	return sessions, nil
}

func closeSessions(sessions []report.Session) {
	for _, s := range sessions {
		s.Journal.Close()
	}
}

// writePlanReports writes a batch's report in all three formats into dir.
func writePlanReports(dir string, jobs []batch.Job) error {
	sessions, err := planSessions(jobs)
	if err != nil {
		return err
	}
	defer closeSessions(sessions)
	rep := report.Build(sessions)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := rep.CopyLogs(dir, "logs"); err != nil {
		return err
	}
	for _, format := range []string{"md", "json", "html"} {
		var buf bytes.Buffer
		if err := rep.Write(&buf, format); err != nil {
			return err
		}
		if err := journal.WriteFileAtomic(filepath.Join(dir, "report."+format), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
