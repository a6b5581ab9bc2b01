// Package worktree keeps a pool of scratch git worktrees in which sxbisect
// checks out, builds and tests candidate commits, so that the user's own
// checkout is never touched: its work tree, index, HEAD, refs, config and
// uncommitted changes stay exactly as they were.
//
// # What a pool worktree is
//
// Each scratch worktree is a real linked worktree, the same thing
// `git worktree add` makes: `git worktree list` shows it, and a user can cd
// into it, for instance to look at the build of the first bad commit. It is
// made of a few administrative files in <common git dir>/worktrees/<id>/
// (HEAD, commondir, gitdir, locked, and later index), a `.git` file in the
// worktree that points there, and the checked-out files. The pool writes
// these files itself and then runs `git checkout`, rather than running
// `git worktree add`. BenchmarkCreateWorktree finds the two equally fast
// (within a few percent, on 5000 files and on 100: writing the files costs
// the same either way, and the processes `worktree add` starts are cheap),
// so the choice rests on control: the admin entry gets a name of the
// pool's choosing, sxbisect-<name>, which cleanup relies on; `locked` is
// written before anything else; and Acquire can register a worktree
// without checking anything out. The `locked` file carries a reason, as
// `git worktree lock --reason` would write it, so that a `git worktree prune`
// by the user never drops a pool worktree.
//
// # Where the pool lives
//
// By default the pool is <common git dir>/sxbisect/worktrees/<name>, which
// is outside every work tree of the repository and is shared by all of
// them; Options.Dir moves it anywhere that is not inside a work tree (nor
// inside the git directory, but for its sxbisect/ directory), does not
// contain a work tree or the git directory, and is not a symlink. The
// repository may be given as its main worktree, any linked worktree, or a
// bare repository: the pool belongs to the common git directory. A file
// named .sxbisect-pool marks the directory as a pool; a non-empty directory
// without it is never used or cleaned. Worktrees are kept between runs and
// reused across sessions, so that incremental builds (make, dune) only
// rebuild what the next candidate changed. A worktree, or the whole pool,
// deleted by hand is made again on the next Acquire or Checkout, after the
// stale admin entry is removed.
//
// # Why checkout goes through the git command
//
// Worktree.Checkout runs `git checkout -q -f --detach <commit>` in the
// worktree. Git compares the index with the target tree and writes only the
// files that differ, so unchanged files keep their mtimes and a build tool
// sees only the real change; tracked files that a test modified are put
// back to the commit's content; untracked and ignored files (build outputs)
// are left alone (so is the directory of a submodule that the next commit
// no longer has). Moving between neighbouring commits of a 5000-file tree
// with 2000 build outputs takes about a hundredth of the first, full
// checkout (BenchmarkCheckoutNeighbour). go-git's checkout is 3 to 18
// times slower on the same work, and its Force and HardReset modes delete
// untracked and ignored files, which would throw away every build output,
// so it is not used here. The -q also spares git the walk it does, on
// leaving a detached HEAD, to warn about commits left behind.
//
// Every git command runs through internal/gitcmd, as all of sxbisect's do:
// without the GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE and similar variables a
// caller may have set (a bisect hook sets some), with LC_ALL=C and
// GIT_TERMINAL_PROMPT=0, so that it acts on the worktree it is started in,
// says the same thing in every locale and never waits for a password; the
// pool adds -c advice.detachedHead=false. Options.GitConfig adds
// settings, such as protocol.file.allow=always for submodules cloned from a
// local path.
//
// # Submodules
//
// When the commit has a .gitmodules file, Checkout goes on with
// `git submodule update --recursive --force`, for the submodules that are
// active in the repository: those the user initialised in their checkout
// (git submodule init, clone --recurse-submodules), whose URL or active
// setting is in the configuration that the checkout and the pool's
// worktrees share. A submodule the user does not use (git's own repository
// has an optional one) is left alone, as `git checkout` and
// `git bisect run` leave every submodule, rather than cloned from its
// server by every new worktree; when the configuration makes no submodule
// active, which one `git config` after Acquire tells, no submodule command
// runs at all. Nothing is ever written to the shared configuration.
//
// In git 2.39 `git submodule update` is a shell script that starts about
// twenty processes and costs some 50 ms of CPU even when there is nothing
// to do, more than twice the checkout itself of a neighbouring commit of a
// 4000-file tree (BenchmarkCheckoutSubmoduleNeighbour);
// `git checkout --recurse-submodules` starts as many. So the update runs
// only on a Worktree's first checkout
// after Acquire, and when a `git diff --raw` of the trees of the previous
// and the new commit, one process and 2 to 3 ms, shows that a gitlink
// (mode 160000) or .gitmodules changed; a submodule's files that a test
// modified are put back when the submodule moves, not at every step. A
// commit without .gitmodules costs no submodule work at all. When the
// update fails (there is often no network), Checkout returns a
// *SubmoduleError, which says that the commit itself is checked out; a
// session then goes on without submodules, as `git bisect run` does, and
// calls Worktree.SkipSubmodules so that no later checkout tries again.
//
// # Sharing a pool between processes
//
// Several sxbisect processes may use one pool. Acquire takes an exclusive
// flock on <pool>/.locks/<name> for the worktree it hands out, so no other
// Acquire, in this process or another, gets the same one until Release or
// until the holder dies, when the kernel drops the lock. Go opens files
// close-on-exec, so the builds and tests that sxbisect starts do not inherit
// the lock and cannot keep it past sxbisect's death; the git commands that
// write in the worktree do inherit it, so that a git outliving a killed
// sxbisect keeps the worktree from the next Acquire until it is done, and
// an index.lock found by the holder can only be stale. Acquire prefers the
// worktree it is asked for by name (a resumed session wants its own warm
// worktree back), then any free one, and makes a new one when all are held.
//
// # Shared builds
//
// A commit's build is reused when a worktree of the pool already holds it:
// another session, or another job of a batch, built that commit with the
// same build command in the same pool. After a successful build the caller
// calls SetBuildStamp with BuildKey(commit, command), which the pool keeps
// in <pool>/.stamps/<name> with the commit checked out, written to a
// temporary file and renamed so that a crash never leaves a torn stamp.
// BuildStamp gives the key back only while that commit is still what the
// worktree's HEAD holds. Every Checkout removes the stamp before it
// touches a file, so that a checkout that fails or is killed half way
// never leaves one, and so that a caller that builds without knowing of
// stamps (sxbisect compare) cannot leave a stamp on outputs of another
// command. A caller that reads the stamp it wants before checking out the
// same commit again, which leaves untracked build outputs alone, sets it
// back instead of building. A build therefore runs with no stamp in
// place, and a failed build leaves none. Remove, RemoveAll and a worktree
// made again after it was deleted by hand drop it.
// AcquireWith with AcquireOptions.Stamp prefers a free worktree holding
// that build, after the one named by Prefer.
//
// The rule is therefore: a build is reused only when the worktree's last
// successful build was of the same commit with the same command and
// nothing was checked out since. The stamp vouches for what the build
// left, not for what came after it: a test that deletes or modifies build
// outputs (a `make clean` in the test, a test that writes into the build
// directory), or a person editing the worktree by hand, can defeat it, and
// the next user of the stamp then tests what was left. The build command
// is compared as a string, so a build that depends on something outside
// the worktree (an environment variable, an installed compiler) is reused
// even when that changed.
//
// # Safety rules for cleanup
//
// Remove and RemoveAll delete only inside the pool and in the pool's own
// admin entries under <common git dir>/worktrees/sxbisect-*. They check that
// no component of the pool's path is a symlink before each use, look at
// every entry with Lstat, unlink a symlink found in the pool without
// following it, and delete directories with os.RemoveAll, which never
// follows a symlink either; a worktree that another process holds is left
// alone. Nothing here runs a git command in, or writes to, the user's
// checkout. An admin entry is removed `locked` file first, so that one a
// kill -9 leaves half removed is unlocked; opening the pool and RemoveAll
// prune sxbisect's entries that are unlocked and name no worktree (no
// gitdir file, or an empty one), as `git worktree prune` would. A pool
// directory reached through a symlink is refused with the symlink's path,
// for a person to remove.
package worktree
