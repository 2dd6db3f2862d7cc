package pgbackend_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/pgbackend"
)

// childEnv marks a re-executed test binary as a worker of
// TestVaultCrossProcessUpdates: it opens the vault in the table named by
// childTable and updates childPath childN times.
const (
	childEnv   = "PGBACKEND_TEST_CHILD"
	childURL   = "PGBACKEND_TEST_URL"
	childTable = "PGBACKEND_TEST_TABLE"
	childN     = "PGBACKEND_TEST_N"
	childPath  = "shared/counter"
)

func childMain() int {
	ctx := context.Background()
	id := os.Getenv(childEnv)
	n, _ := strconv.Atoi(os.Getenv(childN))
	b, err := pgbackend.Open(ctx, os.Getenv(childURL), pgbackend.WithTable(os.Getenv(childTable)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer b.Close()
	v, err := agentvault.New(b, key(), agentvault.WithAudit(false))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer v.Close()
	for i := 0; i < n; i++ {
		val := agentvault.StringValue(fmt.Sprintf("p%s-%d", id, i))
		if _, err := v.UpdateSecret(ctx, childPath, agentvault.UpdateSecretInput{Value: &val}); err != nil {
			fmt.Fprintln(os.Stderr, "child: update:", err)
			return 1
		}
	}
	return 0
}
