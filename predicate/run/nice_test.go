package run

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run with Nice yields the CPU: the tree, children included, runs at
// that niceness.
func TestNiceLowersTheTreesPriority(t *testing.T) {
	m, err := Run(context.Background(), Spec{Command: "sh -c nice", Dir: t.TempDir(), Nice: 10})
	require.NoError(t, err)
	assert.Equal(t, "10", strings.TrimSpace(m.Tail))
	m, err = Run(context.Background(), Spec{Command: "nice", Dir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, "0", strings.TrimSpace(m.Tail))
}
