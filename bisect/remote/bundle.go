package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// bundleName names the bundle of tips without the commits of base: the
// same range makes the same name, so sessions of one range share it.
func bundleName(tips, base []string) string {
	sum := sha256.Sum256([]byte(strings.Join(tips, " ") + " ^" + strings.Join(base, " ^")))
	return "b" + hex.EncodeToString(sum[:12])
}

// putBundle makes a git bundle of the commits reachable from tips and not
// from base, in the repository at repo, and puts it into the object
// store, unless it is there already. The user's repository is only read:
// the bundle's refs are made in a scratch repository that borrows its
// objects (an alternate), since git bundles only what refs name.
func putBundle(ctx context.Context, obs jetstream.ObjectStore, repo string, tips, base []string) (string, error) {
	name := bundleName(tips, base)
	if _, err := obs.GetInfo(ctx, name); err == nil {
		return name, nil
	} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", err
	}
	objects, err := git(ctx, repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "sxbisect-bundle-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	scratch := filepath.Join(tmp, "scratch.git")
	if _, err := git(ctx, "", "init", "-q", "--bare", scratch); err != nil {
		return "", err
	}
	alternates := filepath.Join(scratch, "objects", "info", "alternates")
	if err := os.WriteFile(alternates, []byte(filepath.Join(objects, "objects")+"\n"), 0o644); err != nil {
		return "", err
	}
	args := []string{"bundle", "create", "-q", filepath.Join(tmp, "range.bundle")}
	for i, tip := range tips {
		ref := fmt.Sprintf("refs/sxbisect/tip-%d", i)
		if _, err := git(ctx, scratch, "update-ref", ref, tip); err != nil {
			return "", err
		}
		args = append(args, ref)
	}
	for _, b := range base {
		args = append(args, "^"+b)
	}
	if _, err := git(ctx, scratch, args...); err != nil {
		return "", fmt.Errorf("making a bundle of the range: %w", err)
	}
	f, err := os.Open(filepath.Join(tmp, "range.bundle"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Description: "sxbisect: commits " + strings.Join(tips, " ")}, f); err != nil {
		return "", fmt.Errorf("putting the bundle into the object store: %w", err)
	}
	return name, nil
}
