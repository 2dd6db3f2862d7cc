package redisbackend

import "errors"

// Errors of this package, beyond the backend package's sentinels. Both are
// wrapped with the operation and key; test them with errors.Is.
var (
	// ErrNotReplicated is returned by Put and Delete when the master
	// applied the write but fewer replicas than WithWait asks for confirmed
	// it within the wait timeout (for instance because the master was just
	// demoted and lost its replicas). The write may or may not be stored,
	// and may or may not survive a failover: as for any error other than
	// backend.ErrConflict, the caller must not assume either. Get and
	// GetMany return it too for a record this Backend wrote with such a Put
	// while its replicas still have not confirmed it, so that nobody builds
	// on a write a failover may discard (other processes do not know, and
	// serve it).
	ErrNotReplicated = errors.New("redisbackend: write not confirmed by enough replicas")

	// ErrLostWrite is returned by Get and GetMany when Redis serves a key
	// at a revision older than one this Backend acknowledged (an update, a
	// Put with expectedRev > 0, or a Delete that returned nil), or other
	// content under the revision it acknowledged: an acknowledged write was lost, typically in a failover
	// that promoted a replica which never received it. Nothing is served
	// for that key by this Backend until Redis holds a revision newer than
	// the acknowledged one (written by any process) or the Backend is
	// reopened. Only this Backend's own acknowledgements are known: see
	// the package documentation, "Replication and failover".
	ErrLostWrite = errors.New("redisbackend: acknowledged write lost (revision went backwards)")
)
