package membackend_test

import (
	"testing"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/backendtest"
	"github.com/agentvault/agentvault/backend/membackend"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return membackend.New() })
}

func TestZeroValue(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return new(membackend.Backend) })
}
