package remote

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sxbisect/sxbisect/bisect/buildcache"
)

// DefaultSharedCacheMax is the size of BuildBucket when a worker makes it
// and is not told another (--shared-cache-max).
const DefaultSharedCacheMax = 10 << 30

// SharedBuilds is the shared tier of the workers' build caches: the
// object store BuildBucket, an object per build cache key holding the
// entry's stream (buildcache.Dir.Export). The object store checks each
// object's SHA-256 as it is read, and buildcache.Tiered checks every
// content's; an object replaced while it is read (two workers that put
// the same key) reads as damaged, which is a miss.
type SharedBuilds struct {
	obs jetstream.ObjectStore
}

var _ buildcache.Shared = (*SharedBuilds)(nil)

// OpenSharedBuilds opens BuildBucket on conn, making it of max bytes when
// the server has none. When full, the server refuses new objects (the
// store's stream discards new messages, never old ones): builds are then
// kept on each worker only, and what the bucket holds is still served.
// The size of a bucket that exists is left as it is; differs says so.
func OpenSharedBuilds(ctx context.Context, conn *Conn, max int64) (sb *SharedBuilds, differs string, err error) {
	if max <= 0 {
		return nil, "", fmt.Errorf("shared build cache size %d is not positive", max)
	}
	obs, err := conn.objectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: BuildBucket, MaxBytes: max, Storage: jetstream.FileStorage,
		Description: "sxbisect: the workers' shared build cache",
	})
	if err != nil {
		return nil, "", err
	}
	if st, err := obs.Status(ctx); err == nil {
		if info, ok := st.(*jetstream.ObjectBucketStatus); ok {
			if have := info.StreamInfo().Config.MaxBytes; have != max {
				differs = fmt.Sprintf("the shared build cache %s exists with a limit of %d bytes, kept rather than %d (delete the bucket to make it anew)", BuildBucket, have, max)
			}
		}
	}
	return &SharedBuilds{obs: obs}, differs, nil
}

// Get opens the object of key, nil when there is none.
func (s *SharedBuilds) Get(ctx context.Context, key buildcache.Key) (io.ReadCloser, error) {
	r, err := s.obs.Get(ctx, string(key))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Has reports whether the bucket holds an object for key.
func (s *SharedBuilds) Has(ctx context.Context, key buildcache.Key) (bool, error) {
	_, err := s.obs.GetInfo(ctx, string(key))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Put writes the object of key; the server swaps it in whole once all of
// it is there. A put that failed (a full bucket) may have left the
// object's description without its chunks, which readers would wait for:
// it is deleted, the object is then a miss.
func (s *SharedBuilds) Put(ctx context.Context, key buildcache.Key, r io.Reader) error {
	_, err := s.obs.Put(ctx, jetstream.ObjectMeta{Name: string(key), Description: "sxbisect build cache entry"}, r)
	if err != nil {
		_ = s.obs.Delete(context.WithoutCancel(ctx), string(key))
	}
	return err
}

// Where names the bucket.
func (s *SharedBuilds) Where() string { return "bucket " + BuildBucket }
