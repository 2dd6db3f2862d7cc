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
//	redisbackend.Open("redis+sentinel://10.0.0.1:26379?master=mymaster&wait=0") // no replica wait
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
// backend.ErrInvalidKey and backend.ErrClosed, this package's
// ErrNotReplicated (a write that too few replicas confirmed: it may or may
// not be stored) and ErrLostWrite (a read that contradicts a write this
// Backend acknowledged), and go-redis and network errors, with the
// operation and key (test them with errors.Is):
//
//	redisbackend: get "s/prod/db": dial tcp 127.0.0.1:6390: connect: connection refused
//	redisbackend: put "s/prod/db": redisbackend: write not confirmed by enough replicas: 1 of 2 replicas confirmed within 1s
//
// No error and no String result ever contains a password.
//
// # Replication and failover
//
// Redis replicates asynchronously: a master acknowledges a write before
// any replica has it. When Sentinel or Cluster promotes a replica, writes
// it had not received are gone; worse, a master that is failed over while
// it still runs keeps accepting writes from clients that have not switched
// yet (about 11 seconds with Sentinel's defaults) and discards them when it
// is demoted. Through a vault, a lost update means a version number that a
// caller was told holds one value is later handed out again for another.
// RELIABILITY.md at the repository root has the measured figures.
//
// So a Put or Delete is acknowledged only once the master's replicas have
// it: the write script and a WAIT go to the key's master in one pipeline
// (one round trip; on a Cluster, to the master that owns the key's slot; a
// MOVED reply means nothing was written, and the write is re-sent to the
// new owner up to 3 times). If fewer replicas than required confirm within
// the wait timeout (WithWaitTimeout, 1s by default), the call returns an
// error wrapping ErrNotReplicated, never success: a write to a demoted
// master fails instead of being acknowledged and discarded.
//
// How many replicas a write waits for is WithWait's count, or the wait
// parameter of Open's URL. The default, WaitAuto, is exactly this rule:
// every write also sends ROLE in the same pipeline to learn how many
// replicas are connected to the master it reached; the write waits for the
// most replicas seen connected during the last minute, per master address
// on a Cluster, and for whichever server is master with a single-node or
// Sentinel client. Consequences:
//
//   - A master that never had a replica (a lone redis:// server, a Cluster
//     without replicas) is written without waiting, as before.
//   - A master with two replicas waits for both. Waiting for one of two is
//     not enough: in a forced failover the replica that is not promoted can
//     keep confirming the old master's writes until it is reconfigured, and
//     then discards them (measured).
//   - A master that loses replicas, as a demoted master in a split brain
//     does, fails writes for up to a minute; after that it waits for the
//     replicas still connected. Reads are not affected. With a Sentinel
//     client the count carries over to the new master after a failover:
//     writes fail until it has as many replicas as before (the old master
//     rejoining as a replica), or for up to a minute.
//   - A record whose Put returned ErrNotReplicated is not served by that
//     Backend (its Get returns ErrNotReplicated too) until the replicas
//     confirm it, so the caller does not build on a write that a failover
//     may discard.
//   - The first write a Backend sends to a master it has not seen yet
//     learns its replicas from ROLE and then waits for them in a second
//     round trip. A Backend whose first contact with a master comes after
//     the master lost its replicas (one started during a split brain) sees
//     none and does not wait until it does; give WithWait(N) for an
//     unconditional count.
//
// wait=0 (WithWait(0)) turns waiting off: a write returns as soon as the
// master applied it, and a failover can lose acknowledged writes. The cost
// of waiting (BenchmarkPutWait, a master with two replicas on loopback, on
// a shared 2-core machine, median of 3 runs, ratio to wait=0 in the same
// run): a Put takes 4.2 times as long serially (2.2 to 8.4 across runs)
// and 1.6 times with 8 goroutines; waiting for one replica, 1.6 and 1.3.
// A vault update, which makes two writes, ran at 2,600 to 3,850 per second
// against 4,100 with wait=0. While a failover is in progress writes fail or
// stall instead; see RELIABILITY.md.
//
// WAITAOF (Redis 7.2 and later, which would also wait for the replicas'
// append-only files) is not used: the Redis this package is tested against
// (7.0) lacks it.
//
// Recommended server settings for Sentinel and Cluster deployments:
// appendonly yes on every node; min-replicas-to-write 1 and
// min-replicas-max-lag 10, so that a master cut off from its replicas
// refuses writes from any client, including those with waiting off; and
// replica-priority left equal, so that Sentinel promotes the replica with
// the most data.
//
// Detection. A reused revision must never be served as if it were the
// acknowledged one: each Backend remembers the last update (a Put with
// expectedRev > 0) or Delete it acknowledged per key (up to 65,536 keys),
// and Get and GetMany fail with ErrLostWrite when Redis serves an older
// revision, other content under that revision, or a key this Backend
// deleted. Such a key stays unreadable through this
// Backend until a newer revision is written (by any process) or the
// Backend is reopened. Limits: only this Backend's own acknowledgements
// are known. Another process, or this one after a restart, has no memory of
// them; creates are not remembered (a key whose creation was lost reads
// as not found, and write-once keys such as audit entries would crowd out
// the others); and a lost write
// to a key that no process reads again goes unnoticed. Waiting for
// replicas prevents the loss; detection only keeps one process from
// serving it.
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
// on a crash) and maxmemory-policy noeviction (an evicted index or clock
// breaks the invariants above); on Sentinel or Cluster, see "Replication
// and failover". Requires Redis 5 or later. With ACLs, the user needs PING,
// GET, SET, EVALSHA, EVAL, ZRANGEBYLEX, WAIT, ROLE, HSET, MULTI, EXEC,
// SADD, SMEMBERS, LINDEX and LRANGE, plus
// GETRANGE, HGET, HMGET, TIME, EXISTS, SETRANGE, RENAME, PERSIST, ZADD, DEL,
// ZREM and RPUSH
// (called by the scripts), on the keys {PREFIX:*.
//
// A Put sends its record with a SET to a staging key ({PREFIX:SS}:t:<write
// id>, expiring after a minute) in the same pipeline as its script, which
// renames it into place when the revision matches and deletes it
// otherwise: the value never passes through Lua, so a large value costs
// the server little more than a SET. PutMany (backend.BatchWriter)
// pipelines many Puts, with one WAIT for all of them.
//
// # Reading and appending together (backend.ReadAppender)
//
// GetAppend reads records and appends to a log (backend.Appender) only if
// each record is at an expected revision; agentvault uses it to write an
// audited read's event, predicted from its cache, in the read's own round
// trip. On a single node or through Sentinel it is one round trip. When
// the records are expected to be small (their backend.ReadCond.Size add
// up to at most 4 KiB), it is one EVALSHA that GETs the records, checks their revisions
// and the log's last record, appends, and returns the records. Otherwise
// it is a MULTI holding an EVALSHA, which checks the records' headers
// (GETRANGE, never the values) and the log's last record and appends, and
// the records' GETs, so the values come from plain GETs of the state the
// script saw (a large value through Lua costs more than a GET). Revisions
// are compared as digit strings, exactly.
// The records and the log have different hash tags, so on a Cluster (or a
// Ring) it pipelines the GETs and then Appends, in two round trips, with
// the same result. Records read are checked for lost writes as Get's are;
// such a read's error is its result even when the append was made. It
// stores nothing new: the layout is unchanged.
//
// # Concurrency
//
// A Backend is safe for concurrent use by any number of goroutines,
// processes and machines: the Lua scripts serialize conditional writes on
// the server.
package redisbackend
