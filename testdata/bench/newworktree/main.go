// Command newworktree times what sxbisect does when its pool needs a new
// scratch worktree: open a pool in a fresh directory, Acquire (which writes
// the admin files) and Checkout the commit (a full checkout of every file).
//
//	go run ./testdata/bench/newworktree -repo DIR -pool FRESHDIR -commit SHA
//
// It prints the elapsed seconds on stdout. Only Acquire and Checkout are
// timed, not this program's start nor the Open of the pool, because inside
// sxbisect those are paid once per session, not per worktree. With -remove,
// the worktree and the pool are removed afterwards (untimed), so that
// repeated runs start from the same state.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/sxbisect/sxbisect/worktree"
)

func main() {
	repo := flag.String("repo", ".", "the repository")
	dir := flag.String("pool", "", "a directory for the pool that does not exist yet")
	commit := flag.String("commit", "", "the commit to check out")
	remove := flag.Bool("remove", false, "remove the worktree and the pool afterwards")
	flag.Parse()
	if *dir == "" || *commit == "" {
		fmt.Fprintln(os.Stderr, "usage: newworktree -repo DIR -pool FRESHDIR -commit SHA [-remove]")
		os.Exit(2)
	}
	if err := run(*repo, *dir, *commit, *remove); err != nil {
		fmt.Fprintln(os.Stderr, "newworktree:", err)
		os.Exit(1)
	}
}

func run(repo, dir, commit string, remove bool) error {
	ctx := context.Background()
	pool, err := worktree.Open(repo, worktree.Options{Dir: dir})
	if err != nil {
		return err
	}
	start := time.Now()
	w, err := pool.Acquire(ctx, "")
	if err != nil {
		return err
	}
	if err := w.Checkout(ctx, commit); err != nil {
		return err
	}
	elapsed := time.Since(start)
	if err := w.Release(); err != nil {
		return err
	}
	fmt.Printf("%.3f\n", elapsed.Seconds())
	if remove {
		return pool.RemoveAll()
	}
	return nil
}
