package run

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runIn runs command in a fresh directory and returns the measurement, the
// directory and how long Run itself took.
func runIn(t *testing.T, s Spec) (Measurement, string, time.Duration) {
	t.Helper()
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	start := time.Now()
	m, err := Run(context.Background(), s)
	require.NoError(t, err)
	return m, s.Dir, time.Since(start)
}

// readPid reads the pid a test command wrote into dir/name.
func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	return pid
}

// requireDead fails unless pid is gone or a zombie within a short while.
// kill -0 alone is not enough: an orphan that was killed stays a zombie
// until its new parent reaps it, and an init that never reaps (common in
// containers) leaves it there for good, though it runs no more.
func requireDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if processState(pid) == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive (state %q)", pid, processState(pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processState is the state letter from /proc/pid/stat, "" if unknown.
func processState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name in parentheses may hold spaces; the state follows
	// the last ')'.
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, code := range []int{0, 1, 3, 125, 127, 200} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			m, _, _ := runIn(t, Spec{Command: fmt.Sprintf("exit %d", code)})
			assert.Equal(t, code, m.ExitCode)
			assert.Empty(t, m.Signal)
			assert.False(t, m.TimedOut)
			assert.Greater(t, m.Wall, time.Duration(0))
			assert.False(t, m.Start.IsZero())
		})
	}
}

func TestSignalDeath(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		for _, sig := range []string{"KILL", "USR1"} {
			m, _, _ := runMode(t, mode, Spec{Command: "kill -" + sig + " $$; sleep 5"})
			assert.Equal(t, -1, m.ExitCode)
			assert.Equal(t, "SIG"+sig, m.Signal)
			assert.False(t, m.TimedOut)
			assert.False(t, m.OOMKilled)
		}
	})
}

func TestTimeoutKillsWholeTree(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		m, dir, took := runMode(t, mode, Spec{
			Command: "sleep 30 & echo $! > child.pid; sleep 30",
			Timeout: 300 * time.Millisecond,
		})
		assert.True(t, m.TimedOut)
		assert.Equal(t, -1, m.ExitCode)
		assert.Equal(t, "SIGTERM", m.Signal, "SIGTERM suffices, no need to wait for the grace period")
		assert.GreaterOrEqual(t, m.Wall, 300*time.Millisecond)
		assert.Less(t, took, 2*time.Second)
		requireDead(t, readPid(t, dir, "child.pid"))
	})
}

func TestTimeoutEscalatesToKillAfterGrace(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		// An ignored SIGTERM is inherited by the background child too.
		m, dir, took := runMode(t, mode, Spec{
			Command: `trap "" TERM; sleep 30 & echo $! > child.pid; sleep 30`,
			Timeout: 200 * time.Millisecond,
			Grace:   300 * time.Millisecond,
		})
		assert.True(t, m.TimedOut)
		assert.Equal(t, -1, m.ExitCode)
		assert.Equal(t, "SIGKILL", m.Signal)
		assert.False(t, m.OOMKilled, "a SIGKILL of ours is no OOM kill")
		assert.GreaterOrEqual(t, m.Wall, 500*time.Millisecond)
		assert.Less(t, took, 3*time.Second)
		requireDead(t, readPid(t, dir, "child.pid"))
	})
}

func TestGrandchildHoldingOutputDoesNotExtendRun(t *testing.T) {
	t.Parallel()
	m, dir, took := runIn(t, Spec{Command: "sleep 30 & echo $! > child.pid; echo hi"})
	assert.Less(t, took, 2*time.Second)
	assert.Equal(t, 0, m.ExitCode)
	assert.False(t, m.TimedOut)
	assert.Equal(t, "hi\n", m.Tail)
	requireDead(t, readPid(t, dir, "child.pid"))
}

func TestLeftoverKilledAfterCleanExit(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		// The leftover does not hold the output: only the kill of the tree
		// ends it.
		m, dir, took := runMode(t, mode, Spec{Command: "sleep 30 >/dev/null 2>&1 & echo $! > child.pid"})
		assert.Less(t, took, 2*time.Second)
		assert.Equal(t, 0, m.ExitCode)
		requireDead(t, readPid(t, dir, "child.pid"))
	})
}

func TestEscapedHolderOfOutputDelaysRunOnlyByDrainTimeout(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid command")
	}
	// setsid takes sleep out of the group, beyond the reach of the group
	// kill, still holding the output pipe. (A cgroup reaches it: see
	// TestProcessThatCalledSetsidKilledAfterCleanExit.)
	// The wait for its pid file keeps the group kill from catching it
	// before it has left.
	m, dir, took := runIn(t, Spec{Command: `setsid sh -c 'echo $$ > escaped.pid; exec sleep 30' &
		while [ ! -s escaped.pid ]; do sleep 0.01; done; echo hi`, Containment: ContainProcessGroup})
	escaped := readPid(t, dir, "escaped.pid")
	t.Cleanup(func() { _ = syscall.Kill(escaped, syscall.SIGKILL) })
	assert.Equal(t, 0, m.ExitCode)
	assert.Equal(t, "hi\n", m.Tail)
	assert.GreaterOrEqual(t, took, drainTimeout)
	assert.Less(t, took, drainTimeout+time.Second)
}

