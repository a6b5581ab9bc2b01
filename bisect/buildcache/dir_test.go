package buildcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, content string, mode fs.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), mode))
	require.NoError(t, os.Chmod(path, mode))
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}

func key(s string) Key {
	return Inputs{Command: "make", Trees: []Tree{{Path: ".", ID: s}}}.Key()
}

func openCache(t *testing.T, limit int64) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "cache"), limit)
	require.NoError(t, err)
	return d
}

// TestStoreAndRestore keeps a build's outputs (a directory with a
// subdirectory, an executable and a symbolic link, and a file alone) and
// restores them into a worktree where they were changed, removed and
// added to: afterwards the outputs are exactly the build's, and nothing
// else in the worktree moved.
func TestStoreAndRestore(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	built := t.TempDir()
	write(t, filepath.Join(built, "out", "bin"), "#!/bin/sh\necho built\n", 0o755)
	write(t, filepath.Join(built, "out", "lib", "a.txt"), "a\n", 0o644)
	require.NoError(t, os.Symlink("bin", filepath.Join(built, "out", "link")))
	write(t, filepath.Join(built, "single"), "single\n", 0o600)
	k := key("t1")
	e, err := d.Store(ctx, k, Build{Commit: "c1", Seconds: 21, Dir: built, Outputs: []string{"single", "out/"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"out", "single"}, e.Outputs)
	assert.Equal(t, int64(len("#!/bin/sh\necho built\n")+len("a\n")+len("single\n")), e.Bytes())

	got, err := d.Lookup(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, "c1", got.Commit)
	assert.Equal(t, 21.0, got.Seconds)
	assert.Equal(t, e.Digest(), got.Digest())

	wt := t.TempDir()
	write(t, filepath.Join(wt, "out", "bin"), "stale\n", 0o644)
	write(t, filepath.Join(wt, "out", "stale.o"), "stale\n", 0o644)
	write(t, filepath.Join(wt, "single"), "stale\n", 0o644)
	write(t, filepath.Join(wt, "src", "main.c"), "source\n", 0o644)
	require.NoError(t, d.Restore(ctx, got, wt))

	assert.Equal(t, "#!/bin/sh\necho built\n", read(t, filepath.Join(wt, "out", "bin")))
	assert.Equal(t, "a\n", read(t, filepath.Join(wt, "out", "lib", "a.txt")))
	assert.Equal(t, "single\n", read(t, filepath.Join(wt, "single")))
	assert.Equal(t, "source\n", read(t, filepath.Join(wt, "src", "main.c")), "only outputs are touched")
	_, err = os.Lstat(filepath.Join(wt, "out", "stale.o"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "an output directory is replaced as a whole")
	target, err := os.Readlink(filepath.Join(wt, "out", "link"))
	require.NoError(t, err)
	assert.Equal(t, "bin", target)
	for path, mode := range map[string]fs.FileMode{"out/bin": 0o755, "out/lib/a.txt": 0o644, "single": 0o600} {
		fi, err := os.Stat(filepath.Join(wt, path))
		require.NoError(t, err)
		assert.Equal(t, mode, fi.Mode().Perm(), path)
	}
	// Nothing of the restore's own is left in the worktree.
	var names []string
	require.NoError(t, filepath.WalkDir(wt, func(p string, _ fs.DirEntry, err error) error {
		names = append(names, filepath.Base(p))
		return err
	}))
	for _, n := range names {
		assert.NotContains(t, n, "sxbisect")
	}
}

// TestMissingOutputKeepsNothing: a build that did not make a declared
// output is not kept, so that a mistyped --build-output cannot restore
// half a build.
func TestMissingOutputKeepsNothing(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	built := t.TempDir()
	write(t, filepath.Join(built, "out", "bin"), "x", 0o755)
	k := key("t2")
	_, err := d.Store(ctx, k, Build{Commit: "c", Dir: built, Outputs: []string{"out", "_build/sx.exe"}})
	var missing *MissingOutputError
	require.ErrorAs(t, err, &missing)
	assert.Equal(t, "_build/sx.exe", missing.Path)
	e, err := d.Lookup(ctx, k)
	require.NoError(t, err)
	assert.Nil(t, e)
}

// TestFailedBuildIsKept: a failure comes back with its reason and tail,
// and has nothing to restore.
func TestFailedBuildIsKept(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	k := key("t3")
	_, err := d.Store(ctx, k, Build{Commit: "c3", Failed: true, Reason: "build failed (exit 2): no rule", Tail: "make: no rule\n"})
	require.NoError(t, err)
	e, err := d.Lookup(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, e)
	assert.True(t, e.Failed)
	assert.Equal(t, "build failed (exit 2): no rule", e.Reason)
	assert.Equal(t, "make: no rule\n", e.Tail)
	assert.Empty(t, e.Digest())
	assert.Error(t, d.Restore(ctx, e, t.TempDir()))
}

// TestDamagedContentIsForgotten: a content changed on disk fails the
// restore with ErrDamaged, and the entry is a miss from then on, so that
// the next build stores it again.
func TestDamagedContentIsForgotten(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	built := t.TempDir()
	write(t, filepath.Join(built, "bin"), "good content", 0o755)
	k := key("t4")
	e, err := d.Store(ctx, k, Build{Commit: "c", Dir: built, Outputs: []string{"bin"}})
	require.NoError(t, err)
	obj := d.objectPath(e.Files[0].Hash)
	require.NoError(t, os.Chmod(obj, 0o644))
	require.NoError(t, os.WriteFile(obj, []byte("evil content"), 0o644))

	wt := t.TempDir()
	err = d.Restore(ctx, e, wt)
	require.ErrorIs(t, err, ErrDamaged)
	_, err = os.Lstat(filepath.Join(wt, "bin"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "no damaged content reaches the worktree")
	again, err := d.Lookup(ctx, k)
	require.NoError(t, err)
	assert.Nil(t, again)

	// Stored again, it restores.
	e, err = d.Store(ctx, k, Build{Commit: "c", Dir: built, Outputs: []string{"bin"}})
	require.NoError(t, err)
	require.NoError(t, d.Restore(ctx, e, wt))
	assert.Equal(t, "good content", read(t, filepath.Join(wt, "bin")))
}

// TestRestoreRefusesSymlinkedParents: an output reached through a
// symbolic link in the worktree could make a restore remove or write
// files outside it.
func TestRestoreRefusesSymlinkedParents(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	built := t.TempDir()
	write(t, filepath.Join(built, "_build", "bin"), "x", 0o755)
	e, err := d.Store(ctx, key("t5"), Build{Commit: "c", Dir: built, Outputs: []string{"_build/bin"}})
	require.NoError(t, err)
	outside := t.TempDir()
	write(t, filepath.Join(outside, "bin"), "precious", 0o644)
	wt := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(wt, "_build")))
	err = d.Restore(ctx, e, wt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "symbolic link")
	assert.Equal(t, "precious", read(t, filepath.Join(outside, "bin")))
}

// TestOpenRefusesADirectoryThatIsNotACache: eviction deletes files, so a
// directory that holds anything and is not a cache is never used.
func TestOpenRefusesADirectoryThatIsNotACache(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "notes.txt"), "mine", 0o644)
	_, err := Open(dir, 1<<30)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a build cache")
	_, err = Open(filepath.Join(dir, "new"), 1<<30)
	require.NoError(t, err)
	_, err = Open(filepath.Join(dir, "new"), 1<<30)
	require.NoError(t, err, "a cache opens again")
}

