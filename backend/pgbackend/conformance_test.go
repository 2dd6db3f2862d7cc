package pgbackend_test

import (
	"testing"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
)

func TestConformance(t *testing.T) {
	pool := newPool(t)
	backendtest.Run(t, func(t *testing.T) backend.Backend { return newBackend(t, pool) })
}
