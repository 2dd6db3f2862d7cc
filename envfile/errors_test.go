package envfile_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agentvault/agentvault/envfile"
)

func TestParseErrorMessage(t *testing.T) {
	e := &envfile.ParseError{Line: 12, Key: "DB_PASS", Msg: "unterminated double quote in value of DB_PASS (opened at line 10)", Err: envfile.ErrSyntax}
	assert.Equal(t, "envfile: line 12: unterminated double quote in value of DB_PASS (opened at line 10)", e.Error())
	assert.True(t, errors.Is(e, envfile.ErrSyntax))
	assert.False(t, errors.Is(e, envfile.ErrTooLarge))

	whole := &envfile.ParseError{Msg: "input larger than 5 bytes", Err: envfile.ErrTooLarge}
	assert.Equal(t, "envfile: input larger than 5 bytes", whole.Error())
	assert.True(t, errors.Is(whole, envfile.ErrTooLarge))
}