// TestLeastRecentlyUsedIsEvicted keeps a cache with room for three
// builds: a fourth evicts the entry used least recently (not the oldest
// stored, which a lookup used since) and its contents, and the cache ends
// under its limit.
func TestLeastRecentlyUsedIsEvicted(t *testing.T) {
	ctx := context.Background()
	const size = 10000
	d := openCache(t, 3*size+3*2000) // three contents and their manifests
	stored := map[string]*Entry{}
	past := time.Now().Add(-time.Hour)
	for i, name := range []string{"a", "b", "c"} {
		built := t.TempDir()
		write(t, filepath.Join(built, "bin"), strings.Repeat(name, size), 0o755)
		e, err := d.Store(ctx, key(name), Build{Commit: name, Dir: built, Outputs: []string{"bin"}})
		require.NoError(t, err)
		stored[name] = e
		// Stored in this order, a second apart.
		at := past.Add(time.Duration(i) * time.Second)
		require.NoError(t, os.Chtimes(d.ManifestPath(key(name)), at, at))
	}
	n, bytes, err := d.Usage()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	// a, the oldest, is used now; b is the least recently used.
	e, err := d.Lookup(ctx, key("a"))
	require.NoError(t, err)
	require.NotNil(t, e)

	built := t.TempDir()
	write(t, filepath.Join(built, "bin"), strings.Repeat("d", size), 0o755)
	_, err = d.Store(ctx, key("d"), Build{Commit: "d", Dir: built, Outputs: []string{"bin"}})
	require.NoError(t, err)
	for name, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		e, err := d.Lookup(ctx, key(name))
		require.NoError(t, err)
		assert.Equal(t, want, e != nil, "entry %s kept", name)
	}
	_, err = os.Stat(d.objectPath(stored["b"].Files[0].Hash))
	assert.ErrorIs(t, err, fs.ErrNotExist, "b's content went with it")
	n, after, err := d.Usage()
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.LessOrEqual(t, after, d.limit)
	assert.Greater(t, bytes, int64(3*size))
}

