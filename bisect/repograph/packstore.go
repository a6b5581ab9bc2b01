package repograph

import (
	"bytes"
	"compress/zlib"
	"container/list"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// packStore reads commits, trees and tags straight from memory-mapped pack
// files. go-git's object storage is correct but slow on a large pack for
// this work: before its first read it decodes the whole index and builds a
// map of every object's offset (0.2 s for git's own repository), and it
// hashes every object it puts in its cache. Reading a root tree of git's
// own history took it about 300 µs, 11 s for the 36,000 root trees met in
// walking from v2.39.0 down to v2.30.0. Here an object is found by binary
// search in the mapped index, and resolved objects are kept by pack offset
// as delta bases, as git's delta base cache does, for about 20 µs a root
// tree. Objects not in a pack (loose ones, those in alternates) are left to
// go-git by the caller.
type packStore struct {
	packs []*packFile
	cache *baseCache
	// The inflater and its input are reused: a new zlib reader costs tens
	// of kilobytes of allocation.
	inflater io.ReadCloser
	input    bytes.Reader
}

// packFile is one pack and its version 2 index, both mapped.
type packFile struct {
	name   string
	index  []byte
	data   []byte
	count  int
	fanout []byte // 256 big-endian counts
	names  []byte // count object ids, sorted
	off32  []byte // count 4-byte offsets; the high bit sends to off64
	off64  []byte
}

const (
	idxHeaderSize = 8
	idxFanoutSize = 256 * 4
	hashSize      = len(search.Hash{})
)

// Pack object types, as in the pack format.
const (
	packCommit   = 1
	packTree     = 2
	packBlob     = 3
	packTag      = 4
	packOFSDelta = 6
	packREFDelta = 7
)

// openPackStore maps every pack under objectsDir/pack. It fails, and the
// caller falls back to go-git, where mapping files is not supported or an
// index is not of version 2 (which git has written since 2007).
func openPackStore(objectsDir string) (*packStore, error) {
	idxFiles, err := filepath.Glob(filepath.Join(objectsDir, "pack", "pack-*.idx"))
	if err != nil {
		return nil, err
	}
	s := &packStore{cache: newBaseCache(96 << 20)} // git's core.deltaBaseCacheLimit
	for _, idxPath := range idxFiles {
		p, err := openPackFile(idxPath)
		if errors.Is(err, os.ErrNotExist) {
			continue // an index whose pack is gone (a repack raced us)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.packs = append(s.packs, p)
	}
	return s, nil
}

func openPackFile(idxPath string) (*packFile, error) {
	packPath := strings.TrimSuffix(idxPath, ".idx") + ".pack"
	if _, err := os.Stat(packPath); err != nil {
		return nil, err
	}
	index, err := mapFile(idxPath)
	if err != nil {
		return nil, err
	}
	p := &packFile{name: filepath.Base(packPath), index: index}
	if err := p.parseIndex(); err != nil {
		p.close()
		return nil, fmt.Errorf("%s: %w", idxPath, err)
	}
	if p.data, err = mapFile(packPath); err != nil {
		p.close()
		return nil, err
	}
	if len(p.data) < 12 || string(p.data[:4]) != "PACK" {
		p.close()
		return nil, fmt.Errorf("%s: not a pack file", packPath)
	}
	return p, nil
}

func (p *packFile) parseIndex() error {
	idx := p.index
	if len(idx) < idxHeaderSize+idxFanoutSize || !bytes.Equal(idx[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return errors.New("not a version 2 pack index")
	}
	p.fanout = idx[idxHeaderSize : idxHeaderSize+idxFanoutSize]
	p.count = int(binary.BigEndian.Uint32(p.fanout[255*4:]))
	namesStart := idxHeaderSize + idxFanoutSize
	off32Start := namesStart + p.count*hashSize + p.count*4 // past the CRCs
	off64Start := off32Start + p.count*4
	if len(idx) < off64Start+2*hashSize {
		return errors.New("truncated pack index")
	}
	p.names = idx[namesStart : namesStart+p.count*hashSize]
	p.off32 = idx[off32Start:off64Start]
	p.off64 = idx[off64Start : len(idx)-2*hashSize]
	return nil
}

func (p *packFile) close() error {
	return errors.Join(unmapFile(p.index), unmapFile(p.data))
}

// Close unmaps the packs.
func (s *packStore) Close() error {
	var errs []error
	for _, p := range s.packs {
		errs = append(errs, p.close())
	}
	s.packs = nil
	return errors.Join(errs...)
}

// bounds is the range of index positions whose ids start with byte b.
func (p *packFile) bounds(b byte) (lo, hi int) {
	if b > 0 {
		lo = int(binary.BigEndian.Uint32(p.fanout[(int(b)-1)*4:]))
	}
	return lo, int(binary.BigEndian.Uint32(p.fanout[int(b)*4:]))
}

func (p *packFile) nameAt(i int) []byte { return p.names[i*hashSize : (i+1)*hashSize] }

// find returns the offset of object h in the pack.
func (p *packFile) find(h search.Hash) (int64, bool) {
	lo, hi := p.bounds(h[0])
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(p.nameAt(mid), h[:]); {
		case c == 0:
			return p.offsetAt(mid), true
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return 0, false
}

func (p *packFile) offsetAt(i int) int64 {
	off := binary.BigEndian.Uint32(p.off32[i*4:])
	if off&0x80000000 == 0 {
		return int64(off)
	}
	j := int(off & 0x7fffffff)
	if (j+1)*8 > len(p.off64) {
		return -1
	}
	return int64(binary.BigEndian.Uint64(p.off64[j*8:]))
}

// withPrefix appends the ids in the pack that start with the hex digits
// abbrev (lower case, at least two).
func (p *packFile) withPrefix(abbrev string, out []search.Hash) []search.Hash {
	first, err := hex.DecodeString(abbrev[:2])
	if err != nil {
		return out
	}
	lo, hi := p.bounds(first[0])
	for i := lo; i < hi; i++ {
		var h search.Hash
		copy(h[:], p.nameAt(i))
		if strings.HasPrefix(h.String(), abbrev) {
			out = append(out, h)
		}
	}
	return out
}

// read returns the type and content of object h, and false when no pack
// has it. The content may be shared with the cache: it must not be
// modified.
func (s *packStore) read(h search.Hash) (plumbing.ObjectType, []byte, bool, error) {
	for _, p := range s.packs {
		if off, ok := p.find(h); ok {
			if off < 0 {
				return plumbing.InvalidObject, nil, false, fmt.Errorf("%s: bad offset for %s", p.name, h)
			}
			t, data, err := s.readAt(p, off, 0)
			if err != nil {
				return plumbing.InvalidObject, nil, false, fmt.Errorf("%s: object %s: %w", p.name, h, err)
			}
			return t, data, true, nil
		}
	}
	return plumbing.InvalidObject, nil, false, nil
}

// maxDeltaDepth bounds delta chains against corrupt packs looping; git's
// own limit when packing is 4095.
const maxDeltaDepth = 10000

// readAt resolves the object at off in p, applying deltas down to a
// stored base or a cached one.
func (s *packStore) readAt(p *packFile, off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if depth > maxDeltaDepth {
		return plumbing.InvalidObject, nil, errors.New("delta chain too long")
	}
	key := baseKey{p, off}
	if e, ok := s.cache.get(key); ok {
		return e.t, e.data, nil
	}
	kind, size, pos, err := p.header(off)
	if err != nil {
		return plumbing.InvalidObject, nil, err
	}
	var t plumbing.ObjectType
	var data []byte
	switch kind {
	case packCommit, packTree, packBlob, packTag:
		t = plumbing.ObjectType(kind)
		if data, err = s.inflate(p, pos, size); err != nil {
			return plumbing.InvalidObject, nil, err
		}
	case packOFSDelta, packREFDelta:
		var base []byte
		if kind == packOFSDelta {
			rel, n := ofsDeltaDistance(p.data[pos:])
			if n == 0 || rel <= 0 || rel > off {
				return plumbing.InvalidObject, nil, errors.New("bad delta base offset")
			}
			pos += int64(n)
			t, base, err = s.readAt(p, off-rel, depth+1)
		} else {
			if pos+int64(hashSize) > int64(len(p.data)) {
				return plumbing.InvalidObject, nil, io.ErrUnexpectedEOF
			}
			var baseID search.Hash
			copy(baseID[:], p.data[pos:])
			pos += int64(hashSize)
			var found bool
			t, base, found, err = s.read(baseID)
			if err == nil && !found {
				err = fmt.Errorf("delta base %s not in a pack", baseID)
			}
		}
		if err != nil {
			return plumbing.InvalidObject, nil, err
		}
		delta, err := s.inflate(p, pos, size)
		if err != nil {
			return plumbing.InvalidObject, nil, err
		}
		if data, err = applyDelta(base, delta); err != nil {
			return plumbing.InvalidObject, nil, err
		}
	default:
		return plumbing.InvalidObject, nil, fmt.Errorf("unknown pack object type %d", kind)
	}
	if depth > 0 {
		// Only delta bases are kept, as git's delta base cache keeps
		// them: an object read for itself is not read again soon (the
		// Repo keeps what it needs of commits, the Graph what it needs
		// of trees), and keeping every commit of a history without a
		// commit-graph took up to the whole budget.
		s.cache.put(key, cachedObject{t, data})
	}
	return t, data, nil
}

// header decodes the type and size at the start of a pack entry and
// returns where what follows begins.
func (p *packFile) header(off int64) (kind int, size int64, pos int64, err error) {
	if off < 12 || off >= int64(len(p.data)) {
		return 0, 0, 0, errors.New("offset outside the pack")
	}
	pos = off
	c := p.data[pos]
	pos++
	kind = int(c>>4) & 7
	size = int64(c & 0x0f)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if pos >= int64(len(p.data)) || shift > 56 {
			return 0, 0, 0, errors.New("bad object header")
		}
		c = p.data[pos]
		pos++
		size |= int64(c&0x7f) << shift
	}
	return kind, size, pos, nil
}

// ofsDeltaDistance decodes the distance back to an offset delta's base,
// in git's encoding (each continuation adds one before shifting); n is the
// bytes read, 0 when malformed.
func ofsDeltaDistance(b []byte) (dist int64, n int) {
	for n < len(b) && n < 9 {
		c := b[n]
		n++
		dist = dist<<7 | int64(c&0x7f)
		if c&0x80 == 0 {
			return dist, n
		}
		dist++
	}
	return 0, 0
}

// inflate decompresses size bytes of zlib data starting at pos.
func (s *packStore) inflate(p *packFile, pos, size int64) ([]byte, error) {
	if pos >= int64(len(p.data)) || size > int64(len(p.data))*1032 {
		// zlib cannot expand data more than about 1032 times.
		return nil, errors.New("bad object size")
	}
	s.input.Reset(p.data[pos:])
	if s.inflater == nil {
		zr, err := zlib.NewReader(&s.input)
		if err != nil {
			return nil, err
		}
		s.inflater = zr
	} else if err := s.inflater.(zlib.Resetter).Reset(&s.input, nil); err != nil {
		return nil, err
	}
	out := make([]byte, size)
	if _, err := io.ReadFull(s.inflater, out); err != nil {
		return nil, fmt.Errorf("inflating: %w", err)
	}
	return out, nil
}

// applyDelta rebuilds an object from its delta base and a git delta: the
// base's and the result's sizes, then instructions either to copy a range
// of the base or to insert bytes carried in the delta. It writes straight
// into a result of the announced size, which go-git's PatchDelta does
// through a growing buffer.
func applyDelta(base, delta []byte) ([]byte, error) {
	errCorrupt := errors.New("corrupt delta")
	baseSize, n := binary.Uvarint(delta)
	if n <= 0 || baseSize != uint64(len(base)) {
		return nil, errCorrupt
	}
	delta = delta[n:]
	size, n := binary.Uvarint(delta)
	if n <= 0 || size > uint64(len(base))+uint64(len(delta))*0x10000 {
		return nil, errCorrupt
	}
	delta = delta[n:]
	out := make([]byte, 0, size)
	for len(delta) > 0 {
		op := delta[0]
		delta = delta[1:]
		switch {
		case op&0x80 != 0: // copy from the base
			var fields [7]uint64 // offset bytes 0-3, size bytes 0-2
			for i := range fields {
				if op&(1<<i) != 0 {
					if len(delta) == 0 {
						return nil, errCorrupt
					}
					fields[i] = uint64(delta[0])
					delta = delta[1:]
				}
			}
			off := fields[0] | fields[1]<<8 | fields[2]<<16 | fields[3]<<24
			length := fields[4] | fields[5]<<8 | fields[6]<<16
			if length == 0 {
				length = 0x10000
			}
			if off+length > uint64(len(base)) || uint64(len(out))+length > size {
				return nil, errCorrupt
			}
			out = append(out, base[off:off+length]...)
		case op != 0: // insert the next op bytes
			if int(op) > len(delta) || uint64(len(out))+uint64(op) > size {
				return nil, errCorrupt
			}
			out = append(out, delta[:op]...)
			delta = delta[op:]
		default:
			return nil, errCorrupt
		}
	}
	if uint64(len(out)) != size {
		return nil, errCorrupt
	}
	return out, nil
}

// baseCache keeps resolved objects by pack offset, least recently used
// first out, within a budget of bytes.
type baseCache struct {
	budget, used int
	order        *list.List // of *cacheEntry, most recent first
	entries      map[baseKey]*list.Element
}

type baseKey struct {
	pack *packFile
	off  int64
}

type cachedObject struct {
	t    plumbing.ObjectType
	data []byte
}

type cacheEntry struct {
	key baseKey
	obj cachedObject
}

func newBaseCache(budget int) *baseCache {
	return &baseCache{budget: budget, order: list.New(), entries: make(map[baseKey]*list.Element)}
}

func (c *baseCache) get(k baseKey) (cachedObject, bool) {
	el, ok := c.entries[k]
	if !ok {
		return cachedObject{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).obj, true
}

func (c *baseCache) put(k baseKey, obj cachedObject) {
	if len(obj.data) > c.budget/4 {
		return // one huge object would flush everything else
	}
	if _, ok := c.entries[k]; ok {
		return
	}
	c.entries[k] = c.order.PushFront(&cacheEntry{k, obj})
	c.used += len(obj.data)
	for c.used > c.budget {
		last := c.order.Back()
		e := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.entries, e.key)
		c.used -= len(e.obj.data)
	}
}
