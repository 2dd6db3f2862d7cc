package agentvault

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentvault/agentvault/backend"
)

// ErrNoConfig is returned by New when the backend holds secrets but no
// vault configuration: the configuration was lost or moved away. A new one
// would split the vault (the stored secrets could never be read again), so
// New refuses; restore the configuration record instead.
var ErrNoConfig = errors.New("agentvault: the backend holds secrets but no vault configuration")

// refuseOrphaned is called by New before it creates a configuration: it
// fails with ErrNoConfig when the backend already holds secret records.
// When a configuration has appeared meanwhile (another process created the
// vault, and maybe secrets, first), it returns backend.ErrConflict so that
// New reads that one.
func refuseOrphaned(ctx context.Context, b backend.Backend) error {
	keys, err := b.List(ctx, secretPrefix)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	if _, _, err := b.Get(ctx, configKey); err == nil {
		return backend.ErrConflict
	}
	return fmt.Errorf("%w (%d secret records): restore the configuration record %q", ErrNoConfig, len(keys), configKey)
}
