// Package logging builds the zap loggers every command uses: a console encoder for people
// on stderr, and optionally a JSON file for machines (one object per line).
package logging

import (
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Options chooses the sinks. The zero value logs info and above to stderr.
type Options struct {
	Debug    bool   // log debug messages too
	JSONFile string // also write JSON lines here when set
	Quiet    bool   // no console output (tests)
	// Console replaces stderr as the console sink.
	Console io.Writer
	// ConsoleLevel raises the console's threshold above the default (info, or debug with
	// Debug): zapcore.WarnLevel shows only warnings and errors there. The JSON file is not
	// affected.
	ConsoleLevel zapcore.Level
	// JSON also writes JSON lines (every level) to this writer, e.g. os.Stdout for a service
	// whose logs a collector reads.
	JSON io.Writer
}

// New returns a logger and a function that flushes and closes its sinks.
func New(o Options) (*zap.Logger, func(), error) {
	level := zapcore.InfoLevel
	if o.Debug {
		level = zapcore.DebugLevel
	}
	var cores []zapcore.Core
	if !o.Quiet {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		var sink zapcore.WriteSyncer = zapcore.Lock(os.Stderr)
		if o.Console != nil {
			sink = zapcore.Lock(zapcore.AddSync(o.Console))
		}
		cores = append(cores, zapcore.NewCore(zapcore.NewConsoleEncoder(ec), sink, max(level, o.ConsoleLevel)))
	}
	var file *os.File
	if o.JSONFile != "" {
		f, err := os.OpenFile(o.JSONFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, err
		}
		file = f
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.AddSync(f), zapcore.DebugLevel))
	}
	if o.JSON != nil {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		cores = append(cores, zapcore.NewCore(zapcore.NewJSONEncoder(ec), zapcore.Lock(zapcore.AddSync(o.JSON)), zapcore.DebugLevel))
	}
	log := zap.New(zapcore.NewTee(cores...))
	closeFn := func() {
		_ = log.Sync()
		if file != nil {
			file.Close()
		}
	}
	return log, closeFn, nil
}