func TestTailKeepsEndAndLogKeepsAll(t *testing.T) {
	t.Parallel()
	var want strings.Builder
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	logPath := filepath.Join(t.TempDir(), "test.log")
	m, _, _ := runIn(t, Spec{Command: "seq 1 20000", LogPath: logPath, TailBytes: 64})
	require.Equal(t, 0, m.ExitCode)
	assert.Len(t, m.Tail, 64)
	assert.True(t, strings.HasSuffix(want.String(), m.Tail), "tail %q", m.Tail)
	assert.True(t, strings.HasSuffix(m.Tail, "19999\n20000\n"))
	assert.Empty(t, m.LogError)
	got, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
}

func TestDefaultTailBytes(t *testing.T) {
	t.Parallel()
	m, _, _ := runIn(t, Spec{Command: "seq 1 20000"})
	assert.Len(t, m.Tail, defaultTailBytes)
	assert.True(t, strings.HasSuffix(m.Tail, "\n20000\n"))
}

func TestLogInterleavesStdoutAndStderr(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "test.log")
	require.NoError(t, os.WriteFile(logPath, []byte("stale content from an earlier run\n"), 0o644))
	m, _, _ := runIn(t, Spec{Command: "echo one; echo two >&2; echo three", LogPath: logPath, Dir: dir})
	assert.Equal(t, "one\ntwo\nthree\n", m.Tail)
	got, err := os.ReadFile(logPath)
	require.NoError(t, err)
	assert.Equal(t, "one\ntwo\nthree\n", string(got))
}

func TestEnvironmentAndStdin(t *testing.T) {
	// Not parallel: t.Setenv changes the environment of the whole process.
	t.Setenv("SXBISECT_RUN_INHERITED", "from parent")
	m, _, _ := runIn(t, Spec{
		Command: `echo "$SXBISECT_RUN_INHERITED|$SXBISECT_RUN_ADDED|$HOME"; cat; echo end`,
		Env:     []string{"SXBISECT_RUN_ADDED=added", "HOME=/overridden"},
	})
	assert.Equal(t, "from parent|added|/overridden\nend\n", m.Tail, "stdin is /dev/null, so cat ends at once")
}

func TestContextCancelTearsDownTree(t *testing.T) {
	t.Parallel()
	forEachMode(t, func(t *testing.T, mode testMode) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		s := Spec{Command: "sleep 30 & echo $! > child.pid; sleep 30", Dir: dir}
		mode.apply(&s)
		m, err := Run(ctx, s)
		took := time.Since(start)
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, took, 2*time.Second)
		assert.False(t, m.TimedOut)
		assert.Equal(t, "SIGTERM", m.Signal)
		requireDead(t, readPid(t, dir, "child.pid"))
	})
}

func TestCancelledContextStartsNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, Spec{Command: "touch ran", Dir: dir})
	require.ErrorIs(t, err, context.Canceled)
	assert.NoFileExists(t, filepath.Join(dir, "ran"))
}

func TestMissingDirIsAnError(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := Run(context.Background(), Spec{Command: "true", Dir: missing})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
	assert.Contains(t, err.Error(), "no such file or directory")
	assert.NotContains(t, err.Error(), "\n")
}

func TestUnwritableLogIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Run(context.Background(), Spec{Command: "touch ran", Dir: dir, LogPath: filepath.Join(dir, "missing", "log")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "log")
	assert.NoFileExists(t, filepath.Join(dir, "ran"))
}

func TestRusageOfBusyLoop(t *testing.T) {
	t.Parallel()
	m, _, _ := runIn(t, Spec{Command: `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done`})
	require.Equal(t, 0, m.ExitCode)
	assert.Greater(t, m.User+m.Sys, 20*time.Millisecond)
	assert.Greater(t, m.MaxRSS, int64(100*1024), "a shell takes more than 100 KiB")
	assert.GreaterOrEqual(t, m.Wall, m.User+m.Sys-10*time.Millisecond)
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	write := func(size int, chunks ...string) string {
		tail := newTailBuffer(size)
		for _, c := range chunks {
			tail.Write([]byte(c))
		}
		return tail.String()
	}
	assert.Equal(t, "", write(4))
	assert.Equal(t, "ab", write(4, "a", "b"))
	assert.Equal(t, "abcd", write(4, "ab", "cd"))
	assert.Equal(t, "cdef", write(4, "ab", "cd", "ef"))
	assert.Equal(t, "defg", write(4, "abc", "defg"))
	assert.Equal(t, "hijk", write(4, "abc", "defghijk"))
	assert.Equal(t, "cdefg", write(5, "a", "b", "c", "d", "e", "f", "g"))
	// "é" is two bytes; cutting through it drops its second half.
	assert.Equal(t, "xyz", write(4, "aé", "xyz"))
	assert.Equal(t, "éxy", write(4, "aé", "xy"))
	assert.Equal(t, "", write(0, "abc"))
}