// TestSharedContentIsKeptWhileNamed: two entries with the same output
// share one content, which an eviction of one of them leaves to the other.
func TestSharedContentIsKeptWhileNamed(t *testing.T) {
	ctx := context.Background()
	d := openCache(t, 1<<30)
	built := t.TempDir()
	write(t, filepath.Join(built, "bin"), "same", 0o755)
	e1, err := d.Store(ctx, key("x1"), Build{Commit: "x1", Dir: built, Outputs: []string{"bin"}})
	require.NoError(t, err)
	e2, err := d.Store(ctx, key("x2"), Build{Commit: "x2", Dir: built, Outputs: []string{"bin"}})
	require.NoError(t, err)
	assert.Equal(t, e1.Digest(), e2.Digest(), "the same outputs, whatever the commit")
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(d.ManifestPath(key("x1")), past, past))
	_, bytes, err := d.Usage()
	require.NoError(t, err)
	d.limit = bytes - 1 // room for all but one manifest
	require.NoError(t, d.evict())
	gone, err := d.Lookup(ctx, key("x1"))
	require.NoError(t, err)
	assert.Nil(t, gone)
	kept, err := d.Lookup(ctx, key("x2"))
	require.NoError(t, err)
	require.NotNil(t, kept)
	wt := t.TempDir()
	require.NoError(t, d.Restore(ctx, kept, wt))
	assert.Equal(t, "same", read(t, filepath.Join(wt, "bin")))
}

