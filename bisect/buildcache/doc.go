// Package buildcache keeps builds by what went into them, so that two
// commits whose build inputs are equal are built once, and a range bisected
// again builds nothing.
//
// # The key
//
// A build's Key is a hash of its Inputs: the git object ids, at the commit,
// of the paths the build reads (a directory's tree id, a file's blob id, a
// submodule's commit id; the whole tree's id when no path is named), the
// build command, the values of the environment variables the user names,
// and whether submodules were checked out. Git has hashed every file
// already, so keying a build costs one git process and no reading of files,
// and so does keying the builds of a thousand commits at once.
// Two commits that differ only outside the inputs (guest libraries, docs,
// plans) have the same key.
//
// What is not in the key is the cache's blind spot: the compiler and
// libraries installed on the machine, variables not named, and anything
// else the build reads from outside the worktree. sxbisect's own variables
// are never in it: SXBISECT_COMMIT differs at every commit, so a build that
// reads it would never be reused; a build whose output depends on it
// defeats the cache, and one that merely prints it gets the first commit's
// value back from the cache.
//
// # What is kept
//
// An Entry per key, the manifest, says which commit's build it was, whether
// the build failed (with the reason and the tail of its output) and, for a
// build that succeeded, every file, directory and symbolic link of the
// declared outputs, with modes and content hashes. Contents are kept once
// each, by SHA-256, however many entries name them. Which failures are
// worth keeping is the caller's choice: sxbisect keeps a build that failed
// by its exit status, not one killed by a timeout or a signal, nor the
// shell's "cannot run" and "not found" (126, 127), which say something
// about the machine rather than the inputs.
//
// Outputs are paths relative to the worktree, declared by the user
// (--build-output): the cache cannot tell a build's outputs from the
// incremental state around them, and restoring a whole worktree would cost
// more than most builds. Without declared outputs the cache has nothing to
// restore, and keeps only failures.
//
// # Restoring
//
// Restore replaces each declared output in the worktree (a directory as a
// whole, so that no file of another build stays in it) with the entry's, and
// checks every content against its hash as it copies it: a damaged or
// missing content makes Restore fail and the entry be forgotten, and the
// caller builds instead. Restored files get the current time as their
// modification time, newer than the sources checked out before them, which
// is what make needs; tools that hash their targets (dune) see the change
// anyway. Only the declared outputs are restored: a test that reads
// anything else the build makes tests whatever the worktree held before.
//
// # Sharing and safety
//
// One cache serves every session, batch job, comparison and worktree of a
// repository, in one process or several. Every file is written to a
// temporary name, synced, and renamed into place, so that a reader sees a
// whole file or none, and two writers of one key or one content each leave
// a whole one (the last rename wins). Writers and restorers hold a shared
// flock on the cache's lock file; the eviction holds it exclusively, so that
// it never removes a content a store has written and not yet named in a
// manifest, nor one a restore is copying. A crash leaves at most temporary
// files and unnamed contents, which the next eviction removes.
//
// # Size
//
// The cache is kept under a size limit by dropping the entries used least
// recently (a manifest's modification time is its last use: Lookup touches
// it), then the contents no entry names. The eviction runs after every store
// when no other process is storing or restoring; the limit can be passed
// for as long as they are. An entry larger than the limit alone is dropped
// at once.
//
// # Tiers
//
// Cache is the narrow interface the bisect package uses; Dir, a directory
// on the local disk, is one implementation. Tiered is another: a Dir in
// front of a Shared tier, a store of entry streams by key that machines
// share (sxbisect workers use an object store of their NATS server: see
// package remote). A key the Dir misses is asked of the shared tier, and
// its stream imported into the Dir (Import) before it is restored from
// there; a build kept in the Dir is exported (Export) to the shared tier
// unless that holds the key already. A stream is a tar archive of the
// manifest, named by its SHA-256, and of each content, named by its own:
// Import checks every byte that matters, keeps the contents first and the
// manifest last, and refuses a stream cut short or damaged (ErrDamaged),
// keeping nothing of it. Tiered reports such a stream as a
// SharedDamagedError, a miss, and replaces it with the build that
// follows. The shared tier keeps failures as the Dir does.
package buildcache
