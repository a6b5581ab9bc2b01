package gitfixture

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuildMakesMergesRootsAndDates(t *testing.T) {
	dir := t.TempDir()
	hashes, err := Build(dir, []Commit{
		{Time: 1000, Files: map[string]string{"a": "1"}},
		{Parents: []int{0}, Time: 2000, Files: map[string]string{"a": "2"}},
		{Parents: []int{0}, Time: 1500, Files: map[string]string{"b": "x"}},
		{Parents: []int{1, 2}, Time: 3000, Message: "merge"},
	})
	require.NoError(t, err)
	require.Len(t, hashes, 4)
	parents, err := Git(dir, "log", "-1", "--format=%P %ct %s", hashes[3])
	require.NoError(t, err)
	require.Equal(t, hashes[1]+" "+hashes[2]+" 3000 merge", parents)
	head, err := Git(dir, "rev-parse", "HEAD")
	require.NoError(t, err)
	require.Equal(t, hashes[3], head)
	// The merge keeps the first parent's tree.
	a, err := Git(dir, "show", hashes[3]+":a")
	require.NoError(t, err)
	require.Equal(t, "2", a)
}
