package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/demo"
	"github.com/sxbisect/sxbisect/internal/text"
)

func TestDemoRefusesAnUnknownCase(t *testing.T) {
	status, _, stderr := sxbisect(t, "demo", "--case", "slow", "--dir", filepath.Join(t.TempDir(), "sx"))
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "exit, cpu, oom, hang, and all")
	status, _, stderr = sxbisect(t, "demo", "extra")
	assert.Equal(t, exitUsage, status)
	assert.Contains(t, stderr, "only flags")
}

// The command line the demo prints is the one it runs: a shell gives back
// the very arguments.
func TestDemoCommandLineIsWhatRuns(t *testing.T) {
	d, err := demo.Generate(filepath.Join(t.TempDir(), "sx"))
	require.NoError(t, err)
	for _, c := range d.Cases {
		args := startArgs(d, c, outputFlags{})
		require.Equal(t, "start", args[0])
		require.Equal(t, []string{text.ShortID(c.Good), text.ShortID(c.Bad)}, args[len(args)-2:])
		out, err := exec.Command("sh", "-c", `f() { for a in "$@"; do printf '[%s]\n' "$a"; done; }; f `+text.ShellJoin(args)).Output()
		require.NoError(t, err)
		var want strings.Builder
		for _, a := range args {
			want.WriteString("[" + a + "]\n")
		}
		require.Equal(t, want.String(), string(out), c.Name)
	}
	require.Equal(t, `'it'\''s' '\(ok-len' plain`, text.ShellJoin([]string{"it's", `\(ok-len`, "plain"}))
}

// The demo's "look around" hints name a command that works from the
// user's shell: after go run, sxbisect is not on PATH.
func TestDemoHintsNameACommandThatRuns(t *testing.T) {
	bin := t.TempDir()
	self := filepath.Join(bin, "sxbisect")
	require.NoError(t, os.WriteFile(self, []byte("#!/bin/sh\n"), 0o755))
	executable := func() (string, error) { return self, nil }
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	wd := func() (string, error) { return t.TempDir(), nil }
	assert.Equal(t, "sxbisect", selfCommand(func(string) (string, error) { return self, nil }, executable, wd))
	assert.Equal(t, self, selfCommand(notFound, executable, wd), "not on PATH: its path")

	// Built by go run: a binary in a go-build directory that vanishes.
	module := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(module, "cmd", "sxbisect"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(module, "cmd", "sxbisect", "main.go"), nil, 0o644))
	goRun := filepath.Join(t.TempDir(), "go-build123", "b001", "exe", "sxbisect")
	require.NoError(t, os.MkdirAll(filepath.Dir(goRun), 0o755))
	require.NoError(t, os.WriteFile(goRun, nil, 0o755))
	assert.Equal(t, "go run ./cmd/sxbisect", selfCommand(notFound, func() (string, error) { return goRun, nil }, func() (string, error) { return module, nil }))
}

func TestBusyLoopsSwitchAndStop(t *testing.T) {
	b := startBusyLoops(t.Context(), 2, 20*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	cycles := b.stop()
	assert.Positive(t, cycles)
	assert.Less(t, time.Since(start), 2*time.Second, "stop is prompt")
}

// The whole demo, every case, through the command line. It takes about a
// minute and needs a writable cgroup memory controller for the oom case,
// so it runs only with SXBISECT_DEMO_ALL=1.
func TestDemoFindsEveryPlantedCommit(t *testing.T) {
	if os.Getenv("SXBISECT_DEMO_ALL") == "" {
		t.Skip("set SXBISECT_DEMO_ALL=1 to run every case of the demo")
	}
	status, stdout, stderr := sxbisect(t, "demo", "--case", "all", "--dir", filepath.Join(t.TempDir(), "sx"))
	require.Equal(t, exitFound, status, "%s\n%s", stdout, stderr)
	for _, name := range demo.CaseNames() {
		assert.Regexp(t, `(?m)^  `+name+` +found the planted commit`, stdout)
	}
	assert.Contains(t, stderr, "$ sxbisect start --repo ")
	assert.Contains(t, stderr, "Stopped the busy loops after ")
	assert.Contains(t, stdout, "times the CPU time of the good commit")
}
