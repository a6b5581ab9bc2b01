package remote

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// natsServerBinary finds the nats-server program that production runs:
// Debian's package puts it in /usr/sbin, which is not on every PATH.
func natsServerBinary() (string, error) {
	if path, err := exec.LookPath("nats-server"); err == nil {
		return path, nil
	}
	return exec.LookPath("/usr/sbin/nats-server")
}

// A session bisects through the nats-server program of Debian's package,
// run as production runs it (nats-server -js), when it is installed.
func TestDebiansNATSServer(t *testing.T) {
	bin, err := natsServerBinary()
	if err != nil {
		t.Skip("nats-server is not installed (apt-get install nats-server): the in-process server of the other tests stands in for it")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-sd", filepath.Join(t.TempDir(), "store"))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		require.True(t, time.Now().Before(deadline), "%s did not start listening", bin)
		time.Sleep(20 * time.Millisecond)
	}

	repo, commits := gitfixture.ValueRepo(t, 12)
	startWorker(t, url, WorkerOptions{Name: "debian", Slots: 2})
	spec := bisect.Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Run: `test "$(cat value)" -lt 7`,
		Parallel: 2, Remote: &bisect.RemoteSpec{URL: url}}
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, url, bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, commits[7], *res.FirstBad)
	conn := connect(t, url)
	list, err := conn.Workers(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "debian", list[0].Name)
}
