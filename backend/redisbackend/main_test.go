package redisbackend_test

import (
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// TestMain silences go-redis's own log lines ("connection pool: failed to
// dial ..."), which the fault tests provoke by the hundred, unless
// AGENTVAULT_REDIS_LOG=1.
func TestMain(m *testing.M) {
	if os.Getenv("AGENTVAULT_REDIS_LOG") != "1" {
		redis.SetLogger(&logging.VoidLogger{})
	}
	os.Exit(m.Run())
}
