package agentvault

import "context"

// ContextWithImportPath makes ImportEnv calls with ctx take an earlier
// write path, for benchmarks against it: "one-by-one" (every secret: its
// write-ahead event written alone, one Put, its outcome event written
// alone: the import before issue 14) or "events-singly" (secrets in
// batches of PutMany, their events written one at a time). Tests only.
func ContextWithImportPath(ctx context.Context, path string) context.Context {
	p := map[string]importPath{"one-by-one": importOneByOne, "events-singly": importEventSingly}[path]
	return context.WithValue(ctx, importPathKey{}, p)
}
