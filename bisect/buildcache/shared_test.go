package buildcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memoryShared is a shared tier in memory, as an object store keeps one:
// a put replaces a key's stream whole.
type memoryShared struct {
	mu      sync.Mutex
	streams map[Key][]byte
	puts    int
}

func (m *memoryShared) Get(_ context.Context, key Key) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.streams[key]
	if !ok {
		return nil, nil
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memoryShared) Has(_ context.Context, key Key) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.streams[key]
	return ok, nil
}

func (m *memoryShared) Put(_ context.Context, key Key, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams == nil {
		m.streams = map[Key][]byte{}
	}
	m.streams[key] = data
	m.puts++
	return nil
}

func (m *memoryShared) Where() string { return "memory" }

// builtTree is a worktree holding a build's outputs.
func builtTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "out", "bin"), "#!/bin/sh\necho built\n", 0o755)
	write(t, filepath.Join(dir, "out", "lib", "a.txt"), "a\n", 0o644)
	require.NoError(t, os.Symlink("bin", filepath.Join(dir, "out", "link")))
	return dir
}

// A build kept on one machine is restored on another, whose local cache
// then holds it; a failure is shared too; a key the shared tier holds
// already is not put again.
func TestTieredSharesBuildsBetweenMachines(t *testing.T) {
	ctx := context.Background()
	shared := &memoryShared{}
	one := &Tiered{Local: openCache(t, 1<<30), Shared: shared}
	two := &Tiered{Local: openCache(t, 1<<30), Shared: shared}
	k, failed := key("built"), key("failed")
	e, err := one.Store(ctx, k, Build{Commit: "c1", Seconds: 3, Dir: builtTree(t), Outputs: []string{"out"}})
	require.NoError(t, err)
	_, err = one.Store(ctx, failed, Build{Commit: "c2", Failed: true, Reason: "exit status 2", Tail: "error: x"})
	require.NoError(t, err)
	assert.Equal(t, 2, shared.puts)

	got, err := two.Lookup(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, TierShared, got.Tier)
	assert.Equal(t, e.Digest(), got.Digest())
	wt := t.TempDir()
	require.NoError(t, two.Restore(ctx, got, wt))
	assert.Equal(t, "#!/bin/sh\necho built\n", read(t, filepath.Join(wt, "out", "bin")))
	local, err := two.Local.Lookup(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, local, "the shared entry was not kept locally")
	assert.Equal(t, TierLocal, local.Tier)

	f, err := two.Lookup(ctx, failed)
	require.NoError(t, err)
	require.NotNil(t, f)
	assert.True(t, f.Failed)
	assert.Equal(t, "error: x", f.Tail)

	_, err = two.Store(ctx, k, Build{Commit: "c3", Dir: builtTree(t), Outputs: []string{"out"}})
	require.NoError(t, err)
	assert.Equal(t, 2, shared.puts, "a key the shared tier holds was put again")
}

// Every stream cut short, and every byte of a stream changed, is either
// refused as damaged, keeping nothing, or gives exactly the entry that was
// put (a byte of tar padding changes nothing): a damaged stream never
// gives another build.
func TestDamagedStreamsAreRefused(t *testing.T) {
	ctx := context.Background()
	src := openCache(t, 1<<30)
	k := key("stream")
	e, err := src.Store(ctx, k, Build{Commit: "c1", Dir: builtTree(t), Outputs: []string{"out"}})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, src.Export(ctx, e, &buf))
	whole := buf.Bytes()

	dst := openCache(t, 1<<30)
	check := func(what string, stream []byte) (refused bool) {
		got, err := dst.Import(ctx, k, bytes.NewReader(stream))
		if err != nil {
			require.ErrorIs(t, err, ErrDamaged, what)
			kept, err := dst.Lookup(ctx, k)
			require.NoError(t, err)
			require.Nil(t, kept, "%s: a damaged stream left an entry", what)
			return true
		}
		require.Equal(t, e.Digest(), got.Digest(), what)
		require.Equal(t, e.Commit, got.Commit, what)
		require.NoError(t, dst.Restore(ctx, got, t.TempDir()), what)
		require.NoError(t, os.Remove(dst.ManifestPath(k)))
		return false
	}
	require.False(t, check("the whole stream", whole))
	refused := 0
	for n := 0; n < len(whole); n += 7 {
		if check("cut", whole[:n]) {
			refused++
		}
	}
	assert.Positive(t, refused)
	changed := 0
	for i, b := range whole {
		if b == 0 {
			// Padding, or the end of a header's field.
			continue
		}
		damaged := bytes.Clone(whole)
		damaged[i] ^= 0x20
		if !check("changed", damaged) {
			changed++
		}
	}
	t.Logf("%d-byte stream; %d cuts refused; %d changed bytes taken as harmless", len(whole), refused, changed)
}

// A damaged shared entry is a *SharedDamagedError, not a hit; the build
// that follows replaces it, although the shared tier holds the key.
func TestADamagedSharedEntryIsReplaced(t *testing.T) {
	ctx := context.Background()
	shared := &memoryShared{}
	one := &Tiered{Local: openCache(t, 1<<30), Shared: shared}
	k := key("replaced")
	_, err := one.Store(ctx, k, Build{Commit: "c1", Dir: builtTree(t), Outputs: []string{"out"}})
	require.NoError(t, err)
	whole := shared.streams[k]
	shared.streams[k] = whole[:len(whole)/2]

	two := &Tiered{Local: openCache(t, 1<<30), Shared: shared}
	e, err := two.Lookup(ctx, k)
	assert.Nil(t, e)
	var damaged *SharedDamagedError
	require.True(t, errors.As(err, &damaged), "%v", err)
	_, err = two.Store(ctx, k, Build{Commit: "c1", Dir: builtTree(t), Outputs: []string{"out"}})
	require.NoError(t, err)
	assert.Len(t, shared.streams[k], len(whole))
	three := &Tiered{Local: openCache(t, 1<<30), Shared: shared}
	e, err = three.Lookup(ctx, k)
	require.NoError(t, err)
	require.NotNil(t, e)
}
