package bisect

import (
	"context"
	"sync"
)

// judgeGate lets benches judge their commits a few at a time, in slots,
// and of the benches waiting, the one whose commit the scheduler needs
// most first: measured runs side by side on the same cores would disturb
// each other, and a suite that must run alone would not. A slot may come
// with cores of its own (see corePlan), which every run of the judgement
// is confined to; without cores set apart there is one slot. Benches
// build freely meanwhile, on the builds' cores, so the next commits are
// ready when their turn comes.
type judgeGate struct {
	mu sync.Mutex
	// slots are the judgements that may go at once, with their cores;
	// busy says which are taken.
	slots [][]int
	busy  []bool
	// build are the cores of builds, none for any.
	build   []int
	order   map[string]int
	waiting map[string]chan int
}

// newJudgeGate makes a gate for plan's slots (one without cores when it
// has none).
func newJudgeGate(plan corePlan) *judgeGate {
	slots := plan.slots
	if len(slots) == 0 {
		slots = [][]int{nil}
	}
	return &judgeGate{slots: slots, busy: make([]bool, len(slots)), build: plan.build,
		order: map[string]int{}, waiting: map[string]chan int{}}
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

// enter waits for commit's turn to judge and returns its slot; leave must
// follow a nil error.
func (g *judgeGate) enter(ctx context.Context, commit string) (int, error) {
	g.mu.Lock()
	if slot := g.freeSlot(); slot >= 0 {
		g.busy[slot] = true
		g.mu.Unlock()
		return slot, nil
	}
	turn := make(chan int, 1)
	g.waiting[commit] = turn
	g.mu.Unlock()
	select {
	case slot := <-turn:
		return slot, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, waiting := g.waiting[commit]; waiting {
			delete(g.waiting, commit)
		} else {
			// The turn came as the wait was cancelled: pass it on.
			g.busy[<-turn] = false
			g.grant()
		}
		return -1, ctx.Err()
	}
}

// cpus are the cores of slot, none for any.
func (g *judgeGate) cpus(slot int) []int { return g.slots[slot] }

// leave ends a turn and gives the slot to the waiting commit that comes
// first in the scheduler's order.
func (g *judgeGate) leave(slot int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.busy[slot] = false
	g.grant()
}

func (g *judgeGate) freeSlot() int {
	for i, busy := range g.busy {
		if !busy {
			return i
		}
	}
	return -1
}

// grant gives free slots to the waiting commits, most needed first.
func (g *judgeGate) grant() {
	for len(g.waiting) > 0 {
		slot := g.freeSlot()
		if slot < 0 {
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
		g.busy[slot] = true
		g.waiting[best] <- slot
		delete(g.waiting, best)
	}
}
