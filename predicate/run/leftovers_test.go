package run

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runnerHelper is the helper's "runner": a stand-in for an sxbisect that
// is about to be killed with SIGKILL in the middle of a run. It prints
// what its start hook is told, a line each time; in the mode "unsaid" it
// hangs instead of printing once the process has started, as an sxbisect
// killed before it could write the process down.
func runnerHelper(args []string) int {
	spec := Spec{Command: args[1], Dir: os.TempDir()}
	if args[0] == "group" {
		spec.Containment = ContainProcessGroup
	}
	ctx := WithStartHook(context.Background(), func(s Started) {
		if args[0] == "unsaid" && s.PID != 0 {
			select {}
		}
		data, _ := json.Marshal(s)
		fmt.Println(string(data))
	})
	if _, err := Run(ctx, spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// When sxbisect dies by SIGKILL in the middle of a run, its test goes on,
// also past its own timeout. What the start hook wrote down is enough to
// kill all of it later, including a child that left the process group.
func TestKillLeftoversAfterTheRunnerWasKilled(t *testing.T) {
	for _, mode := range []string{"best", "group"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			pids := filepath.Join(dir, "pids")
			// A child in the group and, in cgroup mode, one that left it
			// with setsid; each writes its pid down.
			test := fmt.Sprintf(`sleep 300 & echo $! >> %[1]s; echo $$ >> %[1]s; wait`, pids)
			if mode == "best" {
				test = fmt.Sprintf(`setsid sh -c 'echo $$ >> %[1]s; exec sleep 300' & `, pids) + test
			}
			cmd := exec.Command("/bin/sh", "-c", helper(t, "runner", mode, test))
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			lines := bufio.NewReader(stdout)
			line, err := lines.ReadString('\n')
			require.NoError(t, err)
			var started Started
			require.NoError(t, json.Unmarshal([]byte(line), &started), line)
			if mode == "best" {
				// First the cgroups, before the fork, then the process.
				assert.Zero(t, started.PID)
				assert.NotEmpty(t, started.Cgroups)
				line, err = lines.ReadString('\n')
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal([]byte(line), &started), line)
			}
			assert.NotZero(t, started.StartTicks)
			if mode == "group" {
				assert.Empty(t, started.Cgroups)
			}
			want := 2
			if mode == "best" {
				want = 3
			}
			var tree []int
			require.Eventually(t, func() bool {
				tree = readPids(pids)
				return len(tree) == want
			}, 10*time.Second, 10*time.Millisecond)

			// The runner dies without a word; its tree lives on.
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			time.Sleep(50 * time.Millisecond)
			for _, pid := range tree {
				require.NoError(t, syscall.Kill(pid, 0), "process %d should have outlived the runner", pid)
			}

			killed, err := KillLeftovers(started)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, killed, want-1)
			for _, pid := range tree {
				pid := pid
				assert.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 10*time.Millisecond, "process %d is left", pid)
			}
			for _, dir := range started.Cgroups {
				assert.NoDirExists(t, dir)
			}
			// Again, nothing is left to kill.
			killed, err = KillLeftovers(started)
			require.NoError(t, err)
			assert.Zero(t, killed)
		})
	}
}

// A runner killed right after the fork, before it could write the process
// down, had written its cgroups down before the fork: they are enough to
// kill the whole tree.
func TestKillLeftoversOfARunnerKilledBeforeItSawThePID(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	test := fmt.Sprintf(`setsid sh -c 'echo $$ >> %[1]s; exec sleep 300' & sleep 300 & echo $! >> %[1]s; echo $$ >> %[1]s; wait`, pids)
	cmd := exec.Command("/bin/sh", "-c", helper(t, "runner", "unsaid", test))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		got <- line
	}()
	var line string
	select {
	case line = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the runner told nothing before the fork")
	}
	var before Started
	require.NoError(t, json.Unmarshal([]byte(line), &before), line)
	if len(before.Cgroups) == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Skip("no cgroups here: a process group is known only once its leader exists")
	}
	var tree []int
	require.Eventually(t, func() bool {
		tree = readPids(pids)
		return len(tree) == 3
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	killed, err := KillLeftovers(before)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, killed, 3)
	for _, pid := range tree {
		assert.Eventually(t, func() bool { return gone(pid) }, 5*time.Second, 10*time.Millisecond, "process %d is left", pid)
	}
}

// A process that merely has the same group id, but started before the
// run's main process did (so it cannot be of that run), is left alone.
func TestKillLeftoversSparesAnEarlierProcessOfTheSameGroup(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	start, ok := processStartTicks(cmd.Process.Pid)
	require.True(t, ok)
	killed, err := KillLeftovers(Started{PID: cmd.Process.Pid, StartTicks: start + 1, BootID: bootID()})
	require.NoError(t, err)
	assert.Zero(t, killed)
	assert.NoError(t, syscall.Kill(cmd.Process.Pid, 0))
	// Another boot's run has nothing left.
	killed, err = KillLeftovers(Started{PID: cmd.Process.Pid, StartTicks: start, BootID: "another-boot"})
	require.NoError(t, err)
	assert.Zero(t, killed)
	assert.NoError(t, syscall.Kill(cmd.Process.Pid, 0))
}

// gone reports whether pid has exited (a zombie waiting for its parent
// counts).
func gone(pid int) bool {
	st, ok := readProcStat(pid)
	return !ok || st.state == "Z"
}
