package repograph

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	commitgraph "github.com/go-git/go-git/v5/plumbing/format/commitgraph/v2"
)

// openCommitGraph opens the commit-graph under an objects/info directory as
// git looks for it: the single file objects/info/commit-graph first, then
// the chain of split files listed in
// objects/info/commit-graphs/commit-graph-chain, oldest first. The error
// wraps os.ErrNotExist when there is neither.
//
// The files are read into memory whole: go-git's reader issues several tiny
// ReadAt calls per commit, which on an *os.File would each be a system call,
// and the file is small (about 64 bytes a commit).
func openCommitGraph(infoDir string) (commitgraph.Index, error) {
	single := filepath.Join(infoDir, "commit-graph")
	if _, err := os.Stat(single); err == nil {
		return openGraphFile(single, nil)
	}
	chainDir := filepath.Join(infoDir, "commit-graphs")
	chainData, err := os.ReadFile(filepath.Join(chainDir, "commit-graph-chain"))
	if err != nil {
		return nil, err
	}
	chain, err := commitgraph.OpenChainFile(bytes.NewReader(chainData))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(chainDir, "commit-graph-chain"), err)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s is empty: %w", filepath.Join(chainDir, "commit-graph-chain"), os.ErrNotExist)
	}
	var index commitgraph.Index
	for _, name := range chain {
		next, err := openGraphFile(filepath.Join(chainDir, "graph-"+name+".graph"), index)
		if err != nil {
			if index != nil {
				index.Close()
			}
			// A chain naming a missing file is broken, not absent.
			if errors.Is(err, os.ErrNotExist) {
				err = fmt.Errorf("commit-graph chain: %s", err.Error())
			}
			return nil, err
		}
		index = next
	}
	return index, nil
}

func openGraphFile(path string, parent commitgraph.Index) (commitgraph.Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	index, err := commitgraph.OpenFileIndexWithParent(memoryFile{bytes.NewReader(data)}, parent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return index, nil
}

// memoryFile gives go-git's commit-graph reader a file held in memory.
type memoryFile struct{ *bytes.Reader }

func (memoryFile) Close() error { return nil }
