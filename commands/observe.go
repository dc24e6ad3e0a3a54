package commands

import (
	"time"

	"example.com/crm"
)

// Observer is told about every command the Application ran: its name
// (as in crm_commands_total: "update_deal"), its outcome — "ok", the
// error's stable code ("VERSION_MISMATCH", "FORBIDDEN", …) or "error"
// for a failure without one — and how long it took, retries included.
type Observer func(command, outcome string, elapsed time.Duration)

// observe reports a command to the Observer; commands defer it with
// their named error result.
func (a *Application) observe(command string, started time.Time, err *error) {
	if a.observer == nil {
		return
	}
	outcome := "ok"
	if *err != nil {
		if outcome = string(crm.ErrorCode(*err)); outcome == "" {
			outcome = "error"
		}
	}
	a.observer(command, outcome, time.Since(started))
}
