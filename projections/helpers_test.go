package projections_test

import (
	"log/slog"
	"os"

	"example.com/crm"
)

func crmCode(err error) crm.Code { return crm.ErrorCode(err) }

func testLogger() *slog.Logger {
	if os.Getenv("PROJECTIONS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
