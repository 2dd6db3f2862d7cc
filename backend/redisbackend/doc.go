// Package redisbackend is a backend.Backend on Redis, through
// github.com/redis/go-redis/v9: a single node, a master found through
// Sentinel, or a Redis Cluster. Every process and machine that opens the
// same Redis with the same key prefix shares one vault.
//
// Embedders pass their own client to New; the Backend never closes it:
//
//	client := redis.NewClusterClient(&redis.ClusterOptions{
//		Addrs:                 []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"},
//		Password:              os.Getenv("REDIS_PASSWORD"),
//		ContextTimeoutEnabled: true,
//	})
//	defer client.Close()
//	b, err := redisbackend.New(client, redisbackend.WithPrefix("prod-vault"))
//	if err != nil { ... }
//	vault, err := agentvault.New(b, keys)
//
// The ass command, and anyone with only a URL, calls Open, which creates
// the client (and closes it on Close) and checks that the server answers:
//
//	redisbackend.Open("redis://:s3cret@127.0.0.1:6379/0")
//	redisbackend.Open("rediss://vault:s3cret@redis.example.com:6380/2?dial_timeout=2s")
//	redisbackend.Open("redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000")
//	redisbackend.Open("rediss+cluster://:s3cret@10.0.0.1:7000?addr=10.0.0.2:7000")
//	redisbackend.Open("redis+sentinel://:s3cret@10.0.0.1:26379/0?master=mymaster&addr=10.0.0.2:26379")
//
// In every form the user and password are those of the data nodes (for
// Sentinel: of the master and replicas, not of the sentinels); see Open for
// the query parameters, and WithTLSConfig for a private CA.
//
// # Storage layout
//
// A key's value and revision are one Redis string (a short header, then the
// value), so Get is one GET. Keys are split into index shards (16 by
// default, WithIndexShards): shard s owns the hash tag {PREFIX:ss}, and its
// keys' records ({PREFIX:ss}:k:KEY), its sorted-set index of key names
// ({PREFIX:ss}:idx) and its revision clock ({PREFIX:ss}:meta) all live in
// that one Cluster hash slot. Put and Delete run one Lua script on one slot
// that checks the revision and updates the record, the index and the clock
// together, atomically: the index never disagrees with the data. List runs
// one ZRANGEBYLEX per shard in a pipeline and merges the results; nothing
// ever scans the keyspace (no KEYS, no SCAN). The prefix keeps several
// vaults apart in one Redis.
//
// # Revisions
//
// A Put's new revision is max(server TIME in microseconds, shard clock + 1,
// old revision + 1), and the shard clock is then set to it. Revisions of a
// shard therefore only grow, across Delete and re-create, across server
// clock steps and Sentinel failovers to a machine whose clock is behind, so
// a key never gets the same revision twice; and they look like
// microsecond timestamps. They stay below 2^53 (exact in Lua) until the
// year 2255.
//
// # Errors
//
// Errors wrap backend.ErrNotFound, backend.ErrConflict,
// backend.ErrInvalidKey and backend.ErrClosed (test them with errors.Is),
// and go-redis and network errors with the operation and key:
//
//	redisbackend: get "s/prod/db": dial tcp 127.0.0.1:6390: connect: connection refused
//
// No error and no String result ever contains a password.
//
// # Timeouts, retries and durability
//
// Every method honours its context's cancellation and deadline. Socket
// timeouts, retries, pool sizes and TLS come from the client's options
// (Open: the URL and the With*Timeout options). Without a context deadline
// an operation on a dead server takes up to MaxRetries+1 tries, each
// bounded by the dial or read timeout (about 2 seconds in all with
// go-redis's defaults when the connection is refused), before it fails;
// give the context a deadline to bound it. When the server returns,
// go-redis's dial circuit breaker lets operations through again within
// about a second. go-redis retries a command after a network error; a retried
// Put whose first attempt was applied returns that attempt's revision (each
// Put carries a random write id), not a false ErrConflict; a retried Delete
// may report ErrNotFound.
//
// A Put is as durable as the server makes it. For a vault, run Redis with
// appendonly yes and appendfsync always (everysec may lose the last second
// on a crash), maxmemory-policy noeviction (an evicted index or clock breaks
// the invariants above), and on Sentinel or Cluster accept that an
// asynchronous replica promoted after a crash may lack the last writes.
// Requires Redis 5 or later. With ACLs, the user needs PING, GET, EVALSHA,
// EVAL and ZRANGEBYLEX, plus GETRANGE, HGET, HMGET, TIME, SET, HSET, ZADD,
// DEL and ZREM (called by the scripts), on the keys {PREFIX:*.
//
// # Concurrency
//
// A Backend is safe for concurrent use by any number of goroutines,
// processes and machines: the Lua scripts serialize conditional writes on
// the server.
package redisbackend
