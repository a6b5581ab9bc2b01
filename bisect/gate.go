package bisect

import (
	"context"
	"sync"
)

// judgeGate lets one bench at a time judge its commit, and of the benches
// waiting, the one whose commit the scheduler needs most: with no cores
// set apart for each bench, measured runs side by side would disturb each
// other, and a suite that must run alone would not. Benches build freely
// meanwhile, so the next commits are ready when their turn comes.
type judgeGate struct {
	mu      sync.Mutex
	busy    bool
	order   map[string]int
	waiting map[string]chan struct{}
}

func newJudgeGate() *judgeGate {
	return &judgeGate{order: map[string]int{}, waiting: map[string]chan struct{}{}}
}

// prioritize tells the gate the scheduler's order of commits, most needed
// first.
func (g *judgeGate) prioritize(commits []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.order = map[string]int{}
	for i, c := range commits {
		g.order[c] = i
	}
}

// enter waits for commit's turn to judge; leave must follow a nil error.
func (g *judgeGate) enter(ctx context.Context, commit string) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	g.waiting[commit] = turn
	g.mu.Unlock()
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, waiting := g.waiting[commit]; waiting {
			delete(g.waiting, commit)
		} else {
			// The turn came as the wait was cancelled: pass it on.
			g.busy = false
			g.grant()
		}
		return ctx.Err()
	}
}

// leave ends a turn and gives the next to the waiting commit that comes
// first in the scheduler's order.
func (g *judgeGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy = false
	g.grant()
}

func (g *judgeGate) grant() {
	if g.busy || len(g.waiting) == 0 {
		return
	}
	best, rank := "", int(^uint(0)>>1)
	for c := range g.waiting {
		r, known := g.order[c]
		if !known {
			r = len(g.order) + 1
		}
		if r < rank || r == rank && c < best {
			best, rank = c, r
		}
	}
	g.busy = true
	close(g.waiting[best])
	delete(g.waiting, best)
}
