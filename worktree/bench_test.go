package worktree

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sxbisect/sxbisect/internal/gitcmd"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

const (
	benchFiles        = 5000
	benchCommits      = 300
	benchChangedFiles = 5    // per commit
	benchBuildOutputs = 2000 // untracked files in the worktree
)

// largeRepo makes a repository of files files of about 1 KiB in three
// levels of directories, and benchCommits commits after the first that
// each change benchChangedFiles of them.
func largeRepo(b *testing.B, files int) (string, []string) {
	b.Helper()
	filePath := func(i int) string {
		return fmt.Sprintf("src%d/mod%d/pkg%d/file%d.c", i%10, i/10%10, i/100%5, i)
	}
	content := func(i, version int) string {
		return strings.Repeat(fmt.Sprintf("int f%d_%d(void) { return %d; }\n", i, version, i), 32)
	}
	first := gitfixture.Commit{Time: 1_000_000, Files: map[string]string{}}
	for i := 0; i < files; i++ {
		first.Files[filePath(i)] = content(i, 0)
	}
	commits := []gitfixture.Commit{first}
	for c := 1; c < benchCommits; c++ {
		changed := map[string]string{}
		for j := 0; j < benchChangedFiles; j++ {
			i := (c*7919 + j*1009) % files
			changed[filePath(i)] = content(i, c)
		}
		commits = append(commits, gitfixture.Commit{Parents: []int{c - 1}, Time: int64(1_000_000 + c), Files: changed})
	}
	dir := filepath.Join(b.TempDir(), "large")
	hashes, err := gitfixture.Build(dir, commits)
	if err != nil {
		b.Fatal(err)
	}
	return dir, hashes
}

// BenchmarkCreateWorktree compares making a new worktree checked out at a
// commit the pool's way (Acquire writes the admin files, Checkout runs git
// checkout) with `git worktree add --detach`, on a repository of 5000
// files, where writing them dominates, and on one of 100, where starting
// processes does. The two alternate within each iteration so that both
// see the same machine load, and the caches are written back between
// iterations. Besides wall time it measures CPU time (user and system, of
// this process and the git processes it waited for), which other load on
// the machine disturbs much less.
func BenchmarkCreateWorktree(b *testing.B) {
	for _, files := range []int{benchFiles, 100} {
		b.Run(fmt.Sprintf("files=%d", files), func(b *testing.B) { benchmarkCreateWorktree(b, files) })
	}
}

// cost is what one operation took.
type cost struct{ wall, cpu time.Duration }

