package run

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a small program for the test
// commands (see runHelper), so that tests need nothing installed.
const helperEnv = "SXBISECT_RUN_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helper returns a shell command that runs the helper with args.
func helper(t testing.TB, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	words := []string{helperEnv + "=1", shellQuote(exe)}
	for _, a := range args {
		words = append(words, shellQuote(a))
	}
	return strings.Join(words, " ")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// runHelper is the helper program:
//
//	alloc MIB [READY AWAIT]
//	               allocate and touch MIB mebibytes, then (given files
//	               READY and AWAIT) create READY and wait for AWAIT to
//	               exist before exiting 0
//	burn MS FILE   use MS milliseconds of CPU, then create FILE
//	runner group|best CMD
//	               Run CMD as sxbisect would, print the Started that its
//	               start hook gives as JSON, and wait for the run to end
//	               (see leftovers_test.go)
//	threads-after-runs CPUS
//	               start runs on CPUS, then print the cores each thread
//	               of the helper may run on (see cpuset_test.go)
//	leader-moved DIR
//	               move the leader thread into the v1 cpuset DIR and
//	               print the cpuset cgroup sxbisect takes for its own
//	               meanwhile (see cgroup_test.go)
//	ballast MIB MODE COMMAND
//	               with MIB mebibytes of its own memory, run COMMAND in
//	               the test mode MODE and print its peak memory, max RSS
//	               and exit status
func runHelper(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no command")
		return 2
	}
	switch args[0] {
	case "runner":
		return runnerHelper(args[1:])
	case "threads-after-runs":
		return threadsAfterRuns(args[1])
	case leaderMovedHelper:
		return leaderMoved(args[1])
	case "alloc":
		mib, _ := strconv.Atoi(args[1])
		block := make([]byte, mib<<20)
		for i := 0; i < len(block); i += 4096 {
			block[i] = 1
		}
		fmt.Println("allocated", mib, "MiB")
		if len(args) == 4 {
			if err := os.WriteFile(args[2], nil, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if _, err := os.Stat(args[3]); err == nil {
					break
				}
			}
		}
		return int(block[len(block)-4096]) - 1
	case "ballast":
		mib, _ := strconv.Atoi(args[1])
		ballast := make([]byte, mib<<20)
		for i := 0; i < len(ballast); i += 4096 {
			ballast[i] = 1
		}
		dir, err := os.MkdirTemp("", "sxbisect-ballast-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		s := Spec{Command: args[3], Dir: dir, Timeout: 20 * time.Second}
		switch args[2] {
		case "process-group":
			s.Containment = ContainProcessGroup
		case "cgroup-v1":
			s.hierarchies = onlyV1
		case "cgroup-v2":
			s.hierarchies = onlyV2
		}
		m, err := Run(context.Background(), s)
		runtime.KeepAlive(ballast)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("peak %d max_rss %d exit %d\n", m.PeakMemory, m.MaxRSS, m.ExitCode)
		return 0
	case "burn":
		ms, _ := strconv.Atoi(args[1])
		want := time.Duration(ms) * time.Millisecond
		for spin := 0; cpuUsed() < want; spin++ {
			for range 100000 {
				spin ^= spin << 1
			}
		}
		if err := os.WriteFile(args[2], nil, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown command", args[0])
	return 2
}

func cpuUsed() time.Duration {
	var usage syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
}
