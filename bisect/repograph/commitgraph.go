package repograph

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sxbisect/sxbisect/bisect/search"
)

// commitGraph is the commit-graph of a repository, a single file or a
// chain of them, read in place from memory-mapped files: a lookup is a
// binary search in the file's sorted object ids and a read of a fixed-size
// record, with nothing decoded ahead and nothing kept on the Go heap. (go-git
// reads the same format, but through a tiny ReadAt per field, allocating
// at each, and needs the file in memory or a system call per read.)
//
// The format is git's (Documentation/gitformat-commit-graph.txt): a header,
// a table of chunks, and the chunks OIDF (fan-out of the first byte),
// OIDL (sorted object ids), CDAT (per commit: root tree, two parent
// positions, topological level and committer date) and EDGE (the further
// parents of octopus merges). A parent is named by its position: its index
// in OIDL, counting the commits of the layers below first in a chain. So
// every parent of a commit in the graph is in the graph too: the graph
// holds all the ancestors of each of its commits.
type commitGraph struct {
	// layers, oldest first: the single file, or the files of the chain.
	layers []*graphLayer
	total  uint32
}

// graphLayer is one commit-graph file.
type graphLayer struct {
	data   []byte
	mapped bool
	// base is the number of commits in the layers below; count those of
	// this one.
	base, count uint32
	fanout      []byte // 256 big-endian cumulative counts
	oids        []byte // count object ids, sorted
	cdat        []byte // count records of cdatSize bytes
	edges       []byte // EDGE, possibly empty
}

const (
	graphHeaderSize = 8
	graphChunkEntry = 12 // 4-byte id, 8-byte offset
	cdatSize        = hashSize + 16
	// Parent positions in CDAT and EDGE.
	graphParentNone   = 0x70000000
	graphExtraEdges   = 0x80000000 // in the second parent: an index into EDGE
	graphLastEdge     = 0x80000000 // in EDGE: the last parent
	graphPositionMask = 0x7fffffff
	// maxTopoLevel is where git caps topological levels in CDAT; a commit
	// at the cap no longer has a level above all its ancestors'.
	maxTopoLevel = 0x3fffffff
)

// openCommitGraph opens the commit-graph under an objects/info directory as
// git looks for it: the single file objects/info/commit-graph first, then
// the chain of split files listed in
// objects/info/commit-graphs/commit-graph-chain, oldest first. The error
// wraps os.ErrNotExist when there is neither.
func openCommitGraph(infoDir string) (*commitGraph, error) {
	single := filepath.Join(infoDir, "commit-graph")
	if _, err := os.Stat(single); err == nil {
		g := &commitGraph{}
		if err := g.addLayer(single); err != nil {
			g.close()
			return nil, err
		}
		return g, nil
	}
	chainDir := filepath.Join(infoDir, "commit-graphs")
	chainPath := filepath.Join(chainDir, "commit-graph-chain")
	chainData, err := os.ReadFile(chainPath)
	if err != nil {
		return nil, err
	}
	names := strings.Fields(string(chainData))
	if len(names) == 0 {
		return nil, fmt.Errorf("%s is empty: %w", chainPath, os.ErrNotExist)
	}
	g := &commitGraph{}
	for _, name := range names {
		if _, ok := parseFullHash(name); !ok {
			g.close()
			return nil, fmt.Errorf("%s: malformed line %q", chainPath, name)
		}
		if err := g.addLayer(filepath.Join(chainDir, "graph-"+name+".graph")); err != nil {
			g.close()
			// A chain naming a missing file is broken, not absent.
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("commit-graph chain: %s", err.Error())
			}
			return nil, err
		}
	}
	return g, nil
}

// addLayer maps the file at path and puts it on top of the layers.
func (g *commitGraph) addLayer(path string) error {
	data, err := mapFile(path)
	mapped := err == nil
	if errors.Is(err, errors.ErrUnsupported) {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return err
	}
	l := &graphLayer{data: data, mapped: mapped, base: g.total}
	g.layers = append(g.layers, l)
	if err := l.parse(len(g.layers) - 1); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	g.total += l.count
	return nil
}

// parse finds the chunks of a layer that has bases layers below it.
func (l *graphLayer) parse(bases int) error {
	d := l.data
	if len(d) < graphHeaderSize || string(d[:4]) != "CGPH" {
		return errors.New("not a commit-graph file")
	}
	if d[4] != 1 {
		return fmt.Errorf("commit-graph version %d is not supported", d[4])
	}
	if d[5] != 1 {
		return fmt.Errorf("commit-graph hash version %d is not SHA-1", d[5])
	}
	if int(d[7]) != bases {
		return fmt.Errorf("commit-graph has %d base graphs, its place in the chain %d", d[7], bases)
	}
	chunks := int(d[6])
	table := graphHeaderSize
	if len(d) < table+(chunks+1)*graphChunkEntry {
		return errors.New("truncated chunk table")
	}
	found := map[string][]byte{}
	for i := 0; i < chunks; i++ {
		e := d[table+i*graphChunkEntry:]
		start := binary.BigEndian.Uint64(e[4:12])
		end := binary.BigEndian.Uint64(e[4+graphChunkEntry : 12+graphChunkEntry])
		if start > end || end > uint64(len(d)) {
			return fmt.Errorf("chunk %q out of bounds", e[:4])
		}
		found[string(e[:4])] = d[start:end]
	}
	l.fanout, l.oids, l.cdat, l.edges = found["OIDF"], found["OIDL"], found["CDAT"], found["EDGE"]
	if len(l.fanout) != 256*4 {
		return errors.New("missing or malformed OIDF chunk")
	}
	l.count = binary.BigEndian.Uint32(l.fanout[255*4:])
	if len(l.oids) != int(l.count)*hashSize || len(l.cdat) != int(l.count)*cdatSize {
		return errors.New("OIDL or CDAT chunk does not match the commit count")
	}
	return nil
}

