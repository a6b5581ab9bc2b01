package repograph

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// TestPackStoreReadsEveryObject reads every object of a repacked history
// and checks that its content hashes to its id, for packs whose deltas
// name their bases by offset and by id, and with a cache too small to keep
// any base.
func TestPackStoreReadsEveryObject(t *testing.T) {
	for _, c := range []struct {
		name      string
		useOffset bool
		deltaKind int
	}{
		{"offset deltas", true, packOFSDelta},
		{"ref deltas", false, packREFDelta},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "repo")
			_, err := gitfixture.Build(dir, syntheticHistory(300))
			require.NoError(t, err)
			git(t, dir, "-c", "repack.useDeltaBaseOffset="+strconv.FormatBool(c.useOffset),
				"repack", "-a", "-d", "-f", "-q", "--window=50", "--depth=50")
			r := openRepo(t, dir)
			require.NotNil(t, r.packs)
			require.Len(t, r.packs.packs, 1)
			p := r.packs.packs[0]

			kinds := map[int]int{}
			for i := range p.count {
				kind, _, _, err := p.header(p.offsetAt(i))
				require.NoError(t, err)
				kinds[kind]++
			}
			require.Positive(t, kinds[c.deltaKind], "the pack has deltas of the kind under test: %v", kinds)

			for _, budget := range []int{96 << 20, 64} {
				r.packs.cache = newBaseCache(budget)
				for i := range p.count {
					var h search.Hash
					copy(h[:], p.nameAt(i))
					typ, data, found, err := r.packs.read(h)
					require.NoError(t, err, h.String())
					require.True(t, found)
					assert.Equal(t, h, plumbing.ComputeHash(typ, data), "content of %s", h)
				}
			}
		})
	}
}

func TestApplyDelta(t *testing.T) {
	base := []byte("hello, world")
	// base size 12, result size 11: copy 5 bytes from offset 0, insert
	// " there" (6 bytes).
	delta := []byte{12, 11, 0x80 | 0x10, 5, 6, ' ', 't', 'h', 'e', 'r', 'e'}
	out, err := applyDelta(base, delta)
	require.NoError(t, err)
	assert.Equal(t, "hello there", string(out))

	for name, bad := range map[string][]byte{
		"wrong base size":      {11, 11, 0x80 | 0x10, 5, 6, ' ', 't', 'h', 'e', 'r', 'e'},
		"wrong result size":    {12, 12, 0x80 | 0x10, 5, 6, ' ', 't', 'h', 'e', 'r', 'e'},
		"copy past the base":   {12, 5, 0x80 | 0x01 | 0x10, 10, 5},
		"truncated copy":       {12, 5, 0x80 | 0x01 | 0x10, 10},
		"truncated insert":     {12, 6, 6, ' ', 't'},
		"reserved op 0":        {12, 1, 0},
		"no sizes":             {},
		"insert past result":   {12, 1, 2, 'a', 'b'},
		"copy past the result": {12, 2, 0x80 | 0x10, 5},
	} {
		_, err := applyDelta(base, bad)
		assert.Error(t, err, name)
	}
}

// Only delta bases are cached: reading the objects that no delta is based
// on leaves the cache empty, and reading a delta keeps its base.
func TestPackStoreCachesOnlyDeltaBases(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	_, err := gitfixture.Build(dir, syntheticHistory(300))
	require.NoError(t, err)
	git(t, dir, "repack", "-a", "-d", "-f", "-q", "--window=50", "--depth=50")
	r := openRepo(t, dir)
	p := r.packs.packs[0]

	isBase := map[int64]bool{}
	var delta search.Hash
	for i := range p.count {
		off := p.offsetAt(i)
		kind, _, pos, err := p.header(off)
		require.NoError(t, err)
		if kind == packOFSDelta {
			rel, _ := ofsDeltaDistance(p.data[pos:])
			isBase[off-rel] = true
			copy(delta[:], p.nameAt(i))
		}
	}
	require.False(t, delta.IsZero(), "the pack has offset deltas")
	for i := range p.count {
		kind, _, _, err := p.header(p.offsetAt(i))
		require.NoError(t, err)
		if kind == packOFSDelta || isBase[p.offsetAt(i)] {
			continue
		}
		var h search.Hash
		copy(h[:], p.nameAt(i))
		_, _, found, err := r.packs.read(h)
		require.NoError(t, err)
		require.True(t, found)
	}
	assert.Zero(t, r.packs.cache.used, "objects read for themselves are not cached")

	_, _, found, err := r.packs.read(delta)
	require.NoError(t, err)
	require.True(t, found)
	assert.Positive(t, r.packs.cache.used, "the delta's base is cached")
}