// measure runs op and returns its wall time and the CPU time spent by this
// process and by the child processes it waited for meanwhile.
func measure(b *testing.B, op func() error) cost {
	cpu := func() time.Duration {
		var self, children syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, tv := range []syscall.Timeval{self.Utime, self.Stime, children.Utime, children.Stime} {
			total += time.Duration(tv.Nano())
		}
		return total
	}
	startCPU, start := cpu(), time.Now()
	err := op()
	c := cost{wall: time.Since(start), cpu: cpu() - startCPU}
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchmarkCreateWorktree(b *testing.B, files int) {
	ctx := context.Background()
	repo, commits := largeRepo(b, files)
	head := commits[len(commits)-1]
	// Both kinds of worktree side by side, so that the file system places
	// them alike.
	parent := b.TempDir()
	pool, err := Open(repo, Options{Dir: filepath.Join(parent, "pool")})
	if err != nil {
		b.Fatal(err)
	}
	addDir := filepath.Join(parent, "add")
	createWithPool := func(i int) cost {
		var w *Worktree
		c := measure(b, func() error {
			var err error
			if w, err = pool.Acquire(ctx, fmt.Sprintf("bench-%d", i)); err != nil {
				return err
			}
			return w.Checkout(ctx, head)
		})
		w.Release()
		return c
	}
	createWithWorktreeAdd := func(i int) cost {
		return measure(b, func() error {
			_, err := gitcmd.Runner{Config: []string{"advice.detachedHead=false"}}.Run(ctx, repo,
				"worktree", "add", "-q", "--detach", filepath.Join(addDir, fmt.Sprint(i)), head)
			return err
		})
	}
	var poolTotal, addTotal cost
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var withPool, withAdd cost
		if i%2 == 0 {
			withPool = createWithPool(i)
			withAdd = createWithWorktreeAdd(i)
		} else {
			withAdd = createWithWorktreeAdd(i)
			withPool = createWithPool(i)
		}
		poolTotal.wall += withPool.wall
		poolTotal.cpu += withPool.cpu
		addTotal.wall += withAdd.wall
		addTotal.cpu += withAdd.cpu
		b.StopTimer()
		// Keep the disk in the same state for every iteration.
		if err := pool.Remove(fmt.Sprintf("bench-%d", i)); err != nil {
			b.Fatal(err)
		}
		if _, err := gitfixture.Git(repo, "worktree", "remove", "--force", filepath.Join(addDir, fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
		// Write back the deleted and created files now rather than during
		// the next creation.
		syscall.Sync()
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(poolTotal.wall.Seconds()*1000/n, "pool-ms/op")
	b.ReportMetric(addTotal.wall.Seconds()*1000/n, "add-ms/op")
	b.ReportMetric(poolTotal.cpu.Seconds()*1000/n, "pool-cpu-ms/op")
	b.ReportMetric(addTotal.cpu.Seconds()*1000/n, "add-cpu-ms/op")
	b.ReportMetric(float64(poolTotal.wall)/float64(addTotal.wall), "pool/add-wall")
	b.ReportMetric(float64(poolTotal.cpu)/float64(addTotal.cpu), "pool/add-cpu")
}

// BenchmarkCheckoutNeighbour moves a warm worktree of 5000 files, with
// 2000 build outputs in it, back and forth between two neighbouring
// commits (5 files apart), and compares that with the first checkout into
// the empty worktree, which writes every file.
func BenchmarkCheckoutNeighbour(b *testing.B) {
	ctx := context.Background()
	repo, commits := largeRepo(b, benchFiles)
	pool, err := Open(repo, Options{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := pool.Acquire(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Release()
	middle := len(commits) / 2
	full := measure(b, func() error { return w.Checkout(ctx, commits[middle]) })
	for i := 0; i < benchBuildOutputs; i++ {
		out := filepath.Join(w.Path(), "build", fmt.Sprintf("obj%d", i%20), fmt.Sprintf("file%d.o", i))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, []byte("object code\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var neighbour cost
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := measure(b, func() error { return w.Checkout(ctx, commits[middle+1-i%2]) })
		neighbour.wall += c.wall
		neighbour.cpu += c.cpu
	}
	b.StopTimer()
	if _, err := os.Stat(filepath.Join(w.Path(), "build", "obj0", "file0.o")); err != nil {
		b.Fatal("a build output is gone:", err)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64(neighbour.wall/n)/1e6, "ms/checkout")
	b.ReportMetric(float64(neighbour.cpu/n)/1e6, "cpu-ms/checkout")
	b.ReportMetric(float64(full.wall)/1e6, "full-checkout-ms")
	b.ReportMetric(float64(full.wall)/float64(neighbour.wall/n), "full/neighbour-wall")
	b.ReportMetric(float64(full.cpu)/float64(neighbour.cpu/n), "full/neighbour-cpu")
}

// submoduleRepo makes a repository of files files, like largeRepo's first
// commit, with a submodule at lib cloned from a local repository of 200
// files, and returns it with three commits: the second changes one file of
// the first, and the third moves the submodule to its next commit.
func submoduleRepo(b *testing.B, files int) (string, []string) {
	b.Helper()
	git := func(dir string, args ...string) string {
		out, err := gitfixture.Git(dir, args...)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	subFiles := map[string]string{}
	for i := 0; i < 200; i++ {
		subFiles[fmt.Sprintf("sub%d.c", i)] = fmt.Sprintf("int s%d;\n", i)
	}
	sub := filepath.Join(b.TempDir(), "sub")
	subCommits, err := gitfixture.Build(sub, []gitfixture.Commit{
		{Time: 1_000_000, Files: subFiles},
		{Parents: []int{0}, Time: 1_000_001, Files: map[string]string{"sub0.c": "int s0_1;\n"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	first := gitfixture.Commit{Time: 1_000_000, Files: map[string]string{
		".gitmodules": "[submodule \"lib\"]\n\tpath = lib\n\turl = " + sub + "\n",
	}}
	for i := 0; i < files; i++ {
		first.Files[fmt.Sprintf("src%d/mod%d/file%d.c", i%10, i/10%10, i)] = fmt.Sprintf("int f%d;\n", i)
	}
	dir := filepath.Join(b.TempDir(), "super")
	if _, err := gitfixture.Build(dir, []gitfixture.Commit{first}); err != nil {
		b.Fatal(err)
	}
	var commits []string
	commit := func() {
		git(dir, "commit", "-q", "-m", fmt.Sprint("commit ", len(commits)))
		commits = append(commits, git(dir, "rev-parse", "HEAD"))
	}
	git(dir, "update-index", "--add", "--cacheinfo", "160000,"+subCommits[0]+",lib")
	commit()
	if err := os.WriteFile(filepath.Join(dir, "src0", "mod0", "file0.c"), []byte("int f0_1;\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	git(dir, "add", "src0/mod0/file0.c")
	commit()
	git(dir, "update-index", "--cacheinfo", "160000,"+subCommits[1]+",lib")
	commit()
	git(dir, "submodule", "init") // the checkout uses lib, so worktrees check it out
	return dir, commits
}

// BenchmarkCheckoutSubmoduleNeighbour moves a worktree of a repository of
// 4000 files and one submodule, about the size of git's own, back and
// forth between two neighbouring commits. "same" is the usual step, where
// the submodule stays at one commit: Checkout compares the two trees and
// runs nothing else. "every-step" is the same move followed by a
// `git submodule update`, what it costs to update at every step, "moves"
// a step where the submodule changes (the comparison, then the update),
// and "skipped" a worktree told to leave submodules alone, as a session
// whose submodules cannot be cloned does: the bare cost of the checkout.
func BenchmarkCheckoutSubmoduleNeighbour(b *testing.B) {
	for _, mode := range []string{"same", "every-step", "moves", "skipped"} {
		b.Run(mode, func(b *testing.B) { benchmarkCheckoutSubmodule(b, mode) })
	}
}

func benchmarkCheckoutSubmodule(b *testing.B, mode string) {
	ctx := context.Background()
	repo, commits := submoduleRepo(b, 4000)
	pool, err := Open(repo, Options{GitConfig: []string{"protocol.file.allow=always"}})
	if err != nil {
		b.Fatal(err)
	}
	w, err := pool.Acquire(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Release()
	from, to := commits[0], commits[1]
	if mode == "moves" {
		from, to = commits[1], commits[2]
	}
	// The first checkout clones the submodule.
	if err := w.Checkout(ctx, from); err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.Path(), "lib", "sub1.c")); err != nil {
		b.Fatal("the submodule was not checked out:", err)
	}
	step := func(commit string) error { return w.Checkout(ctx, commit) }
	switch mode {
	case "skipped":
		w.SkipSubmodules()
	case "every-step":
		w.SkipSubmodules()
		step = func(commit string) error {
			if err := w.Checkout(ctx, commit); err != nil {
				return err
			}
			_, err := w.pool.git.runHolding(ctx, w.path, w.lock, "submodule", "update", "--recursive", "--force")
			return err
		}
	}
	var total cost
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		commit := to
		if i%2 == 1 {
			commit = from
		}
		c := measure(b, func() error { return step(commit) })
		total.wall += c.wall
		total.cpu += c.cpu
	}
	b.StopTimer()
	if mode == "moves" {
		last, want := to, "int s0_1;\n"
		if b.N%2 == 0 {
			last, want = from, "int s0;\n"
		}
		if got, err := gitfixture.Git(w.Path(), "rev-parse", "HEAD"); err != nil || got != last {
			b.Fatalf("HEAD is %s, not %s (%v)", got, last, err)
		}
		got, err := os.ReadFile(filepath.Join(w.Path(), "lib", "sub0.c"))
		if err != nil || string(got) != want {
			b.Fatalf("the submodule is not at the recorded commit: %q, %v", got, err)
		}
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64(total.wall/n)/1e6, "ms/checkout")
	b.ReportMetric(float64(total.cpu/n)/1e6, "cpu-ms/checkout")
}
