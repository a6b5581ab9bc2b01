package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
)

// ConfigFile is the project file that names predicates, read from the
// top of the user's checkout:
//
//	[predicate.tcl-cpu]
//	build = "cd hosts/ocaml && dune build bin/sx_server.exe"
//	run = "bash lib/tcl/test.sh"
//	max-ratio = ["cpu=1.5"]
//	timeout = "10m"
//
//	[predicate.size]
//	use = "binary-size"                 # a Go predicate or sxbisect-predicate-NAME
//	params = { file = "sx_server", max-growth = "1.1" }
//
// so that 'sxbisect start --predicate tcl-cpu <good> <bad>' means those
// flags. The keys are start's long flag names without the dashes; flags
// given on the command line win. It is read from the checkout, never from
// a commit under test, so that a candidate cannot change what runs.
const ConfigFile = ".sxbisect.toml"

// config is the project file.
type config struct {
	path       string
	Predicates map[string]map[string]any `toml:"predicate"`
}

// loadConfig reads the project file at path; a missing file is an empty
// config unless the user named it.
func loadConfig(path string, named bool) (*config, error) {
	cfg := &config{path: path}
	md, err := toml.DecodeFile(path, cfg)
	if errors.Is(err, os.ErrNotExist) && !named {
		return cfg, nil
	}
	if err != nil {
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("reading %s: %v", path, text.OneLine(err.Error()))}
	}
	for _, key := range md.Undecoded() {
		// A preset's params table is decoded whole into the preset's
		// map, but the TOML decoder still lists its keys as undecoded.
		if len(key) > 3 && key[0] == "predicate" && key[2] == "params" {
			continue
		}
		return nil, &bisect.UsageError{Msg: fmt.Sprintf("%s: unknown key %s: the file has [predicate.NAME] tables only", path, key)}
	}
	return cfg, nil
}

// configPath finds the project file for the repository at repo: the top of
// its checkout (or the git directory of a bare repository).
func configPath(repo string) string {
	dir := repo
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return filepath.Join(d, ConfigFile)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Join(dir, ConfigFile)
		}
		d = parent
	}
}

// applyPreset sets the flags a [predicate.NAME] table gives, unless the
// command line set them, and returns the named predicate it uses, if any.
func (c *config) applyPreset(fs *pflag.FlagSet, name string) (ref *bisect.PredicateRef, found bool, err error) {
	table, ok := c.Predicates[name]
	if !ok {
		return nil, false, nil
	}
	where := fmt.Sprintf("[predicate.%s] of %s", name, c.path)
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		value := table[key]
		switch key {
		case "use":
			use, ok := value.(string)
			if !ok || use == "" {
				return nil, true, &bisect.UsageError{Msg: fmt.Sprintf("%s: use must name a predicate", where)}
			}
			if ref == nil {
				ref = &bisect.PredicateRef{}
			}
			ref.Name = use
			continue
		case "params":
			params, ok := value.(map[string]any)
			if !ok {
				return nil, true, &bisect.UsageError{Msg: fmt.Sprintf("%s: params must be a table of strings", where)}
			}
			if ref == nil {
				ref = &bisect.PredicateRef{}
			}
			ref.Params = map[string]string{}
			for k, v := range params {
				ref.Params[k] = fmt.Sprint(v)
			}
			continue
		case "predicate", "name":
			return nil, true, &bisect.UsageError{Msg: fmt.Sprintf("%s: %q cannot be set in a preset", where, key)}
		}
		if err := setFlag(fs, key, value); err != nil {
			return nil, true, &bisect.UsageError{Msg: fmt.Sprintf("%s: %v", where, err)}
		}
	}
	if ref != nil && ref.Name == "" {
		return nil, true, &bisect.UsageError{Msg: fmt.Sprintf("%s: params without use: name the predicate they are for", where)}
	}
	return ref, true, nil
}

// setFlag sets a flag from a TOML value, as if it had been given on the
// command line, unless the command line already set it. Arrays set a
// repeatable flag once per element.
func setFlag(fs *pflag.FlagSet, key string, value any) error {
	f := fs.Lookup(key)
	if f == nil {
		return fmt.Errorf("unknown key %q: keys are the long flag names of 'sxbisect start' without the dashes (run, build, max-ratio, timeout, ...)", key)
	}
	if f.Changed {
		return nil
	}
	values := []any{value}
	if list, ok := value.([]any); ok {
		values = list
	}
	for _, v := range values {
		if err := fs.Set(key, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("%s = %v: %v", key, v, err)
		}
	}
	return nil
}
