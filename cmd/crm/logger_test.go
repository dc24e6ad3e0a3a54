package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"example.com/crm/internal/app"
)

// Durations are logged as Go duration strings in both formats, inside
// groups too (the configuration's timeouts), never as nanoseconds.
func TestLoggerWritesDurationsAsStrings(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := newLogger(app.Config{LogFormat: format, LogLevel: slog.LevelInfo}, &buf)
		log.Info("x", "took", 1500*time.Millisecond, slog.Group("g", slog.Duration("timeout", 2*time.Second)))
		out := buf.String()
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if m["took"] != "1.5s" || m["g"].(map[string]any)["timeout"] != "2s" {
				t.Errorf("json: %s", out)
			}
			continue
		}
		if !strings.Contains(out, "took=1.5s") || !strings.Contains(out, "g.timeout=2s") {
			t.Errorf("text: %s", out)
		}
	}
}