// TestConcurrentStoresOfOneKey has writers store one key at once, each
// from its own worktree with its own content, beside restorers and
// evictions under a limit small enough to evict: every restore that
// succeeds gives one writer's whole build, never a mix, and afterwards
// every content in the cache matches its name and no temporary file is
// left.
func TestConcurrentStoresOfOneKey(t *testing.T) {
	ctx := context.Background()
	const writers, rounds = 6, 8
	d := openCache(t, 1<<30)
	k := key("shared")
	variants := make([]string, writers)
	for i := range variants {
		variants[i] = t.TempDir()
		for _, f := range []string{"a", "b", "c"} {
			write(t, filepath.Join(variants[i], "out", f), fmt.Sprintf("%s from writer %d %s\n", f, i, strings.Repeat("x", 5000)), 0o644)
		}
	}
	// A second cache value on the same directory, as another process
	// has, with a limit that makes every store evict something.
	other, err := Open(d.Path(), 40000)
	require.NoError(t, err)
	var writing, reading sync.WaitGroup
	var restored atomic.Int32
	errs := make(chan error, 1000)
	done := make(chan struct{})
	for i := 0; i < writers; i++ {
		writing.Add(1)
		go func(i int) {
			defer writing.Done()
			c := d
			if i%2 == 1 {
				c = other
			}
			for r := 0; r < rounds; r++ {
				if _, err := c.Store(ctx, k, Build{Commit: fmt.Sprint(i), Dir: variants[i], Outputs: []string{"out"}}); err != nil {
					errs <- err
				}
				// Other keys, for the eviction to have work.
				if _, err := c.Store(ctx, key(fmt.Sprint(i, r)), Build{Commit: "x", Dir: variants[i], Outputs: []string{"out/a"}}); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	for i := 0; i < 2; i++ {
		reading.Add(1)
		go func() {
			defer reading.Done()
			wt := t.TempDir()
			for {
				select {
				case <-done:
					return
				default:
				}
				e, err := d.Lookup(ctx, k)
				if err != nil || e == nil {
					continue
				}
				if err := d.Restore(ctx, e, wt); err != nil {
					// Evicted between the lookup and the restore: a miss.
					continue
				}
				restored.Add(1)
				w := e.Commit
				for _, f := range []string{"a", "b", "c"} {
					data, err := os.ReadFile(filepath.Join(wt, "out", f))
					if err != nil || !strings.HasPrefix(string(data), f+" from writer "+w+" ") {
						errs <- fmt.Errorf("restored %s of writer %s: %q (%v)", f, w, data[:min(len(data), 30)], err)
					}
				}
			}
		}()
	}
	writing.Wait()
	close(done)
	reading.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.Positive(t, restored.Load(), "restores ran beside the stores")
	require.NoError(t, d.evict())
	err = filepath.WalkDir(filepath.Join(d.Path(), objectsDir), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		sum := sha256.Sum256(data)
		assert.Equal(t, de.Name(), hex.EncodeToString(sum[:]), "content %s", p)
		return nil
	})
	require.NoError(t, err)
	// Every entry left restores: none names a content that is gone.
	st, err := d.scan()
	require.NoError(t, err)
	require.NotEmpty(t, st.entries)
	for _, kept := range st.entries {
		k := Key(strings.TrimSuffix(filepath.Base(kept.path), ".json"))
		e, err := d.Lookup(ctx, k)
		require.NoError(t, err)
		require.NotNil(t, e, kept.path)
		assert.NoError(t, d.Restore(ctx, e, t.TempDir()), "entry %s", k)
	}
	tmps, err := os.ReadDir(filepath.Join(d.Path(), tmpDir))
	require.NoError(t, err)
	assert.Empty(t, tmps)
}

func TestKeyCoversItsInputs(t *testing.T) {
	base := Inputs{Command: "make", Trees: []Tree{{Path: "src", ID: "t1"}, {Path: "Makefile", ID: "b1"}}, Env: []string{"CC=gcc", "CFLAGS"}}
	same := Inputs{Command: "make", Trees: []Tree{{Path: "Makefile", ID: "b1"}, {Path: "src", ID: "t1"}}, Env: []string{"CFLAGS", "CC=gcc"}}
	assert.Equal(t, base.Key(), same.Key(), "order does not matter")
	assert.True(t, base.Key().valid())
	for name, in := range map[string]Inputs{
		"command":    {Command: "make -j", Trees: base.Trees, Env: base.Env},
		"tree":       {Command: "make", Trees: []Tree{{Path: "src", ID: "t2"}, {Path: "Makefile", ID: "b1"}}, Env: base.Env},
		"absent":     {Command: "make", Trees: []Tree{{Path: "src", ID: "t1"}, {Path: "Makefile", ID: ""}}, Env: base.Env},
		"env value":  {Command: "make", Trees: base.Trees, Env: []string{"CC=clang", "CFLAGS"}},
		"env set":    {Command: "make", Trees: base.Trees, Env: []string{"CC=gcc", "CFLAGS="}},
		"submodules": {Command: "make", Trees: base.Trees, Env: base.Env, NoSubmodules: true},
	} {
		assert.NotEqual(t, base.Key(), in.Key(), name)
	}
}

func TestPaths(t *testing.T) {
	in, err := InputPaths([]string{"src/", "src/lib", "a", "a-b", "a/b", "hosts/ocaml"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "a-b", "hosts/ocaml", "src"}, in, "paths inside another are covered by it")
	in, err = InputPaths([]string{"src", "."})
	require.NoError(t, err)
	assert.Nil(t, in, "the top is the whole tree")

	out, err := OutputPaths([]string{"hosts/ocaml/_build/default/bin/sx_server.exe", "out/"})
	require.NoError(t, err)
	assert.Equal(t, []string{"hosts/ocaml/_build/default/bin/sx_server.exe", "out"}, out)
	for _, bad := range [][]string{{"."}, {"../x"}, {"/abs"}, {".git/x"}, {"out", "out/bin"}, {""}, {"a\nb"}} {
		_, err := OutputPaths(bad)
		assert.Error(t, err, "%q", bad)
	}
}
