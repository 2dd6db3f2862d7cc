package redisbackend

// WithoutLostWriteDetection turns ErrLostWrite detection off, so that
// tests can measure what the code did before it existed.
func WithoutLostWriteDetection() Option { return func(o *options) { o.noMarks = true } }

// ShardTagForTest returns the two-digit index shard of key.
func ShardTagForTest(b *Backend, key string) string {
	t := b.tags[shardOf(key, b.shards)]
	return t[len(t)-3 : len(t)-1]
}
