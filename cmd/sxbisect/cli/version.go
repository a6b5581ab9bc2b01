package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version says which sxbisect this is, from the build information the Go
// toolchain records: the module's version (a tag, a pseudo-version, or
// "(devel)"), the VCS revision and time it was built from, and whether the
// work tree had changes.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build information) " + runtime.Version()
	}
	return versionOf(info)
}

func versionOf(info *debug.BuildInfo) string {
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var vcs []string
	if rev := settings["vcs.revision"]; rev != "" {
		vcs = append(vcs, "revision "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		vcs = append(vcs, t)
	}
	if settings["vcs.modified"] == "true" {
		vcs = append(vcs, "with uncommitted changes")
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	if len(vcs) == 0 {
		return fmt.Sprintf("%s, %s", v, goVersion)
	}
	return fmt.Sprintf("%s (%s), %s", v, strings.Join(vcs, ", "), goVersion)
}
