package buildcache

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Shared is a tier of the cache that machines share: a store of entry
// streams by key (see Dir.Export), such as an object store on a server.
// It knows nothing of what a stream holds; Tiered checks every stream it
// reads.
type Shared interface {
	// Get opens the stream kept for key; nil and no error when there is
	// none.
	Get(ctx context.Context, key Key) (io.ReadCloser, error)
	// Has reports whether a stream is kept for key.
	Has(ctx context.Context, key Key) (bool, error)
	// Put keeps the stream read from r for key, replacing any other as a
	// whole: a reader gets one of them, whole, or an error.
	Put(ctx context.Context, key Key, r io.Reader) error
	// Where names the store, for messages.
	Where() string
}

// The members of an entry stream: a tar archive of the manifest, named by
// its SHA-256, then each content the manifest names, once, named by its
// own. Every byte that matters is thus checked on reading, whatever store
// the stream was kept in.
const (
	streamManifest = "manifest/"
	streamObjects  = "objects/"
	// maxManifest bounds the manifest read from a stream: a damaged
	// stream must not make a worker read gigabytes into memory.
	maxManifest = 64 << 20
)

// Export writes e, an entry of d, as a stream that Import reads. It fails
// with an error that wraps ErrDamaged, and forgets e, when a content is
// gone.
func (d *Dir) Export(ctx context.Context, e *Entry, w io.Writer) error {
	if err := e.check(); err != nil {
		return err
	}
	unlock, err := d.lockShared()
	if err != nil {
		return err
	}
	defer unlock()
	manifest, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	sum := sha256.Sum256(manifest)
	if err := tw.WriteHeader(&tar.Header{Name: streamManifest + hex.EncodeToString(sum[:]), Mode: 0o644, Size: int64(len(manifest))}); err != nil {
		return err
	}
	if _, err := tw.Write(manifest); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, f := range e.Files {
		if f.Kind != KindFile || seen[f.Hash] {
			continue
		}
		seen[f.Hash] = true
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.exportObject(tw, e, f); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (d *Dir) exportObject(tw *tar.Writer, e *Entry, f File) error {
	src, err := os.Open(d.objectPath(f.Hash))
	if err != nil {
		d.forget(e.Key, f.Hash)
		return fmt.Errorf("%w: %s of the build of %s: %v", ErrDamaged, f.Path, e.Commit, err)
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil || fi.Size() != f.Size {
		d.forget(e.Key, f.Hash)
		return fmt.Errorf("%w: %s of the build of %s", ErrDamaged, f.Path, e.Commit)
	}
	if err := tw.WriteHeader(&tar.Header{Name: streamObjects + f.Hash, Mode: 0o444, Size: f.Size}); err != nil {
		return err
	}
	_, err = io.Copy(tw, src)
	return err
}

// Import reads a stream that Export wrote as the entry of key, and keeps
// it as a store would: the contents first, each checked against its size
// and hash, and the manifest last, so that a stream cut short or damaged
// leaves no entry. Such a stream is an error that wraps ErrDamaged.
func (d *Dir) Import(ctx context.Context, key Key, r io.Reader) (*Entry, error) {
	if !key.valid() {
		return nil, fmt.Errorf("build cache key %q is not a hash", key)
	}
	unlock, err := d.lockShared()
	if err != nil {
		return nil, err
	}
	e, err := d.importStream(ctx, key, readDamaged{r})
	unlock()
	if err != nil {
		return nil, err
	}
	_ = d.evict()
	return e, nil
}

func (d *Dir) importStream(ctx context.Context, key Key, r io.Reader) (*Entry, error) {
	damaged := func(format string, args ...any) error {
		return fmt.Errorf("%w: the entry of %s: %s", ErrDamaged, key[:12], fmt.Sprintf(format, args...))
	}
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return nil, damaged("%v", err)
	}
	manifestHash, ok := strings.CutPrefix(h.Name, streamManifest)
	if !ok || h.Size > maxManifest {
		return nil, damaged("it does not start with its manifest")
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return nil, damaged("%v", err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != manifestHash {
		return nil, damaged("its manifest does not match its hash")
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, damaged("its manifest: %v", err)
	}
	if e.Version != entryVersion || e.Key != key {
		return nil, damaged("its manifest is of version %d and key %s", e.Version, e.Key)
	}
	if err := e.check(); err != nil {
		return nil, damaged("%v", err)
	}
	want := map[string]int64{}
	for _, f := range e.Files {
		if f.Kind == KindFile {
			want[f.Hash] = f.Size
		}
	}
	for len(want) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err := tr.Next()
		if err != nil {
			return nil, damaged("%d contents missing (%v)", len(want), err)
		}
		hash, ok := strings.CutPrefix(h.Name, streamObjects)
		size, named := want[hash]
		if !ok || !named || h.Size != size {
			return nil, damaged("member %q of %d bytes is none of its contents", h.Name, h.Size)
		}
		if err := d.importObject(tr, hash, size); err != nil {
			return nil, err
		}
		delete(want, hash)
	}
	if err := d.writeManifest(&e); err != nil {
		return nil, err
	}
	return &e, nil
}

// importObject copies a content of size bytes from r into the cache,
// keeping it only when it matches hash.
func (d *Dir) importObject(r io.Reader, hash string, size int64) error {
	tmp, err := os.CreateTemp(filepath.Join(d.path, tmpDir), "object-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), r)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: content %s is cut short", ErrDamaged, hash[:12])
	case err == nil && (n != size || hex.EncodeToString(sum.Sum(nil)) != hash):
		err = fmt.Errorf("%w: content %s does not match its size and hash", ErrDamaged, hash[:12])
	case err == nil:
		err = tmp.Chmod(0o444)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	dest := d.objectPath(hash)
	if fi, err := os.Stat(dest); err == nil && fi.Size() == size {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// readDamaged makes the errors of reading a stream (a connection lost, a
// digest that does not match) say that the stream is damaged, as against
// those of writing the cache.
type readDamaged struct{ r io.Reader }

func (r readDamaged) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	return n, err
}

// Tier says which tier of a Tiered cache an entry came from.
type Tier int

const (
	// TierLocal: the local cache held it.
	TierLocal Tier = iota
	// TierShared: the local cache did not, the shared tier did; it was
	// copied into the local cache, checked.
	TierShared
)

// Tiered is a local cache in front of a shared tier: a key the local
// cache misses is asked of the shared tier, whose entry is checked and
// copied into the local cache; a build kept locally is also put into the
// shared tier, unless it is there already.
type Tiered struct {
	Local  *Dir
	Shared Shared
	// Note tells of trouble with the shared tier (nil: nobody); each
	// trouble but a damaged entry is told once, and the shared tier is
	// then only a miss.
	Note func(string)

	mu   sync.Mutex
	told map[string]bool
	// damaged are the keys whose shared entry was found damaged: their
	// next store replaces it.
	damaged map[Key]bool
}

var _ Cache = (*Tiered)(nil)

// SharedDamagedError says that the shared tier's entry of a key was
// damaged or cut short: a miss, which the build that follows replaces.
type SharedDamagedError struct {
	Where string
	Err   error
}

func (e *SharedDamagedError) Error() string {
	return fmt.Sprintf("the shared build cache's copy (%s) is damaged: %v", e.Where, e.Err)
}

func (e *SharedDamagedError) Unwrap() error { return e.Err }

// Lookup returns the local entry of key, else the shared tier's, copied
// into the local cache (its Tier is TierShared). A shared entry that is
// damaged is a *SharedDamagedError, for the caller to say so and build;
// other troubles of the shared tier are told once and are misses.
func (t *Tiered) Lookup(ctx context.Context, key Key) (*Entry, error) {
	e, err := t.Local.Lookup(ctx, key)
	if err != nil || e != nil {
		return e, err
	}
	r, err := t.Shared.Get(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			t.once("get", fmt.Sprintf("the shared build cache (%s) cannot be read (%v): builds are not taken from it", t.Shared.Where(), err))
		}
		return nil, nil
	}
	if r == nil {
		return nil, nil
	}
	defer r.Close()
	e, err = t.Local.Import(ctx, key, r)
	switch {
	case err == nil:
		e.Tier = TierShared
		return e, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrDamaged):
		t.mu.Lock()
		if t.damaged == nil {
			t.damaged = map[Key]bool{}
		}
		t.damaged[key] = true
		t.mu.Unlock()
		return nil, &SharedDamagedError{Where: t.Shared.Where(), Err: err}
	default:
		t.once("import", fmt.Sprintf("builds of the shared build cache (%s) cannot be kept on this machine (%v): they are built here", t.Shared.Where(), err))
		return nil, nil
	}
}

// Store keeps b locally, then puts the entry into the shared tier unless
// it holds a sound one for key already (two machines that built the same
// inputs at once both put it: the later replaces the earlier, whole). A
// shared tier that refuses it (full, gone) is told once; the local entry
// stays.
func (t *Tiered) Store(ctx context.Context, key Key, b Build) (*Entry, error) {
	e, err := t.Local.Store(ctx, key, b)
	if err != nil {
		return e, err
	}
	t.mu.Lock()
	replace := t.damaged[key]
	delete(t.damaged, key)
	t.mu.Unlock()
	if has, err := t.Shared.Has(ctx, key); err == nil && has && !replace {
		return e, nil
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(t.Local.Export(ctx, e, pw)) }()
	err = t.Shared.Put(ctx, key, pr)
	pr.CloseWithError(errors.New("the shared build cache stopped reading"))
	if err != nil && ctx.Err() == nil {
		t.once("put", fmt.Sprintf("builds cannot be put into the shared build cache (%s): %v; they are kept on this machine only", t.Shared.Where(), err))
	}
	return e, nil
}

// Restore restores from the local cache, where Lookup put the entry.
func (t *Tiered) Restore(ctx context.Context, e *Entry, dir string) error {
	return t.Local.Restore(ctx, e, dir)
}

func (t *Tiered) once(what, msg string) {
	t.mu.Lock()
	if t.told == nil {
		t.told = map[string]bool{}
	}
	first := !t.told[what]
	t.told[what] = true
	t.mu.Unlock()
	if first && t.Note != nil {
		t.Note(msg)
	}
}
