package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file run sxbisect's cgroup v2 decisions against a
// directory tree under t.TempDir() that imitates a pure cgroup v2 machine
// (cgroup.controllers, cgroup.subtree_control, cgroup.procs, cgroup.type
// as systemd leaves them). They check what sxbisect decides, what it says
// and which files it writes, not the kernel: plain files accept any write
// (the kernel would refuse some with EBUSY) and no process ever enters
// such a "cgroup". The tests that need the kernel are in cgroup_test.go
// and cpuset_test.go, and skip where no cpuset can be had.

// v2Tree is an imitation of a cgroup v2 hierarchy: each key is a cgroup's
// path below the mount ("" for the root), each value its files.
type v2Tree map[string]map[string]string

// systemdTree is a pure v2 machine under systemd with its defaults: cpuset
// enabled at the root and for the system, but not passed to user.slice's
// children, and a user manager with pids, memory and cpu delegated
// (user@.service's Delegate=pids memory cpu). uid 1000 has a login session
// and a scope for a terminal in the user manager's app.slice.
func systemdTree() v2Tree {
	domain := func(controllers, subtree string) map[string]string {
		return map[string]string{
			"cgroup.controllers": controllers, "cgroup.subtree_control": subtree,
			"cgroup.type": "domain", "cgroup.procs": "",
		}
	}
	return v2Tree{
		"": {"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc",
			"cgroup.subtree_control": "cpuset cpu io memory pids", "cgroup.procs": "1"},
		"user.slice":                                                                 domain("cpuset cpu io memory pids", "cpu memory pids"),
		"user.slice/user-1000.slice":                                                 domain("cpu memory pids", "cpu memory pids"),
		"user.slice/user-1000.slice/session-3.scope":                                 domain("cpu memory pids", ""),
		"user.slice/user-1000.slice/user@1000.service":                               domain("cpu memory pids", "cpu memory pids"),
		"user.slice/user-1000.slice/user@1000.service/app.slice":                     domain("cpu memory pids", "cpu memory pids"),
		"user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-7.scope":   domain("cpu memory pids", ""),
		"user.slice/user-1000.slice/user@1000.service/app.slice/run-r42.scope":       domain("cpu memory pids", ""),
		"user.slice/user-1000.slice/user@1000.service/app.slice/run-r42.scope/inner": domain("", ""),
	}
}

// build writes the tree under a new temporary directory and returns the
// hierarchies sxbisect finds there when it is in the cgroup own, running
// as euid under systemd.
func (tree v2Tree) build(t *testing.T, own string, euid int) (hierarchies, string) {
	t.Helper()
	mount := t.TempDir()
	for cgroup, files := range tree {
		dir := filepath.Join(mount, cgroup)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, text := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
		}
	}
	hs := findHierarchies("30 23 0:26 / "+mount+" rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n", "0::/"+own+"\n")
	require.NotNil(t, hs.v2, "the imitation must be found as the v2 hierarchy")
	hs.euid, hs.systemd = euid, true
	return hs, mount
}

// runCgroupsIn lists the run cgroups (sxbisect-<pid>-<n>) in dir.
func runCgroupsIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var runs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), runCgroupPrefix) && e.Name() != ownLeafName() {
			runs = append(runs, e.Name())
		}
	}
	return runs
}

// noCPUSetLine is the error a run on cpus gets in hs: one line that wraps
// ErrNoCPUSet.
func noCPUSetLine(t *testing.T, hs hierarchies) string {
	t.Helper()
	tree, why := newCgroupTreeIn(hs, anyHierarchy, []int{0})
	require.Nil(t, tree, "no cpuset can be had here")
	reason, ok := strings.CutPrefix(why, noCPUSet)
	require.True(t, ok, why)
	err := cpuSetError(reason)
	require.ErrorIs(t, err, ErrNoCPUSet)
	assert.NotContains(t, err.Error(), "\n")
	return err.Error()
}

// A user under systemd's defaults runs sxbisect as asked, under
// systemd-run --user --scope -p Delegate=yes: the user manager was never
// given cpuset, so that cannot help, and the error says where cpuset stops
// and that an administrator must delegate it; the run's cgroup is gone.
func TestV2UserWithoutCPUSetDelegatedIsToldHowToGetIt(t *testing.T) {
	scope := "user.slice/user-1000.slice/user@1000.service/app.slice/run-r42.scope"
	hs, mount := systemdTree().build(t, scope, 1000)
	line := noCPUSetLine(t, hs)
	assert.Contains(t, line, "the cpuset controller is not available in "+filepath.Join(mount, scope)+": "+filepath.Join(mount, "user.slice")+" does not pass it down")
	assert.Contains(t, line, "systemd does not delegate cpuset to user@1000.service (its default is Delegate=pids memory cpu)")
	assert.Contains(t, line, "/etc/systemd/system/user@.service.d/cpuset.conf with [Service] and Delegate=pids memory cpu cpuset")
	assert.Contains(t, line, "then run sxbisect under systemd-run --user --scope -p Delegate=yes")
	assert.Empty(t, runCgroupsIn(t, filepath.Join(mount, scope)), "the run's cgroup is removed")
}

