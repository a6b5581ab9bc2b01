package journal

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rec struct {
	Type string `json:"type"`
	N    int    `json:"n"`
}

func TestAppendThenReadBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s", "journal.jsonl")
	j, entries, err := Open(path)
	require.NoError(t, err)
	require.Empty(t, entries)
	for i := 0; i < 3; i++ {
		require.NoError(t, j.Append(rec{Type: "step", N: i}))
	}
	// An unsynced record is read back like the others, in its place.
	require.NoError(t, j.AppendUnsynced(rec{Type: "process", N: 3}))
	require.NoError(t, j.Append(rec{Type: "step", N: 4}))
	require.NoError(t, j.Close())

	entries, err = Read(path)
	require.NoError(t, err)
	require.Len(t, entries, 5)
	var r rec
	require.NoError(t, entries[2].Decode(&r))
	assert.Equal(t, rec{Type: "step", N: 2}, r)
	assert.Equal(t, 3, entries[2].Line)
	require.NoError(t, entries[3].Decode(&r))
	assert.Equal(t, rec{Type: "process", N: 3}, r)
	require.NoError(t, entries[4].Decode(&r))
	assert.Equal(t, rec{Type: "step", N: 4}, r)
}

func TestTornLastLineIsCutAndAppendingGoesOn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"type":"a","n":1}`+"\n"+`{"type":"b","n":`), 0o644))

	j, entries, err := Open(path)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.NoError(t, j.Append(rec{Type: "c", N: 3}))
	require.NoError(t, j.Close())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"type":"a","n":1}`+"\n"+`{"type":"c","n":3}`+"\n", string(data))
}

func TestDamageInsideTheFileIsReportedWithItsLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(`{"type":"a"}`+"\n"+"garbage\n"+`{"type":"b"}`+"\n"), 0o644))
	_, _, err := Open(path)
	var damaged *DamagedError
	require.ErrorAs(t, err, &damaged)
	assert.Equal(t, 2, damaged.Line)
	assert.Contains(t, err.Error(), "line 2")

	entries, err := Read(path)
	require.ErrorAs(t, err, &damaged)
	require.Len(t, entries, 1, "Read gives the records before the damage")
	assert.Equal(t, "a", entries[0].Type)
}

// TestKill9WhileAppendingLosesOnlyTheRecordInFlight runs a writer in a child
// process, kills it without warning, and checks that every record the file
// keeps is whole and that the records are consecutive.
func TestKill9WhileAppendingLosesOnlyTheRecordInFlight(t *testing.T) {
	if os.Getenv("SXBISECT_JOURNAL_WRITER") != "" {
		j, _, err := Open(os.Getenv("SXBISECT_JOURNAL_WRITER"))
		if err != nil {
			os.Exit(3)
		}
		for i := 0; ; i++ {
			if err := j.Append(rec{Type: "step", N: i}); err != nil {
				os.Exit(4)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9WhileAppendingLosesOnlyTheRecordInFlight$")
	cmd.Env = append(os.Environ(), "SXBISECT_JOURNAL_WRITER="+path)
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() > 2000 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the writer wrote nothing")
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()

	j, entries, err := Open(path)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for i, e := range entries {
		var r rec
		require.NoError(t, e.Decode(&r))
		require.Equal(t, i, r.N, "records must be consecutive")
	}
	require.NoError(t, j.Append(rec{Type: "resumed", N: len(entries)}))
	require.NoError(t, j.Close())
	again, err := Read(path)
	require.NoError(t, err)
	assert.Len(t, again, len(entries)+1)
}

// TestFullDiskLeavesNoHalfRecord mounts a tiny tmpfs, fills it through the
// journal, and checks that the failing Append says why and leaves the file
// ending on a whole record, so the session can stop and resume later.
func TestFullDiskLeavesNoHalfRecord(t *testing.T) {
	dir := t.TempDir()
	if err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", dir).Run(); err != nil {
		t.Skip("cannot mount a small tmpfs to fill (needs root and mount rights): " + err.Error())
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "journal.jsonl")
	j, _, err := Open(path)
	require.NoError(t, err)
	var appendErr error
	written := 0
	for i := 0; i < 10000 && appendErr == nil; i++ {
		appendErr = j.Append(rec{Type: "step-with-a-long-type-name-" + strconv.Itoa(i), N: i})
		if appendErr == nil {
			written++
		}
	}
	require.Error(t, appendErr)
	assert.True(t, errors.Is(appendErr, syscall.ENOSPC), "got %v", appendErr)
	require.NoError(t, j.Close())
	entries, err := Read(path)
	require.NoError(t, err)
	assert.Len(t, entries, written)
}

func TestWriteFileAtomicReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "result.json")
	require.NoError(t, WriteFileAtomic(path, []byte("old"), 0o644))
	require.NoError(t, WriteFileAtomic(path, []byte("new"), 0o644))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new", string(data))
	left, err := filepath.Glob(filepath.Join(dir, ".result.json.tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary file may be left behind")
}

func TestLockNamesItsHolderAndIsReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first, err := TryLock(path)
	require.NoError(t, err)
	assert.True(t, IsLocked(path))

	_, err = TryLock(path)
	var held *HeldError
	require.ErrorAs(t, err, &held)
	assert.Equal(t, os.Getpid(), held.Holder.PID)
	assert.Contains(t, err.Error(), "pid "+strconv.Itoa(os.Getpid()))

	require.NoError(t, first.Unlock())
	assert.False(t, IsLocked(path))
	second, err := TryLock(path)
	require.NoError(t, err)
	require.NoError(t, second.Unlock())
}

// BenchmarkAppend is what a record costs with and without waiting for
// the disk; a session writes its process records unsynced:
//
//	go test -run '^$' -bench Append ./bisect/journal/
func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name   string
		append func(*Journal, any) error
	}{{"synced", (*Journal).Append}, {"unsynced", (*Journal).AppendUnsynced}} {
		b.Run(c.name, func(b *testing.B) {
			j, _, err := Open(filepath.Join(b.TempDir(), "journal.jsonl"))
			require.NoError(b, err)
			defer j.Close()
			for i := range b.N {
				if err := c.append(j, rec{Type: "process", N: i}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
