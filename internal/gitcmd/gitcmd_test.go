package gitcmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	_, err := Runner{}.Run(context.Background(), t.TempDir(), "init", "-q", dir)
	require.NoError(t, err)
	return dir
}

// git acts on the repository it is started in, whatever the caller's
// environment points at, speaks English and never prompts.
func TestEnvironmentLocatesNothingElse(t *testing.T) {
	mine, other := newRepo(t), newRepo(t)
	t.Setenv("GIT_DIR", filepath.Join(other, ".git"))
	t.Setenv("GIT_WORK_TREE", other)
	t.Setenv("GIT_INDEX_FILE", filepath.Join(other, ".git", "index"))
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	t.Setenv("SXBISECT_KEPT", "yes")
	git := Runner{Config: []string{"alias.env=!env"}}
	top, err := git.Run(context.Background(), mine, "rev-parse", "--show-toplevel")
	require.NoError(t, err)
	assert.Equal(t, mine, top)

	env, err := git.Run(context.Background(), mine, "env")
	require.NoError(t, err)
	vars := strings.Split(env, "\n")
	assert.Contains(t, vars, "LC_ALL=C")
	assert.Contains(t, vars, "GIT_TERMINAL_PROMPT=0")
	assert.Contains(t, vars, "SXBISECT_KEPT=yes")
	assert.NotContains(t, env, other)
}

func TestErrorsCarryGitsMessage(t *testing.T) {
	dir := newRepo(t)
	_, err := Runner{}.Run(context.Background(), dir, "rev-parse", "--verify", "nosuch")
	var gitErr *Error
	require.ErrorAs(t, err, &gitErr)
	assert.Equal(t, []string{"rev-parse", "--verify", "nosuch"}, gitErr.Args)
	assert.Equal(t, "fatal: Needed a single revision", gitErr.Stderr)
	assert.Equal(t, "git rev-parse --verify nosuch (in "+dir+"): exit status 128: fatal: Needed a single revision", err.Error())

	_, err = New([]string{"protocol.file.allow"}, 0)
	assert.EqualError(t, err, `git config setting "protocol.file.allow" is not of the form name=value`)
}

// A timeout stops git (SIGTERM, which git passes on to what it started) and
// says so; so does the end of the context.
func TestTimeoutAndCancellationStopGit(t *testing.T) {
	dir := newRepo(t)
	hang := Runner{Config: []string{"alias.hang=!exec sleep 60"}, Timeout: 200 * time.Millisecond}
	began := time.Now()
	_, err := hang.Run(context.Background(), dir, "hang")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "after 200ms")
	assert.Less(t, time.Since(began), 30*time.Second, "git was not stopped")

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	hang.Timeout = 0
	_, err = hang.Run(ctx, dir, "hang")
	require.ErrorIs(t, err, context.Canceled)
}

func TestStdinAndAHeldFile(t *testing.T) {
	dir := newRepo(t)
	id, err := Runner{}.Exec(context.Background(), Options{Dir: dir, Stdin: strings.NewReader("hello\n")}, "hash-object", "--stdin")
	require.NoError(t, err)
	assert.Equal(t, "ce013625030ba8dba906f756967f9e9ca394464a", id)

	held, err := os.Create(filepath.Join(t.TempDir(), "lock"))
	require.NoError(t, err)
	defer held.Close()
	fd3 := Runner{Config: []string{"alias.fd3=!test -e /dev/fd/3"}}
	_, err = fd3.Exec(context.Background(), Options{Dir: dir, Hold: held}, "fd3")
	assert.NoError(t, err, "git inherits the held file")
	_, err = fd3.Exec(context.Background(), Options{Dir: dir}, "fd3")
	var gitErr *Error
	assert.True(t, errors.As(err, &gitErr), "nothing else is inherited: %v", err)
}