// Once cpuset is delegated to the user manager, a user who started
// sxbisect from a terminal (whose scope systemd gave no controllers) is
// told to give it a scope of its own, not to ask an administrator.
func TestV2UserWithCPUSetDelegatedIsToldToRunInAScope(t *testing.T) {
	tree := systemdTree()
	tree["user.slice"]["cgroup.subtree_control"] = "cpuset cpu memory pids"
	tree["user.slice/user-1000.slice"]["cgroup.controllers"] = "cpuset cpu memory pids"
	tree["user.slice/user-1000.slice"]["cgroup.subtree_control"] = "cpuset cpu memory pids"
	tree["user.slice/user-1000.slice/user@1000.service"]["cgroup.controllers"] = "cpuset cpu memory pids"
	terminal := "user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-7.scope"
	hs, mount := tree.build(t, terminal, 1000)
	line := noCPUSetLine(t, hs)
	assert.Contains(t, line, filepath.Join(mount, "user.slice/user-1000.slice/user@1000.service")+" does not pass it down")
	assert.Contains(t, line, "run sxbisect under systemd-run --user --scope -p Delegate=yes, which gives it a cgroup of its own with the cpuset controller")
	assert.NotContains(t, line, "administrator")
}

// Where the run's cgroup cannot even be made (a login session's scope,
// which belongs to root; here it is missing, which fails the same way),
// the error gives that reason, not that no cpuset hierarchy is mounted.
func TestV2CgroupThatCannotBeMadeIsTheReason(t *testing.T) {
	tree := systemdTree()
	session := "user.slice/user-1000.slice/session-3.scope"
	delete(tree, session)
	hs, mount := tree.build(t, session, 1000)
	line := noCPUSetLine(t, hs)
	assert.Contains(t, line, "cgroup v2: mkdir "+filepath.Join(mount, session))
	assert.NotContains(t, line, "no cpuset hierarchy is mounted")
	assert.Contains(t, line, "systemd does not delegate cpuset to user@1000.service")
}

// Root in a login session gets its runs' cgroups beside the session's
// scope, in systemd's user-1000.slice, for the memory controller there.
// That slice is not sxbisect's: it must not enable cpuset in it (systemd
// would take it away again, from under a running run, the next time it
// sets the slice up), so the run is refused with the way out for root.
func TestV2RootNeverEnablesCPUSetInASliceBesideItsCgroup(t *testing.T) {
	tree := systemdTree()
	session := "user.slice/user-1000.slice/session-3.scope"
	// The session's scope cannot give memory (it holds the login shell).
	tree[session]["cgroup.controllers"] = "cpu pids"
	slice := "user.slice/user-1000.slice"
	tree[slice]["cgroup.controllers"] = "cpuset cpu memory pids"
	hs, mount := tree.build(t, session, 0)

	r, err := newV2Run(hs.v2, hs.euid)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(mount, slice), filepath.Dir(r.dir), "the run's cgroup is beside the session's")
	assert.False(t, r.ownsParent)
	r.fd.Close()
	require.NoError(t, os.Remove(r.dir))

	line := noCPUSetLine(t, hs)
	assert.Contains(t, line, "which is not sxbisect's and does not have the cpuset controller enabled for its children")
	assert.Contains(t, line, "run sxbisect under systemd-run --scope -p Delegate=yes")
	control, err := os.ReadFile(filepath.Join(mount, slice, "cgroup.subtree_control"))
	require.NoError(t, err)
	assert.Equal(t, "cpu memory pids", string(control), "nothing is written into systemd's slice")
	assert.Empty(t, runCgroupsIn(t, filepath.Join(mount, slice)))
}

