package cli

import (
	"bytes"
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/report"
)

var cmdReport = &Command{
	Name:      "report",
	UsageLine: "report [--name NAME] [--repo DIR] [--format md|json|html] [-o FILE]",
	Short:     "write a report of a session: verdict, evidence, steps",
	Long: `
Report writes what a session did, from its journal, as the progress log of
the investigation: the verdict; the first bad commit (id, subject, author,
date, files changed); the evidence, with the baseline, the first bad commit's
parent and the first bad commit side by side (medians, ratios and samples);
every step (commit, subject, verdict, reason, metrics, duration); how long it
took and how busy the machine was; the sxbisect start command that runs it
again; and, for an unfinished session, how to resume it. It reads the journal
only, so it is safe to run beside a running session.

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
			if len(args) > 0 {
				return fail(env, "report", &bisect.UsageError{Msg: "report takes no arguments: name the session with --name"})
			}
			switch format {
			case "md", "json", "html":
			default:
				return fail(env, "report", &bisect.UsageError{Msg: fmt.Sprintf("unknown --format %q: use md, json or html", format)})
			}
			s, err := report.Load(repo, name)
			if err != nil {
				return fail(env, "report", err)
			}
			defer s.Journal.Close()
			var buf bytes.Buffer
			if err := report.Build([]report.Session{s}).Write(&buf, format); err != nil {
				return fail(env, "report", err)
			}
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
