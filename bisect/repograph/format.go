package repograph

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrUnsupportedObjectFormat says that a repository names its objects
// otherwise than by SHA-1 (git's SHA-256 repositories): sxbisect reads only
// SHA-1 object ids.
var ErrUnsupportedObjectFormat = errors.New("unsupported object format")

// checkObjectFormat refuses a repository whose config sets
// extensions.objectFormat to anything but sha1. Without this, every
// revision of a SHA-256 repository would be an "unknown revision".
func checkObjectFormat(commonDir string) error {
	f, err := os.Open(filepath.Join(commonDir, "config"))
	if err != nil {
		return nil // no config: git's defaults, SHA-1
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Trim(line, "[] \t"))
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section != "extensions" || !strings.EqualFold(strings.TrimSpace(key), "objectformat") {
			continue
		}
		if format := strings.ToLower(strings.TrimSpace(value)); format != "sha1" {
			return fmt.Errorf("%w: the repository at %s uses %s object ids, which sxbisect does not read yet; bisect it with git bisect run", ErrUnsupportedObjectFormat, filepath.Dir(commonDir), format)
		}
	}
	return nil
}