// find returns the position of commit h in the graph.
func (g *commitGraph) find(h search.Hash) (uint32, bool) {
	for i := len(g.layers) - 1; i >= 0; i-- {
		if pos, ok := g.layers[i].find(h); ok {
			return pos, true
		}
	}
	return 0, false
}

func (l *graphLayer) find(h search.Hash) (uint32, bool) {
	lo := uint32(0)
	if h[0] > 0 {
		lo = binary.BigEndian.Uint32(l.fanout[(int(h[0])-1)*4:])
	}
	hi := binary.BigEndian.Uint32(l.fanout[int(h[0])*4:])
	if hi > l.count || lo > hi {
		return 0, false
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		switch c := bytes.Compare(h[:], l.oids[int(mid)*hashSize:int(mid+1)*hashSize]); {
		case c == 0:
			return l.base + mid, true
		case c < 0:
			hi = mid
		default:
			lo = mid + 1
		}
	}
	return 0, false
}

// layerOf returns the layer that holds position pos, and pos within it.
func (g *commitGraph) layerOf(pos uint32) (*graphLayer, uint32, error) {
	for i := len(g.layers) - 1; i >= 0; i-- {
		if l := g.layers[i]; pos >= l.base {
			if pos-l.base >= l.count {
				break
			}
			return l, pos - l.base, nil
		}
	}
	return nil, 0, fmt.Errorf("commit-graph names position %d, beyond its %d commits", pos, g.total)
}

func (g *commitGraph) hashAt(pos uint32) (search.Hash, error) {
	l, i, err := g.layerOf(pos)
	if err != nil {
		return search.Hash{}, err
	}
	var h search.Hash
	copy(h[:], l.oids[int(i)*hashSize:])
	return h, nil
}

// record reads the commit at position pos; its generation is its
// topological level, 0 when the file has none for it (git before 2.19
// wrote none) or when it is at git's cap.
func (g *commitGraph) record(pos uint32) (commitRecord, error) {
	l, i, err := g.layerOf(pos)
	if err != nil {
		return commitRecord{}, err
	}
	e := l.cdat[int(i)*cdatSize : int(i+1)*cdatSize]
	c := commitRecord{generation: binary.BigEndian.Uint32(e[hashSize+8:]) >> 2}
	copy(c.tree[:], e)
	p1 := binary.BigEndian.Uint32(e[hashSize:])
	p2 := binary.BigEndian.Uint32(e[hashSize+4:])
	genHigh := binary.BigEndian.Uint32(e[hashSize+8:])
	c.commitTime = int64(genHigh&3)<<32 | int64(binary.BigEndian.Uint32(e[hashSize+12:]))
	if c.generation == maxTopoLevel {
		c.generation = 0
	}
	var buf [2]uint32
	parents := buf[:0]
	switch {
	case p1 == graphParentNone:
	case p2 == graphParentNone:
		parents = append(parents, p1)
	case p2&graphExtraEdges == 0:
		parents = append(parents, p1, p2)
	default:
		parents = append(parents, p1)
		for k := int(p2 & graphPositionMask); ; k++ {
			if (k+1)*4 > len(l.edges) {
				return commitRecord{}, errors.New("commit-graph EDGE chunk is truncated")
			}
			p := binary.BigEndian.Uint32(l.edges[k*4:])
			parents = append(parents, p&graphPositionMask)
			if p&graphLastEdge != 0 {
				break
			}
		}
	}
	c.parents = make([]search.Hash, len(parents))
	for k, p := range parents {
		if c.parents[k], err = g.hashAt(p); err != nil {
			return commitRecord{}, err
		}
	}
	return c, nil
}

// generation is the generation of record(pos), without reading the rest.
func (g *commitGraph) generation(pos uint32) (uint32, error) {
	l, i, err := g.layerOf(pos)
	if err != nil {
		return 0, err
	}
	level := binary.BigEndian.Uint32(l.cdat[int(i)*cdatSize+hashSize+8:]) >> 2
	if level == maxTopoLevel {
		return 0, nil
	}
	return level, nil
}

func (g *commitGraph) close() error {
	var errs []error
	for _, l := range g.layers {
		if l.mapped {
			errs = append(errs, unmapFile(l.data))
		}
	}
	g.layers = nil
	return errors.Join(errs...)
}
