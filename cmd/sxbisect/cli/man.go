package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
)

var cmdMan = &Command{
	Name:      "man",
	UsageLine: "man",
	Short:     "print the manual page sxbisect(1), in roff",
	Long: `
Man prints sxbisect's manual page in roff, generated from the commands'
own definitions (their usage, help and flags), so it always matches this
sxbisect. Read it, or install it:

	sxbisect man | man -l -
	sxbisect man > ~/.local/share/man/man1/sxbisect.1
`,
}

// Set here, not in cmdMan's literal: the page lists every command, cmdMan
// among them, and a package variable cannot refer to itself.
func init() {
	cmdMan.Flags = func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		return func(ctx context.Context, args []string) int {
			if len(args) > 0 {
				return fail(env, "man", &bisect.UsageError{Msg: "man takes no arguments: sxbisect man | man -l -"})
			}
			if err := writeManPage(env.Stdout, commands()); err != nil {
				return fail(env, "man", err)
			}
			return 0
		}
	}
}

// writeManPage writes sxbisect(1): the commands, each with its usage, its
// help and its flags, then the exit statuses and the files.
func writeManPage(w io.Writer, cmds []*Command) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH SXBISECT 1 \"\" %s \"User Commands\"\n", roffQuote("sxbisect "+strings.Fields(version())[0]))
	b.WriteString(".SH NAME\nsxbisect \\- find the first bad commit, unattended, in scratch worktrees\n")
	b.WriteString(".SH SYNOPSIS\n")
	for _, c := range cmds {
		for i, line := range strings.Split(c.UsageLine, "\n") {
			line = strings.TrimSpace(line)
			if i > 0 {
				line = strings.TrimPrefix(line, "sxbisect ")
			}
			fmt.Fprintf(&b, ".B sxbisect\n%s\n.br\n", roffText(line))
		}
	}
	b.WriteString(".SH DESCRIPTION\n")
	b.WriteString(roffText(rootShort) + "\n")
	b.WriteString(".PP\nEach command is described below; 'sxbisect help COMMAND' prints the same text.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, ".SS %s\n", roffText("sxbisect "+c.Name))
		fmt.Fprintf(&b, "%s\n", roffText(c.Short))
		b.WriteString(".PP\n")
		b.WriteString(roffParagraphs(strings.TrimSpace(c.Long)))
		fs := commandFlags(c)
		if fs.HasFlags() {
			b.WriteString(".PP\nFlags:\n")
			fs.VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				name, usage := pflag.UnquoteUsage(f)
				head := "\\fB\\-\\-" + roffEscape(f.Name) + "\\fR"
				if f.Shorthand != "" {
					head = "\\fB\\-" + roffEscape(f.Shorthand) + "\\fR, " + head
				}
				if name != "" {
					head += " \\fI" + roffEscape(name) + "\\fR"
				}
				if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
					usage += fmt.Sprintf(" (default %s)", f.DefValue)
				}
				fmt.Fprintf(&b, ".TP\n%s\n%s\n", head, roffText(usage))
			})
		}
	}
	b.WriteString(".SH EXIT STATUS\n")
	b.WriteString(roffParagraphs(exitStatusHelp))
	b.WriteString(".SH FILES\n")
	b.WriteString(roffParagraphs(`.sxbisect.toml at the top of the checkout names predicates (presets).
.git/sxbisect/sessions/NAME/ holds a session: journal.jsonl, result.json,
summary.md and logs/. .git/sxbisect/worktrees/ holds the scratch worktrees.
.git/objects/info/commit-graph is written when the repository has none.`))
	b.WriteString(".SH SEE ALSO\n.BR git-bisect (1),\n.BR git-worktree (1)\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// roffParagraphs turns help text into roff: paragraphs of text are
// filled; blocks of indented lines (examples, tables) are kept as they
// are, less their common indentation.
func roffParagraphs(s string) string {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(s, "\t", "        "), "\n")
	indented := func(line string) bool { return strings.HasPrefix(line, "  ") }
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case strings.TrimSpace(line) == "":
			b.WriteString(".PP\n")
			i++
		case indented(line):
			// The block runs to the first line that is not indented,
			// blank lines within it included.
			j := i
			for j < len(lines) && (indented(lines[j]) || strings.TrimSpace(lines[j]) == "" && j+1 < len(lines) && indented(lines[j+1])) {
				j++
			}
			common := len(line)
			for _, l := range lines[i:j] {
				if strings.TrimSpace(l) != "" {
					common = min(common, len(l)-len(strings.TrimLeft(l, " ")))
				}
			}
			b.WriteString(".PP\n.RS 4\n.nf\n")
			for _, l := range lines[i:j] {
				if len(l) >= common {
					l = l[common:]
				}
				b.WriteString(roffText(l) + "\n")
			}
			b.WriteString(".fi\n.RE\n")
			if j < len(lines) && strings.TrimSpace(lines[j]) != "" {
				b.WriteString(".PP\n")
			}
			i = j
		default:
			b.WriteString(roffText(line) + "\n")
			i++
		}
	}
	return b.String()
}

// roffText is one line of text in roff: escaped, and never read as a
// request.
func roffText(s string) string {
	s = roffEscape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}

// roffEscape escapes roff's escape character, keeps hyphens as the minus
// signs that flags are made of, and writes what is not ASCII as roff's
// Unicode escapes, which every troff reads.
func roffEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 127:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func roffQuote(s string) string { return `"` + strings.ReplaceAll(roffEscape(s), `"`, `""`) + `"` }
