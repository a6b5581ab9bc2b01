package run

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// runCgroupPrefix starts the name of every cgroup Run creates:
// sxbisect-<pid>-<n> for a run, sxbisect-<pid> for the leaf sxbisect moves
// itself into on a delegated cgroup v2 subtree. The pid lets a later
// sxbisect tell the cgroups of one that died (kill -9) from those of one
// still running.
const runCgroupPrefix = "sxbisect-"

// hierarchy is one mounted cgroup hierarchy, with the cgroup this process
// belongs to in it.
type hierarchy struct {
	// mount is where the hierarchy is mounted and mountRoot the cgroup
	// shown there (not "/" when a container was given a subtree).
	mount, mountRoot string
	// own is our cgroup's path as /proc/self/cgroup gives it.
	own string
}

// dirOf returns the directory of the cgroup at path p (as
// /proc/<pid>/cgroup gives it), or "" when that cgroup is outside the mount.
func (h *hierarchy) dirOf(p string) string {
	// A cgroup namespace shows cgroups outside it as "/../..".
	for _, name := range strings.Split(p, "/") {
		if name == ".." {
			return ""
		}
	}
	rel, ok := strings.CutPrefix(p, h.mountRoot)
	if !ok || (h.mountRoot != "/" && rel != "" && !strings.HasPrefix(rel, "/")) {
		return ""
	}
	return filepath.Join(h.mount, rel)
}

// ownDir is the directory of our own cgroup, "" when it is not reachable.
func (h *hierarchy) ownDir() string { return h.dirOf(h.own) }

// hierarchies are the cgroup hierarchies a run can use: the unified one
// (v2) and the v1 hierarchies of the memory, cpuacct and cpuset
// controllers. Any of them may be nil.
type hierarchies struct {
	v2, memoryV1, cpuacctV1, cpusetV1 *hierarchy
	// euid is the user sxbisect runs as, and systemd is set when systemd
	// manages the machine: both decide where runs' cgroups may go and what
	// a user is told to do when they cannot have a cpuset.
	euid    int
	systemd bool
}

// findHierarchies reads what is mounted (the text of /proc/self/mountinfo)
// and where this process is (the text of /proc/self/cgroup or
// /proc/thread-self/cgroup). Nothing is mounted here: a machine without
// the mounts simply gets no cgroups.
func findHierarchies(mountinfo, membership string) hierarchies {
	var v2Path string
	v1Paths := map[string]string{} // controller -> path
	for _, line := range strings.Split(membership, "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && controllers == "" {
			v2Path = p
			continue
		}
		for _, c := range strings.Split(controllers, ",") {
			v1Paths[c] = p
		}
	}

	var hs hierarchies
	for _, line := range strings.Split(mountinfo, "\n") {
		m, ok := parseMountinfoLine(line)
		if !ok {
			continue
		}
		switch m.fsType {
		case "cgroup2":
			if hs.v2 == nil && v2Path != "" {
				h := &hierarchy{mount: m.mountPoint, mountRoot: m.root, own: v2Path}
				if h.ownDir() != "" {
					hs.v2 = h
				}
			}
		case "cgroup":
			for _, opt := range strings.Split(m.superOptions, ",") {
				var slot **hierarchy
				switch opt {
				case "memory":
					slot = &hs.memoryV1
				case "cpuacct":
					slot = &hs.cpuacctV1
				case "cpuset":
					slot = &hs.cpusetV1
				default:
					continue
				}
				p, member := v1Paths[opt]
				if *slot != nil || !member {
					continue
				}
				h := &hierarchy{mount: m.mountPoint, mountRoot: m.root, own: p}
				if h.ownDir() != "" {
					*slot = h
				}
			}
		}
	}
	return hs
}

type mountinfoEntry struct {
	root, mountPoint, fsType, superOptions string
}

