package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/sxbisect/sxbisect/internal/text"
)

// clones are a worker's clones of the repositories it tests, bare, one
// per repository name, under DIR/repos. Each has its own worktree pool,
// in its git directory as on any repository.
type clones struct {
	dir string
	mu  sync.Mutex
	// locks serialise the fetches into one clone.
	locks map[string]*sync.Mutex
	// fetchBundle copies a bundle of the object store to a file.
	fetchBundle func(ctx context.Context, name, file string) error
}

func newClones(dir string, fetchBundle func(ctx context.Context, name, file string) error) *clones {
	return &clones{dir: filepath.Join(dir, "repos"), locks: map[string]*sync.Mutex{}, fetchBundle: fetchBundle}
}

// path is where the clone of the named repository lives.
func (c *clones) path(repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:8])+".git")
}

func (c *clones) lock(path string) *sync.Mutex {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.locks[path]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[path] = l
	}
	return l
}

// ensure returns the clone of the job's repository, holding the job's
// commit and its good commits (for baselines), fetched from the job's URL
// or bundles as needed.
func (c *clones) ensure(ctx context.Context, job *Job) (string, error) {
	path := c.path(job.Repo)
	l := c.lock(path)
	l.Lock()
	defer l.Unlock()
	if _, err := os.Stat(filepath.Join(path, "HEAD")); err != nil {
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return "", err
		}
		// Made under a temporary name and renamed, so that a worker killed
		// half-way leaves no clone that looks whole.
		tmp, err := os.MkdirTemp(c.dir, "new-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if _, err := git(ctx, "", "init", "-q", "--bare", tmp); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(tmp, "sxbisect-repo"), []byte(job.Repo+"\n"), 0o644); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, path); err != nil {
			return "", err
		}
	}
	want := append([]string{job.Commit}, job.Spec.GoodCommits...)
	missing, err := missingCommits(ctx, path, want)
	if err != nil || len(missing) == 0 {
		return path, err
	}
	if job.Fetch != "" {
		err = c.fetchURL(ctx, path, job.Fetch, missing)
	} else {
		err = c.fetchBundles(ctx, path, job.Bundles)
	}
	if err != nil {
		return "", err
	}
	if missing, err = missingCommits(ctx, path, want); err != nil {
		return "", err
	}
	if len(missing) > 0 {
		from := job.Fetch
		if from == "" {
			from = "the bundles " + strings.Join(job.Bundles, ", ")
		}
		return "", fmt.Errorf("commit %s is not in %s", text.ShortID(missing[0]), from)
	}
	return path, nil
}

// fetchURL fetches every branch and tag of url, then the missing commits
// by name if they are still missing (a commit no ref reaches).
func (c *clones) fetchURL(ctx context.Context, path, url string, missing []string) error {
	if _, err := git(ctx, path, "fetch", "-q", "--no-tags", url, "+refs/heads/*:refs/sxbisect/heads/*", "+refs/tags/*:refs/sxbisect/tags/*"); err != nil {
		return fmt.Errorf("fetching from %s: %w", url, err)
	}
	still, err := missingCommits(ctx, path, missing)
	if err != nil || len(still) == 0 {
		return err
	}
	args := append([]string{"fetch", "-q", "--no-tags", url}, still...)
	if _, err := git(ctx, path, args...); err != nil {
		return fmt.Errorf("fetching %s from %s: %w", text.ShortID(still[0]), url, err)
	}
	return nil
}

// fetchBundles fetches the bundles not fetched before, in order.
func (c *clones) fetchBundles(ctx context.Context, path string, names []string) error {
	if len(names) == 0 {
		return errors.New("the step names neither a URL nor a bundle to fetch its commits from")
	}
	for _, name := range names {
		if err := checkToken("bundle", name); err != nil {
			return err
		}
		done := filepath.Join(path, "sxbisect-bundles", name)
		if _, err := os.Stat(done); err == nil {
			continue
		}
		file := filepath.Join(path, "sxbisect-bundle-"+name)
		if err := c.fetchBundle(ctx, name, file); err != nil {
			return fmt.Errorf("getting the bundle %s from the object store: %w", name, err)
		}
		_, err := git(ctx, path, "fetch", "-q", "--no-tags", file, "+refs/*:refs/sxbisect/bundles/"+name+"/*")
		os.Remove(file)
		if err != nil {
			return fmt.Errorf("fetching from the bundle %s: %w", name, err)
		}
		if err := os.MkdirAll(filepath.Dir(done), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// missingCommits lists the commits of want that the repository lacks.
func missingCommits(ctx context.Context, repo string, want []string) ([]string, error) {
	var in bytes.Buffer
	for _, c := range want {
		in.WriteString(c + "^{commit}\n")
	}
	cmd := exec.CommandContext(ctx, "git", "cat-file", "--batch-check=%(objectname)")
	cmd.Dir, cmd.Stdin, cmd.Env = repo, &in, gitEnv()
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git cat-file in %s: %w", repo, err)
	}
	var missing []string
	for i, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasSuffix(line, " missing") && i < len(want) {
			missing = append(missing, want[i])
		}
	}
	return missing, nil
}

// git runs git in dir and returns its trimmed output; an error carries
// the last line git wrote.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir, cmd.Env = dir, gitEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// gitEnv is the environment of the git commands a worker and a
// coordinator run: the process's, without what would point git at another
// repository, and without prompts for passwords nobody will type.
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true")
}

// allowed reports whether repo matches one of the patterns, in which *
// stands for any run of characters; no patterns allow every repository.
func allowed(patterns []string, repo string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		parts := strings.Split(p, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		if regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(repo) {
			return true
		}
	}
	return false
}