func TestTailBufferEdges(t *testing.T) {
	t.Parallel()
	const limit = 1000
	digits := func(n int) []byte { // n bytes, each telling its place
		b := make([]byte, n)
		for i := range b {
			b[i] = '0' + byte(i%10)
		}
		return b
	}
	t.Run("exactly the limit", func(t *testing.T) {
		tail := newTailBuffer(limit)
		tail.Write(digits(limit))
		assert.Equal(t, string(digits(limit)), tail.String())
		assert.Zero(t, tail.dropped())
	})
	t.Run("the limit in pieces", func(t *testing.T) {
		tail := newTailBuffer(limit)
		tail.Write(digits(limit)[:limit-1])
		tail.Write(digits(limit)[limit-1:])
		assert.Equal(t, string(digits(limit)), tail.String())
		assert.Zero(t, tail.dropped())
	})
	t.Run("one byte more", func(t *testing.T) {
		tail := newTailBuffer(limit)
		tail.Write(digits(limit + 1))
		assert.Equal(t, string(digits(limit + 1)[1:]), tail.String())
		assert.Equal(t, int64(1), tail.dropped())
		tail = newTailBuffer(limit)
		tail.Write(digits(limit))
		tail.Write([]byte("x"))
		assert.Equal(t, string(digits(limit)[1:])+"x", tail.String())
		assert.Equal(t, int64(1), tail.dropped())
	})
	t.Run("many small writes", func(t *testing.T) {
		tail := newTailBuffer(limit)
		all := digits(limit*7 + 3)
		for p := all; len(p) > 0; p = p[min(7, len(p)):] {
			tail.Write(p[:min(7, len(p))])
		}
		assert.Equal(t, string(all[len(all)-limit:]), tail.String())
		assert.Equal(t, int64(len(all)-limit), tail.dropped())
		assert.Equal(t, limit, cap(tail.buf), "a ring of the limit, no more")
	})
	t.Run("one write larger than the limit after others", func(t *testing.T) {
		tail := newTailBuffer(limit)
		tail.Write([]byte("before"))
		huge := digits(limit*3 + 5)
		tail.Write(huge)
		assert.Equal(t, string(huge[len(huge)-limit:]), tail.String())
		tail.Write([]byte("after"))
		assert.Equal(t, string(huge[len(huge)-limit+5:])+"after", tail.String())
		assert.Equal(t, int64(6+len(huge)+5-limit), tail.dropped())
	})
	t.Run("a cut character across the ring's end", func(t *testing.T) {
		// "𝄞" is 4 bytes; the ring ends up as 84 9E a b c | 9D, oldest
		// first from the 9D: its three last bytes, cut from their start.
		tail := newTailBuffer(6)
		tail.Write([]byte("xxxx"))
		tail.Write([]byte("𝄞"))
		tail.Write([]byte("abc"))
		assert.Equal(t, 5, tail.next, "the cut character spans the ring's end")
		assert.Equal(t, "abc", tail.String())
	})
	t.Run("memory grows with the output", func(t *testing.T) {
		tail := newTailBuffer(8 << 20)
		tail.Write([]byte("ok\n"))
		assert.LessOrEqual(t, cap(tail.buf), minTailGrowth, "a short output must not cost the limit")
		for range 100 {
			tail.Write(digits(10000))
		}
		assert.LessOrEqual(t, cap(tail.buf), 2*(3+100*10000), "growth doubles at most")
		assert.Equal(t, string(digits(10000)), tail.String()[len(tail.String())-10000:])
	})
}

// TestTailBufferAgainstAModel writes random pieces, characters of one to
// four bytes among them, into tails of random limits and compares what
// they keep with the end of everything written.
func TestTailBufferAgainstAModel(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "b", "\n", "é", "€", "𝄞"}
	for range 2000 {
		limit := rng.IntN(3000)
		tail := newTailBuffer(limit)
		var all []byte
		for range rng.IntN(30) {
			size := rng.IntN(200)
			if rng.IntN(10) == 0 {
				size = rng.IntN(2 * (limit + 1))
			}
			var p []byte
			for len(p) < size {
				p = append(p, pieces[rng.IntN(len(pieces))]...)
			}
			tail.Write(p)
			all = append(all, p...)
		}
		kept := all[max(0, len(all)-limit):]
		want := kept
		for i := 0; len(kept) < len(all) && i < 3 && len(want) > 0 && !utf8.RuneStart(want[0]); i++ {
			want = want[1:]
		}
		require.Equal(t, string(want), tail.String(), "limit %d, %d bytes written", limit, len(all))
		require.Equal(t, int64(len(all)-len(kept)), tail.dropped())
		require.LessOrEqual(t, cap(tail.buf), max(limit, 0))
	}
}

func TestSignalName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "SIGKILL", SignalName(syscall.SIGKILL))
	assert.Equal(t, "SIGSEGV", SignalName(syscall.SIGSEGV))
	assert.Equal(t, "signal 40", SignalName(syscall.Signal(40)))
}
