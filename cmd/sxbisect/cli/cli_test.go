package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

func TestVersionComesFromTheBuildInformation(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/sxbisect/sxbisect", Version: "v1.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "a71463a75fd6414878e62003a9f93e5c7383166d"},
			{Key: "vcs.time", Value: "2026-12-03T09:44:48Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "v1.3.0 (revision a71463a75fd6414878e62003a9f93e5c7383166d, 2026-12-03T09:44:48Z, with uncommitted changes), go1.26.8", versionOf(info))
	assert.Equal(t, "(devel), go1.26.8", versionOf(&debug.BuildInfo{GoVersion: "go1.26.8"}))

	status, out, stderr := sxbisect(t, "--version")
	require.Equal(t, 0, status, stderr)
	assert.Regexp(t, `^sxbisect \S+.*, `+regexpQuote(runtime.Version())+"\n$", out)
}

func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }

// Completion comes from the commands' definitions: every flag of start
// is offered, and flags with a few values offer them.
func TestCompletionIsGeneratedFromTheCommands(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_sxbisect", "zsh": "#compdef sxbisect", "fish": "complete -c sxbisect"} {
		status, out, stderr := sxbisect(t, "completion", shell)
		require.Equal(t, 0, status, stderr)
		assert.Contains(t, out, want, shell)
	}
	status, _, stderr := sxbisect(t, "completion", "tcsh")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "bash, zsh and fish")

	_, out, _ := sxbisect(t, "__complete", "start", "--")
	commandFlags(cmdStart).VisitAll(func(f *pflag.Flag) {
		assert.Contains(t, out, "--"+f.Name+"\t", "start's flag --%s is completed", f.Name)
	})
	_, out, _ = sxbisect(t, "__complete", "")
	for _, c := range commands() {
		assert.Contains(t, out, c.Name+"\t"+c.Short)
	}
	_, out, _ = sxbisect(t, "__complete", "report", "--format", "")
	assert.Equal(t, []string{"md", "json", "html"}, strings.Fields(out)[:3])

	repo, _ := gitfixture.ValueRepo(t, 2)
	for _, name := range []string{"nightly", "tcl-cpu"} {
		require.NoError(t, os.MkdirAll(filepath.Join(repo, ".git", "sxbisect", "sessions", name), 0o755))
	}
	_, out, _ = sxbisect(t, "__complete", "status", "--repo", repo, "--name", "")
	assert.Equal(t, []string{"nightly", "tcl-cpu"}, strings.Fields(out)[:2])
}

// The manual page is generated from the same definitions, and is roff
// that groff reads without a warning.
func TestManPageIsGeneratedFromTheCommands(t *testing.T) {
	status, page, stderr := sxbisect(t, "man")
	require.Equal(t, 0, status, stderr)
	assert.True(t, strings.HasPrefix(page, ".TH SXBISECT 1 "), page[:40])
	for _, c := range commands() {
		assert.Contains(t, page, ".SS sxbisect "+roffEscape(c.Name)+"\n")
		commandFlags(c).VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				assert.Contains(t, page, `\fB\-\-`+roffEscape(f.Name)+`\fR`, "%s --%s", c.Name, f.Name)
			}
		})
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff to render the page")
	}
	cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-P-cbou")
	cmd.Stdin = strings.NewReader(page)
	var out, warnings bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &warnings
	require.NoError(t, cmd.Run(), warnings.String())
	assert.Empty(t, warnings.String())
	assert.Contains(t, out.String(), "--on-build-failure")
	assert.Contains(t, out.String(), "    --max-ratio cpu=1.5, on a machine kept busy", "indentation within examples is kept")
}

// Help fits a terminal of 80 columns, tabs expanded.
func TestHelpFitsEightyColumns(t *testing.T) {
	topics := [][]string{{"help"}}
	for _, c := range commands() {
		topics = append(topics, []string{"help", c.Name})
	}
	for _, args := range topics {
		status, out, _ := sxbisect(t, args...)
		require.Equal(t, 0, status, args)
		for _, line := range strings.Split(out, "\n") {
			width := 0
			for _, r := range line {
				if r == '\t' {
					width += 8 - width%8
				} else {
					width++
				}
			}
			assert.LessOrEqual(t, width, 80, "%v: %q", args, line)
		}
	}
}

// compare and check measure two given commits: start's flags that steer
// a search are neither listed nor silently ignored.
func TestCompareAndCheckRefuseSearchFlags(t *testing.T) {
	for _, cmd := range []string{"compare", "check"} {
		_, help, _ := sxbisect(t, "help", cmd)
		_, flags, _ := strings.Cut(help, "\nFlags:\n")
		for _, name := range searchOnlyFlags {
			assert.NotContains(t, flags, "--"+name+" ", "%s lists --%s", cmd, name)
		}
		assert.Contains(t, flags, "--run ")
	}
	cases := [][]string{
		{"compare", "--run", "true", "--confirm", "3", "a", "b"},
		{"compare", "--run", "true", "--first-parent", "--good", "c", "a", "b"},
		{"check", "--against", "a", "--run", "true", "--no-verify"},
	}
	for _, args := range cases {
		status, _, stderr := sxbisect(t, args...)
		assert.Equal(t, exitUsage, status, args)
		assert.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
		assert.Contains(t, stderr, "leave")
	}
	_, _, stderr := sxbisect(t, cases[1]...)
	assert.Contains(t, stderr, "--good, --first-parent steer")
}

func TestPredicatesDescribeTheBuiltIns(t *testing.T) {
	status, out, stderr := sxbisect(t, "predicates", "--repo", t.TempDir())
	require.Equal(t, 0, status, stderr)
	for _, name := range []string{"suite", "exit-code"} {
		assert.Regexp(t, `(?m)^`+name+` +built in: \S.*\(params: `, out)
	}
}
