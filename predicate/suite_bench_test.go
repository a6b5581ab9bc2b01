package predicate_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sxbisect/sxbisect/predicate"
)

// chattyTest writes about 300 MB of short lines, as a verbose suite does,
// and then its scoreboard line.
const chattyTest = `yes 'ok 12345 - evaluates (let ((x 1)) (+ x 1)) to 2' | head -c 300000000; echo '3/4 passed'`

// BenchmarkScoreboardOnAChattyTest runs a test that writes 300 MB, with and
// without --scoreboard, alternately, and reports the ratio of the test's
// wall times (with over without): watching the output for the scoreboard
// must not slow the test down. Both runs log to a file, as a session's do.
func BenchmarkScoreboardOnAChattyTest(b *testing.B) {
	plain, err := predicate.NewSuite(predicate.SuiteConfig{Run: chattyTest})
	if err != nil {
		b.Fatal(err)
	}
	scored, err := predicate.NewSuite(predicate.SuiteConfig{Run: chattyTest, Scoreboard: `(?P<pass>\d+)/(?P<total>\d+) passed`})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	wall := func(s *predicate.Suite, c predicate.Candidate) time.Duration {
		j, err := s.Judge(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		if j.Verdict != predicate.Good {
			b.Fatalf("%s: %s", j.Verdict, j.Reason)
		}
		return j.Measurement.Wall
	}
	var without, with time.Duration
	for i := 0; i < b.N; i++ {
		// In the order ABBA, so that a drift of the machine falls on both.
		for k := range 2 {
			if (i+k)%2 == 0 {
				without += wall(plain, predicate.Candidate{Dir: dir, LogPath: filepath.Join(dir, "plain.log")})
			} else {
				with += wall(scored, predicate.Candidate{Dir: dir, LogPath: filepath.Join(dir, "scored.log"),
					Baseline: &predicate.Baseline{Metrics: map[string]float64{"pass": 3}}})
			}
		}
	}
	b.ReportMetric(without.Seconds()/float64(b.N), "s-without/op")
	b.ReportMetric(with.Seconds()/float64(b.N), "s-with/op")
	b.ReportMetric(float64(with)/float64(without), "ratio")
}
