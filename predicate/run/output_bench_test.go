package run

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkRunQuiet is one run that prints a line, with a log of the
// default cap, as most build and test steps of a session are, without
// and with a watcher of its output (as predicates that look for a marker
// or a score have): its allocated bytes per run should be a few tens of
// KiB (the process's start, the pipe, the measurement), not the log
// cap's kept end nor the watcher's bound:
//
//	go test -run '^$' -bench 'Run(Quiet|Loud)' -benchmem ./predicate/run/
func BenchmarkRunQuiet(b *testing.B) {
	for _, watched := range []bool{false, true} {
		name := "log"
		if watched {
			name = "log+watch"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			spec := Spec{Command: "echo ok", Dir: dir, LogPath: filepath.Join(dir, "log")}
			var seen int
			if watched {
				spec.OnOutput = func(lines []byte, _ int64) { seen += len(lines) }
			}
			b.ReportAllocs()
			for b.Loop() {
				m, err := Run(context.Background(), spec)
				if err != nil || m.Tail != "ok\n" {
					b.Fatalf("run: %v, tail %q", err, m.Tail)
				}
			}
			if watched && seen == 0 {
				b.Fatal("the watcher saw nothing")
			}
		})
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
