package run

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkRunQuiet is one run that prints a line, with a log of the
// default cap, as most build and test steps of a session are: its
// allocated bytes per run should be a few tens of KiB (the process's
// start, the pipe, the measurement), not the log cap's kept end:
//
//	go test -run '^$' -bench 'Run(Quiet|Loud)' -benchmem ./predicate/run/
func BenchmarkRunQuiet(b *testing.B) {
	dir := b.TempDir()
	spec := Spec{Command: "echo ok", Dir: dir, LogPath: filepath.Join(dir, "log")}
	b.ReportAllocs()
	for b.Loop() {
		m, err := Run(context.Background(), spec)
		if err != nil || m.Tail != "ok\n" {
			b.Fatalf("run: %v, tail %q", err, m.Tail)
		}
	}
}

// BenchmarkRunLoud is one run that prints 4 MiB, twice its log's cap
// (1 MiB) and far more than its tail: the log keeps its first and last
// 512 KiB, the tail its last 4 KiB, and what they hold at most is what a
// run allocates for them.
func BenchmarkRunLoud(b *testing.B) {
	dir := b.TempDir()
	spec := Spec{Command: "head -c 4194304 /dev/zero | tr '\\0' x", Dir: dir,
		LogPath: filepath.Join(dir, "log"), LogCap: 1 << 20}
	b.ReportAllocs()
	b.SetBytes(4 << 20)
	for b.Loop() {
		m, err := Run(context.Background(), spec)
		if err != nil || len(m.Tail) != defaultTailBytes || m.LogDropped != 3<<20 {
			b.Fatalf("run: %v, tail of %d bytes, log dropped %d", err, len(m.Tail), m.LogDropped)
		}
	}
}
