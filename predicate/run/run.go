// Package run is the one way sxbisect starts the processes it measures: a
// build, a test, a plugin. Each runs with sh -c in its own process group,
// with a timeout that takes down the whole tree, and comes back as a
// Measurement.
package run

import "time"

// Spec describes one run.
type Spec struct {
	// Command is run with sh -c.
	Command string
	// Dir is the working directory.
	Dir string
	// Env is added to the process's environment (KEY=VALUE).
	Env []string
	// Timeout, when non-zero, bounds the run's wall time; at expiry the whole
	// process group gets SIGTERM, then SIGKILL after Grace.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL (default 5s).
	Grace time.Duration
	// LogPath, when set, receives the run's whole output (stdout and
	// stderr interleaved).
	LogPath string
	// TailBytes is how much of the output's end Measurement.Tail keeps
	// (default 4096).
	TailBytes int
}

// Measurement is what one run did.
type Measurement struct {
	Start time.Time     `json:"start"`
	Wall  time.Duration `json:"wall_ns"`
	// User and Sys are CPU times of the process and the descendants it
	// waited for (wait4 rusage).
	User time.Duration `json:"user_ns"`
	Sys  time.Duration `json:"sys_ns"`
	// MaxRSS is the peak resident set size in bytes of the largest process.
	MaxRSS int64 `json:"max_rss_bytes"`
	// ExitCode is the exit status, or -1 when the process died by a signal.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the process ("" if none).
	Signal string `json:"signal,omitempty"`
	// TimedOut is set when our timeout fired.
	TimedOut bool `json:"timed_out,omitempty"`
	// Tail is the end of the output.
	Tail string `json:"tail,omitempty"`
}
