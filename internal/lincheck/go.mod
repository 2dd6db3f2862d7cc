module github.com/agentvault/agentvault/internal/lincheck

go 1.26.0

require (
	github.com/agentvault/agentvault v0.0.0
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/hiddeco/sshsig v0.2.0 // indirect
	golang.org/x/crypto v0.58.0 // indirect
)

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/agentvault/agentvault => ../..
