package buildcache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sxbisect/sxbisect/bisect/journal"
)

// The layout of a cache directory.
const (
	// markerFile marks a directory as a build cache; a non-empty
	// directory without it is never used, since eviction deletes files.
	markerFile = ".sxbisect-build-cache"
	lockFile   = "lock"
	// keysDir holds the manifests, keys/<2 hex>/<key>.json.
	keysDir = "keys"
	// objectsDir holds the contents, objects/<2 hex>/<sha256>.
	objectsDir = "objects"
	// tmpDir holds contents being written, before their rename.
	tmpDir = "tmp"
)

// Dir is a build cache in a directory of the local disk.
type Dir struct {
	path  string
	limit int64
}

var _ Cache = (*Dir)(nil)

// Open opens the cache in the directory path, making it when it does not
// exist; limit bounds its size in bytes (see the package documentation).
// A directory that holds anything and is not a cache is refused.
func Open(path string, limit int64) (*Dir, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("build cache size limit %d is not positive", limit)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	d := &Dir{path: abs, limit: limit}
	if _, err := os.Stat(filepath.Join(abs, markerFile)); errors.Is(err, fs.ErrNotExist) {
		entries, err := os.ReadDir(abs)
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("%s holds files and is not a build cache (it has no %s): give an empty or new directory", abs, markerFile)
		}
		if err := journal.WriteFileAtomic(filepath.Join(abs, markerFile), []byte("sxbisect build cache; safe to delete as a whole\n"), 0o644); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	for _, sub := range []string{keysDir, objectsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Path is the cache's directory.
func (d *Dir) Path() string { return d.path }

// ManifestPath is where the entry of key is kept: deleting that file
// forgets the build.
func (d *Dir) ManifestPath(key Key) string {
	return filepath.Join(d.path, keysDir, string(key[:2]), string(key)+".json")
}

func (d *Dir) objectPath(hash string) string {
	return filepath.Join(d.path, objectsDir, hash[:2], hash)
}

// Lookup returns the entry of key, or nil; a hit counts as a use of the
// entry for the size limit.
func (d *Dir) Lookup(ctx context.Context, key Key) (*Entry, error) {
	if !key.valid() {
		return nil, fmt.Errorf("build cache key %q is not a hash", key)
	}
	p := d.ManifestPath(key)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil || e.Version != entryVersion || e.Key != key || e.check() != nil {
		// Not ours to read (another version), or not whole: a miss, and
		// the next store replaces it.
		return nil, nil
	}
	now := time.Now()
	// Gone since (evicted): the restore will say so.
	_ = os.Chtimes(p, now, now)
	return &e, nil
}

// check refuses an entry whose paths are not below its outputs, or whose
// contents are not named by hashes: a manifest is read from disk, and a
// restore must not write outside the outputs.
func (e *Entry) check() error {
	for _, o := range e.Outputs {
		if c, err := CleanPath(o); err != nil || c != o || c == "." {
			return fmt.Errorf("entry %s: output %q", e.Key, o)
		}
	}
	for _, f := range e.Files {
		c, err := CleanPath(f.Path)
		if err != nil || c != f.Path || inside(e.Outputs, c) == "" {
			return fmt.Errorf("entry %s: file %q is not in an output", e.Key, f.Path)
		}
		switch f.Kind {
		case KindFile:
			if !isHash(f.Hash) {
				return fmt.Errorf("entry %s: file %q has no hash", e.Key, f.Path)
			}
		case KindDir, KindSymlink:
		default:
			return fmt.Errorf("entry %s: file %q of kind %q", e.Key, f.Path, f.Kind)
		}
	}
	return nil
}

// Store keeps b as the build of key. The contents are written first and
// the manifest last, so that an entry never names a content that is not
// there yet.
func (d *Dir) Store(ctx context.Context, key Key, b Build) (*Entry, error) {
	if !key.valid() {
		return nil, fmt.Errorf("build cache key %q is not a hash", key)
	}
	unlock, err := d.lockShared()
	if err != nil {
		return nil, err
	}
	e, err := d.store(ctx, key, b)
	unlock()
	if err != nil {
		return nil, err
	}
	// Best effort: the limit is kept by a later store when this one
	// cannot evict.
	_ = d.evict()
	return e, nil
}

func (d *Dir) store(ctx context.Context, key Key, b Build) (*Entry, error) {
	e := &Entry{Version: entryVersion, Key: key, Commit: b.Commit, Failed: b.Failed, Reason: b.Reason, Tail: b.Tail,
		Seconds: b.Seconds, Time: time.Now().UTC()}
	if !b.Failed {
		outputs, err := OutputPaths(b.Outputs)
		if err != nil {
			return nil, err
		}
		e.Outputs = outputs
		for _, o := range outputs {
			files, err := d.keep(ctx, b.Dir, o)
			if err != nil {
				return nil, err
			}
			e.Files = append(e.Files, files...)
		}
	}
	if err := d.writeManifest(e); err != nil {
		return nil, err
	}
	return e, nil
}

// writeManifest names e's contents, which are in the cache, as the entry
// of its key.
func (d *Dir) writeManifest(e *Entry) error {
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	p := d.ManifestPath(e.Key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return journal.WriteFileAtomic(p, append(data, '\n'), 0o644)
}

// keep puts the contents of the output at rel in the worktree dir into
// the cache and lists its files, the output first.
func (d *Dir) keep(ctx context.Context, dir, rel string) ([]File, error) {
	root, err := inWorktree(dir, rel)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
		return nil, &MissingOutputError{Path: rel}
	}
	var files []File
	err = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		f := File{Path: filepath.ToSlash(name), Mode: uint32(info.Mode().Perm())}
		switch {
		case de.Type().IsDir():
			f.Kind = KindDir
		case de.Type()&fs.ModeSymlink != 0:
			f.Kind, f.Mode = KindSymlink, 0
			if f.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case de.Type().IsRegular():
			f.Kind = KindFile
			if f.Hash, f.Size, err = d.putObject(p); err != nil {
				return err
			}
		default:
			// Sockets and pipes are no build's output.
			return nil
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// putObject copies the file at path into the cache by its content's hash.
func (d *Dir) putObject(path string) (string, int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Join(d.path, tmpDir), "object-*")
	if err != nil {
		return "", 0, err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), src)
	if err != nil {
		return "", 0, err
	}
	if err := tmp.Chmod(0o444); err != nil {
		return "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	hash := hex.EncodeToString(h.Sum(nil))
	dest := d.objectPath(hash)
	if fi, err := os.Stat(dest); err == nil && fi.Size() == n {
		os.Remove(tmp.Name())
		done = true
		return hash, n, nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return "", 0, err
	}
	done = true
	return hash, n, nil
}

// Restore replaces e's outputs in the worktree dir. Every content is
// checked to be there before the worktree is touched, and against its hash
// as it is copied.
func (d *Dir) Restore(ctx context.Context, e *Entry, dir string) error {
	if e.Failed {
		return fmt.Errorf("the build of %s failed: there is nothing to restore", e.Commit)
	}
	if err := e.check(); err != nil {
		return err
	}
	unlock, err := d.lockShared()
	if err != nil {
		return err
	}
	defer unlock()
	for _, f := range e.Files {
		if f.Kind != KindFile {
			continue
		}
		if fi, err := os.Stat(d.objectPath(f.Hash)); err != nil || fi.Size() != f.Size {
			d.forget(e.Key, f.Hash)
			return fmt.Errorf("%w: %s of the build of %s", ErrDamaged, f.Path, e.Commit)
		}
	}
	for _, o := range e.Outputs {
		p, err := inWorktree(dir, o)
		if err != nil {
			return err
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	var dirs []string
	var modes []fs.FileMode
	for _, f := range e.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := inWorktree(dir, f.Path)
		if err != nil {
			return err
		}
		if f.Kind == KindDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			dirs, modes = append(dirs, p), append(modes, fs.FileMode(f.Mode).Perm())
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if f.Kind == KindSymlink {
			if err := os.Symlink(f.Target, p); err != nil {
				return err
			}
			continue
		}
		if err := d.copyOut(e, f, p); err != nil {
			return err
		}
	}
	// Directories' own modes last, the deepest first, so that a read-only
	// one was writable while it was filled.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], modes[i]); err != nil {
			return err
		}
	}
	return nil
}

// copyOut writes the content of f to path, through a temporary file that
// is renamed once the content matched its hash.
func (d *Dir) copyOut(e *Entry, f File, path string) error {
	src, err := os.Open(d.objectPath(f.Hash))
	if err != nil {
		d.forget(e.Key, f.Hash)
		return fmt.Errorf("%w: %s of the build of %s: %v", ErrDamaged, f.Path, e.Commit, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".sxbisect-*")
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), src)
	if err == nil {
		err = tmp.Chmod(fs.FileMode(f.Mode).Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != f.Hash {
		d.forget(e.Key, f.Hash)
		err = fmt.Errorf("%w: %s of the build of %s does not match its hash", ErrDamaged, f.Path, e.Commit)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// forget drops the entry of key and a content found damaged, so that the
// next build of key stores them again.
func (d *Dir) forget(key Key, hash string) {
	_ = os.Remove(d.ManifestPath(key))
	if hash != "" {
		_ = os.Remove(d.objectPath(hash))
	}
}

// inWorktree joins rel (see CleanPath) to the worktree dir, refusing a
// path that goes through a symbolic link: removing or writing there could
// reach out of the worktree.
func inWorktree(dir, rel string) (string, error) {
	c, err := CleanPath(rel)
	if err != nil {
		return "", err
	}
	parts := strings.Split(c, "/")
	p := dir
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("output %s goes through the symbolic link %s: the build cache does not follow links", rel, p)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(c)), nil
}

// lockShared holds the cache's lock shared until the returned function is
// called: stores and restores run side by side, never beside an eviction.
func (d *Dir) lockShared() (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.path, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Usage is the cache's size: the entries, and the bytes of their
// manifests and contents.
func (d *Dir) Usage() (entries int, bytes int64, err error) {
	st, err := d.scan()
	if err != nil {
		return 0, 0, err
	}
	return len(st.entries), st.total(), nil
}

// kept is an entry as the eviction sees it.
type kept struct {
	path   string
	used   time.Time
	size   int64
	hashes []string
}

// state is the cache's content, as the eviction sees it.
type state struct {
	entries []kept
	objects map[string]int64
	// stray are files no entry can name: temporary files, unreadable
	// manifests.
	stray []string
}

func (s *state) total() int64 {
	var n int64
	for _, e := range s.entries {
		n += e.size
	}
	for _, size := range s.objects {
		n += size
	}
	return n
}

// scan reads every manifest and lists every content.
func (d *Dir) scan() (*state, error) {
	st := &state{objects: map[string]int64{}}
	err := walkFiles(filepath.Join(d.path, objectsDir), func(p string, fi fs.FileInfo) {
		if name := filepath.Base(p); isHash(name) {
			st.objects[name] = fi.Size()
		} else {
			st.stray = append(st.stray, p)
		}
	})
	if err != nil {
		return nil, err
	}
	err = walkFiles(filepath.Join(d.path, keysDir), func(p string, fi fs.FileInfo) {
		var e Entry
		data, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(data, &e) != nil || !e.Key.valid() || filepath.Base(p) != string(e.Key)+".json" {
			st.stray = append(st.stray, p)
			return
		}
		k := kept{path: p, used: fi.ModTime(), size: fi.Size()}
		for _, f := range e.Files {
			if f.Kind == KindFile && !slices.Contains(k.hashes, f.Hash) {
				k.hashes = append(k.hashes, f.Hash)
			}
		}
		st.entries = append(st.entries, k)
	})
	return st, err
}

// walkFiles calls fn for every regular file two levels below root.
func walkFiles(root string, fn func(string, fs.FileInfo)) error {
	dirs, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, sub := range dirs {
		if !sub.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, sub.Name()))
		if err != nil {
			return err
		}
		for _, f := range files {
			fi, err := f.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			fn(filepath.Join(root, sub.Name(), f.Name()), fi)
		}
	}
	return nil
}

// evict brings the cache under its limit, least recently used entries
// first, when no store or restore is under way; else it does nothing.
func (d *Dir) evict() error {
	f, err := os.OpenFile(filepath.Join(d.path, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil
		}
		return err
	}
	// Nobody writes now: what is in tmp, and any content that no entry
	// names, was left by a store that died.
	if tmps, err := os.ReadDir(filepath.Join(d.path, tmpDir)); err == nil {
		for _, t := range tmps {
			_ = os.RemoveAll(filepath.Join(d.path, tmpDir, t.Name()))
		}
	}
	st, err := d.scan()
	if err != nil {
		return err
	}
	for _, p := range st.stray {
		_ = os.Remove(p)
	}
	refs := map[string]int{}
	for _, e := range st.entries {
		for _, h := range e.hashes {
			refs[h]++
		}
	}
	drop := func(hash string) {
		_ = os.Remove(d.objectPath(hash))
		delete(st.objects, hash)
	}
	for h := range st.objects {
		if refs[h] == 0 {
			drop(h)
		}
	}
	slices.SortFunc(st.entries, func(a, b kept) int { return a.used.Compare(b.used) })
	total := st.total()
	for len(st.entries) > 0 && total > d.limit {
		e := st.entries[0]
		st.entries = st.entries[1:]
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		total -= e.size
		for _, h := range e.hashes {
			if refs[h]--; refs[h] == 0 {
				total -= st.objects[h]
				drop(h)
			}
		}
	}
	return nil
}
