package search

import (
	"crypto/sha1"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// largeHistory is a history shaped like git's own: a main line of merges
// of topic branches (1 to 12 commits, forked up to 300 main-line commits
// back) and direct commits, with mostly increasing dates and some skew.
// It returns the graph and the main line, oldest first.
func largeHistory(n int) (MemGraph, []Hash) {
	return randomHistory(rand.New(rand.NewPCG(1, 2)), n)
}

// randomHistory is largeHistory drawn from rng: the same shape, another
// history for each seed.
func randomHistory(rng *rand.Rand, n int) (MemGraph, []Hash) {
	g := make(MemGraph, n)
	hash := func(i int) Hash {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		return Hash(sha1.Sum(b[:]))
	}
	made := 0
	add := func(t int64, key Hash, parents ...Hash) Hash {
		h := hash(made)
		made++
		g[h] = MemNode{Parents: parents, CommitTime: t, PathKey: key}
		return h
	}
	key := func() Hash {
		// The bisection's paths change in about one commit in eight.
		if rng.IntN(8) == 0 {
			return hash(-1 - rng.IntN(1000))
		}
		return Hash{}
	}
	var main []Hash
	t := int64(1_000_000_000)
	main = append(main, add(t, Hash{}))
	for made < n {
		t += 600
		tip := main[len(main)-1]
		tipKey := g[tip].PathKey
		if rng.IntN(3) == 0 || len(main) < 300 {
			k := tipKey
			if nk := key(); !nk.IsZero() {
				k = nk
			}
			main = append(main, add(t+int64(rng.IntN(1200))-600, k, tip))
			continue
		}
		fork := main[len(main)-1-rng.IntN(300)]
		prev, prevKey := fork, g[fork].PathKey
		for k := 1 + rng.IntN(12); k > 0 && made < n-1; k-- {
			if nk := key(); !nk.IsZero() {
				prevKey = nk
			}
			prev = add(t-int64(rng.IntN(86400)), prevKey, prev)
		}
		// The merge takes the topic's paths when only the topic changed
		// them, and resolves them anew when both sides did.
		mergeKey := tipKey
		switch forkKey := g[fork].PathKey; {
		case prevKey != forkKey && tipKey == forkKey:
			mergeKey = prevKey
		case prevKey != forkKey:
			mergeKey = hash(-2000 - made)
		}
		main = append(main, add(t, mergeKey, tip, prev))
	}
	return g, main
}

// BenchmarkNext measures one step of a bisection of an 80,000-commit
// history, bad at the tip and good some main-line commits back.
func BenchmarkNext(b *testing.B) {
	g, main := largeHistory(80_000)
	for _, bc := range []struct {
		name string
		back int // main-line commits between good and bad
		st   func(State) State
		opt  Options
	}{
		{name: "range=2k", back: 600},
		{name: "range=10k", back: 3000},
		{name: "range=10k/skipped", back: 3000, st: func(st State) State {
			st.Skip = []Hash{main[len(main)-1500]}
			return st
		}},
		{name: "range=10k/first-parent", back: 3000, opt: Options{FirstParent: true}},
		{name: "range=10k/paths", back: 3000, opt: Options{Paths: true}},
		{name: "range=all", back: len(main) - 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := State{Bad: main[len(main)-1], Good: []Hash{main[len(main)-1-bc.back]}}
			if bc.st != nil {
				st = bc.st(st)
			}
			var step Step
			for b.Loop() {
				var err error
				if step, err = Next(g, st, bc.opt); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(step.Remaining), "candidates")
		})
	}
}
