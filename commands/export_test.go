package commands

import "context"

// SetBeforeAppend makes every command call f between its decision and its
// append (tests pause a command there to let another commit first).
func SetBeforeAppend(a *Application, f func(ctx context.Context)) { a.beforeAppend = f }
