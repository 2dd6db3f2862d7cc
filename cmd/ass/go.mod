module github.com/agentvault/agentvault/cmd/ass

go 1.26.0

require (
	github.com/agentvault/agentvault v0.0.0
	github.com/stretchr/testify v1.12.1
	golang.org/x/term v0.48.0
)

require (
	github.com/gobwas/glob v0.2.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/agentvault/agentvault => ../..
