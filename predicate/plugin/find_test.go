package plugin_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/plugin"
)

// writeFile makes path with mode, and its directory.
func writeFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\necho '{\"verdict\": \"good\"}'\n"), mode))
	require.NoError(t, os.Chmod(path, mode)) // the umask does not apply
}

// pathDirs lays out three PATH directories:
//
//	a/  sxbisect-predicate-x (executable), sxbisect-predicate-link -> b's y
//	b/  sxbisect-predicate-x (executable, shadowed by a's), sxbisect-predicate-y
//	c/  sxbisect-predicate-z (not executable), sxbisect-predicate-d/ (a directory),
//	    sxbisect-predicate- (no name), other-program, sxbisect-predicate-w
func pathDirs(t *testing.T) (a, b, c string) {
	root := t.TempDir()
	a, b, c = filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	writeFile(t, filepath.Join(a, "sxbisect-predicate-x"), 0o755)
	writeFile(t, filepath.Join(b, "sxbisect-predicate-x"), 0o755)
	writeFile(t, filepath.Join(b, "sxbisect-predicate-y"), 0o700)
	require.NoError(t, os.Symlink(filepath.Join(b, "sxbisect-predicate-y"), filepath.Join(a, "sxbisect-predicate-link")))
	writeFile(t, filepath.Join(c, "sxbisect-predicate-z"), 0o644)
	require.NoError(t, os.MkdirAll(filepath.Join(c, "sxbisect-predicate-d"), 0o755))
	writeFile(t, filepath.Join(c, "sxbisect-predicate-"), 0o755)
	writeFile(t, filepath.Join(c, "other-program"), 0o755)
	writeFile(t, filepath.Join(c, "sxbisect-predicate-w"), 0o755)
	return a, b, c
}

func TestFindInPathOrder(t *testing.T) {
	t.Parallel()
	a, b, c := pathDirs(t)
	path := strings.Join([]string{filepath.Join(a, "missing"), a, b, c}, string(os.PathListSeparator))

	got, err := plugin.Find("x", path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(a, "sxbisect-predicate-x"), got, "the first directory wins")

	got, err = plugin.Find("y", path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(b, "sxbisect-predicate-y"), got)

	got, err = plugin.Find("link", path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(a, "sxbisect-predicate-link"), got, "a symbolic link to a program is one")

	got, err = plugin.Find("w", path)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(c, "sxbisect-predicate-w"), got)
}

func TestFindMisses(t *testing.T) {
	t.Parallel()
	a, b, c := pathDirs(t)
	path := strings.Join([]string{a, b, c}, string(os.PathListSeparator))
	for _, name := range []string{"z", "d", "nope", "other-program"} {
		_, err := plugin.Find(name, path)
		var nf *plugin.NotFoundError
		require.True(t, errors.As(err, &nf), "%s: %v", name, err)
		assert.EqualError(t, err, "no predicate "+name+": not built in, and no sxbisect-predicate-"+name+" on PATH")
	}
	for _, name := range []string{"", "../c/sxbisect-predicate-w", "a/b"} {
		_, err := plugin.Find(name, path)
		assert.Error(t, err, "%q", name)
	}
}

func TestFindIgnoresRelativeDirectories(t *testing.T) {
	a, _, _ := pathDirs(t)
	t.Chdir(a)
	for _, path := range []string{".", "", ":", "./"} {
		_, err := plugin.Find("x", path)
		assert.Error(t, err, "PATH %q", path)
	}
	got, err := plugin.Find("x", ".:"+a)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(a, "sxbisect-predicate-x"), got)
}

func TestList(t *testing.T) {
	t.Parallel()
	a, b, c := pathDirs(t)
	path := strings.Join([]string{a, "relative", filepath.Join(a, "missing"), b, c}, string(os.PathListSeparator))
	assert.Equal(t, []plugin.Found{
		{Name: "link", Path: filepath.Join(a, "sxbisect-predicate-link")},
		{Name: "w", Path: filepath.Join(c, "sxbisect-predicate-w")},
		{Name: "x", Path: filepath.Join(a, "sxbisect-predicate-x")},
		{Name: "y", Path: filepath.Join(b, "sxbisect-predicate-y")},
	}, plugin.List(path))
	assert.Empty(t, plugin.List(""))
}

func TestListing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sxbisect-predicate-markers"), 0o755)
	writeFile(t, filepath.Join(dir, "sxbisect-predicate-exit-code"), 0o755)
	entries := plugin.Listing(dir)
	index := func(want plugin.Entry) int {
		for i, e := range entries {
			if e == want {
				return i
			}
		}
		t.Fatalf("no entry %v in %v", want, entries)
		return -1
	}
	builtin := index(plugin.Entry{Name: "exit-code", What: "built in: " + predicate.Description("exit-code")})
	shadowed := index(plugin.Entry{Name: "exit-code", What: filepath.Join(dir, "sxbisect-predicate-exit-code") + " (not used: the predicate built in comes first)"})
	markers := index(plugin.Entry{Name: "markers", What: filepath.Join(dir, "sxbisect-predicate-markers")})
	assert.Less(t, builtin, shadowed)
	assert.Less(t, shadowed, markers)
}
