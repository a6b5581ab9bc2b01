//go:build !unix

package repograph

import "errors"

// mapFile is not supported here; Open then reads objects through go-git.
func mapFile(string) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmapFile([]byte) error { return nil }
