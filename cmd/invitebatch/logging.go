package main

import (
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the run's logger. format is auto, console or json; auto
// is console on a terminal and JSON otherwise (cron, CI, files). Sampling
// is off: every per-row line is part of the audit trail.
func newLogger(w io.Writer, format, level string, terminal bool) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, usagef("--log-level: %v", err)
	}
	if format == "auto" {
		format = "json"
		if terminal {
			format = "console"
		}
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		cfg.CallerKey, cfg.StacktraceKey = "", ""
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, usagef("--log-format %q: want auto, console or json", format)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core), nil
}