// parseMountinfoLine splits one line of /proc/self/mountinfo:
// "id parent major:minor root mountpoint options [optional...] - fstype source superoptions".
func parseMountinfoLine(line string) (mountinfoEntry, bool) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" && i >= 6 {
			sep = i
			break
		}
	}
	if sep < 0 || len(fields) < sep+4 {
		return mountinfoEntry{}, false
	}
	return mountinfoEntry{
		root:         unescapeMountinfo(fields[3]),
		mountPoint:   unescapeMountinfo(fields[4]),
		fsType:       fields[sep+1],
		superOptions: fields[sep+3],
	}, true
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) the kernel
// writes into mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readHierarchies finds the hierarchies and this process's cgroups in them.
func readHierarchies() (hierarchies, error) {
	mountinfo, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return hierarchies{}, err
	}
	membership, err := ownMembership()
	if err != nil {
		return hierarchies{}, err
	}
	hs := findHierarchies(string(mountinfo), string(membership))
	hs.euid = os.Geteuid()
	// systemd's own test for whether it is the init system (sd_booted).
	hs.systemd = fileExists("/run/systemd/system")
	return hs, nil
}

// ownMembership reads where sxbisect is in the cgroup hierarchies, from a
// thread that is where the process is. In cgroup v1 a thread moves alone
// (startOnMovedThread moves one into a run's cgroups for the fork), and
// /proc/self/cgroup tells of the thread group's leader: when the thread
// moved for a fork was the leader, another run made meanwhile took the
// first run's cgroup for sxbisect's own and was made inside it, on that
// run's cores and in its memory accounting. A thread locked to this
// goroutine is not one moved for a fork, since those stay locked to
// theirs until they are back.
func ownMembership() ([]byte, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return os.ReadFile("/proc/thread-self/cgroup")
}

// makeRunCgroup creates base/sxbisect-<pid>-<n> with a random n, so that
// a name is not used again soon after its run: a cgroup's name in a log
// then stands for one run. mkdir fails on a name in use, so a clash only
// costs another draw.
func makeRunCgroup(base string) (string, error) {
	prefix := fmt.Sprintf("%s%d-", runCgroupPrefix, os.Getpid())
	for {
		dir := filepath.Join(base, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
}

// sweepStaleCgroups removes the empty cgroups in base that an sxbisect
// which no longer runs left behind: one killed before it could clean up.
// A stale cgroup that still holds processes is left alone (removing it
// would fail anyway); those processes are not ours to judge.
func sweepStaleCgroups(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		pid, ok := cgroupOwner(e.Name())
		if !ok || pid == self || processAlive(pid) {
			continue
		}
		// rmdir fails on a cgroup that has processes or children.
		_ = os.Remove(filepath.Join(base, e.Name()))
	}
}

// cgroupOwner returns the pid in a name made by makeRunCgroup or used for
// sxbisect's own leaf.
func cgroupOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, runCgroupPrefix)
	if !ok {
		return 0, false
	}
	pidText, n, hasN := strings.Cut(rest, "-")
	if hasN {
		if _, err := strconv.Atoi(n); err != nil {
			return 0, false
		}
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// processAlive reports whether pid exists; EPERM means it does, under
// another user.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// removeCgroup removes a run's cgroup once its processes are gone. Right
// after the last one exits the kernel may still report it busy for a
// moment, so it tries a few times.
func removeCgroup(dir string) error {
	var err error
	for range 50 {
		err = os.Remove(dir)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			return err
		}
		sleepBriefly()
	}
	return err
}

// readKeyed reads a file of "key value" lines (cpu.stat, memory.events,
// memory.oom_control, cpuacct.stat, /proc/vmstat) into a map.
func readKeyed(file string) (map[string]int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	values := map[string]int64{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil {
			values[key] = n
		}
	}
	return values, scanner.Err()
}

// readInt reads a file holding one integer (memory.peak,
// memory.max_usage_in_bytes, cpuacct.usage_user).
func readInt(file string) (int64, error) {
	text, err := readFileTrimmed(file)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(text, 10, 64)
}

// readFileTrimmed reads a file holding one value (cpuset.mems), without
// the newline.
func readFileTrimmed(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// writeFile writes one value into a cgroup file, which must exist: a
// cgroup file is never created.
func writeFile(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readPids reads cgroup.procs or tasks.
func readPids(file string) []int {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var pids []int
	for _, field := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(field); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hasWord reports whether the space-separated list in file (such as
// cgroup.controllers) holds word.
func hasWord(file, word string) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	for _, w := range strings.Fields(string(data)) {
		if w == word {
			return true
		}
	}
	return false
}

func fileExists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}