// A threaded cgroup cannot hold a run's cgroup (no process may enter a
// domain child of it): it is refused with the reason, and nothing is made.
func TestV2ThreadedCgroupIsRefused(t *testing.T) {
	for _, kind := range []string{"threaded", "domain threaded", "domain invalid"} {
		tree := systemdTree()
		scope := "user.slice/user-1000.slice/user@1000.service/app.slice/run-r42.scope"
		tree[scope]["cgroup.type"] = kind
		hs, mount := tree.build(t, scope, 1000)
		_, err := newV2Run(hs.v2, hs.euid)
		require.Error(t, err, kind)
		assert.Contains(t, err.Error(), strconv.Quote(kind)+" cgroup (cgroup.type)", kind)
		assert.Empty(t, runCgroupsIn(t, filepath.Join(mount, scope)), kind)
		assert.Contains(t, noCPUSetLine(t, hs), strconv.Quote(kind), kind)
	}
}

// Where cpuset is lost on the way down is named: the first ancestor that
// has it and does not pass it on, or the top of the hierarchy (on a hybrid
// machine, where cpuset is bound to cgroup v1).
func TestV2WhereAControllerStops(t *testing.T) {
	tree := systemdTree()
	_, mount := tree.build(t, "user.slice", 1000)
	in := func(p string) string { return filepath.Join(mount, p) }
	assert.Equal(t, "the cpuset controller is not available in "+in("user.slice/user-1000.slice")+": its parent does not pass it down (cgroup.subtree_control)",
		controllerNotAvailable(in("user.slice/user-1000.slice"), "cpuset"))
	assert.Equal(t, "the cpuset controller is not available in "+in("user.slice/user-1000.slice/session-3.scope")+": "+in("user.slice")+" does not pass it down (cgroup.subtree_control)",
		controllerNotAvailable(in("user.slice/user-1000.slice/session-3.scope"), "cpuset"))
	assert.Equal(t, "the perf_event controller is not available in cgroup v2 here: "+mount+", the top of the hierarchy, lacks it (it is bound to cgroup v1, not built in, or not given to this container)",
		controllerNotAvailable(in("user.slice/user-1000.slice"), "perf_event"))
}

// sxbisect empties its own cgroup by moving itself and its descendants
// (a child's child included) into its leaf, and names the strangers that
// keep it from doing so; in a cgroup it is not in, it makes no leaf.
func TestV2MoveOurselvesToLeafTakesDescendantsNotStrangers(t *testing.T) {
	child := exec.Command("/bin/sh", "-c", "sleep 30 & echo $!; wait")
	out, err := child.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, child.Start())
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	line := make([]byte, 32)
	n, err := out.Read(line)
	require.NoError(t, err)
	grandchild, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	require.NoError(t, err)
	defer func() { _ = exec.Command("kill", strconv.Itoa(grandchild)).Run() }()

	base := t.TempDir()
	leaf := filepath.Join(base, ownLeafName())
	require.NoError(t, os.Mkdir(leaf, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(leaf, "cgroup.procs"), nil, 0o644))
	procs := func(pids ...int) {
		var lines []string
		for _, pid := range pids {
			lines = append(lines, strconv.Itoa(pid))
		}
		require.NoError(t, os.WriteFile(filepath.Join(base, "cgroup.procs"), []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	}

	procs(os.Getpid(), child.Process.Pid, grandchild)
	assert.Equal(t, "", moveOurselvesToLeaf(base))

	procs(os.Getpid(), grandchild, 1)
	why := moveOurselvesToLeaf(base)
	assert.Contains(t, why, base+" holds processes other than sxbisect's (")
	assert.Contains(t, why, "pid 1)")
	assert.NotContains(t, why, strconv.Itoa(grandchild))

	elsewhere := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(elsewhere, "cgroup.procs"), []byte(strconv.Itoa(child.Process.Pid)+"\n"), 0o644))
	assert.Equal(t, elsewhere+" is not sxbisect's own cgroup", moveOurselvesToLeaf(elsewhere))
	assert.NoDirExists(t, filepath.Join(elsewhere, ownLeafName()))
}

// A cgroup in which a cpuset can be set but no process started (clone3
// refused, or not a cgroup at all, as here) does not pass CheckCPUSet's
// test: every run would fail in it.
func TestV2CheckStartsAProcess(t *testing.T) {
	allowed, err := AllowedCPUs()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), runCgroupPrefix+"1-1")
	require.NoError(t, os.Mkdir(dir, 0o755))
	fd, err := os.Open(dir)
	require.NoError(t, err)
	tree := &cgroupTree{v2: &v2Run{dir: dir, fd: fd, ownsParent: true}, cpus: allowed[:1], cpusV2: true}
	defer tree.release()
	err = startsAProcess(tree)
	require.ErrorIs(t, err, ErrNoCPUSet)
	assert.Contains(t, err.Error(), "starting a process in it failed")
}
